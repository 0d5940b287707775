/**
 * The DNS-rebinding guard: which `Host` headers the admin server answers when no token is set.
 *
 * A rebinding attack serves a page from a name the attacker controls, then points that name at
 * 127.0.0.1 (or at a LAN address), so the victim's browser talks to the admin port as a "same
 * origin" page: no CORS check stops it, but the Host header still carries the attacker's name.
 * An IP literal cannot be rebound (there is no DNS lookup to change), and `localhost` is the
 * one name that always means this machine, so those two are the only Hosts accepted. Anything
 * else is a name that DNS could point here: `127.0.0.1.evil.example` included, which the old
 * prefix check let through.
 */
import { isIP } from 'node:net';

/** The host part of a Host header (`[::1]:8090` -> `[::1]`); '' when it is malformed or missing. */
export function hostnameOf(hostHeader: string | undefined): string {
  if (hostHeader === undefined) return '';
  const m = /^(\[[^\]]*\]|[^:]*)(:\d+)?$/.exec(hostHeader.trim());
  return m === null ? '' : m[1]!;
}

/**
 * True when the Host header names an IPv4 dotted quad, a bracketed IPv6 literal or exactly
 * `localhost` (any case, any port): a name no DNS answer can hand to another site.
 */
export function isRebindingSafeHost(hostHeader: string | undefined): boolean {
  const name = hostnameOf(hostHeader).toLowerCase();
  if (name === 'localhost') return true;
  if (name.startsWith('[') && name.endsWith(']')) return isIP(name.slice(1, -1)) === 6;
  return isIP(name) === 4;
}
