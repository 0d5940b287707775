/**
 * Whether a listen address keeps a server on this machine. The config check that refuses an
 * admin server beyond loopback without a token, and the warning when that is allowed anyway,
 * both ask it, so the two can never disagree.
 *
 * Only IP literals are judged by value (node:net parses them, so `127.0.0.2` and `::1` are
 * loopback while `127.foo`, a DNS name, is not) plus the name `localhost`, which resolves to
 * loopback by convention (RFC 6761). Any other name could resolve anywhere.
 */
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for 127.0.0.0/8, ::1 (any spelling, IPv4-mapped too) and `localhost`; brackets allowed. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  const family = isIP(h);
  // BlockList also matches IPv4-mapped IPv6 (::ffff:127.0.0.1) against the IPv4 subnet.
  return family !== 0 && LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6');
}
