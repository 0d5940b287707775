/**
 * From SRV records to Ballast servers: which records count, what weight each gets, what the
 * server is called, and the version that identifies the resulting view. Pure functions; the
 * DNS reading and refreshing is dns-srv.ts.
 *
 * Conventions (RFC 2782 where it has one):
 * - A target of "." means "the service is decidedly not available at this domain": such records
 *   are dropped.
 * - Only the lowest priority present is used. RFC 2782 makes higher priorities fallbacks that a
 *   client tries only when every lower-priority target is unreachable; Ballast's own health
 *   checks and outlier detection already handle unreachable backends within the set, and
 *   failing over a whole priority set is not done here: publish the fallbacks at the same
 *   priority with a small weight instead.
 * - Weight: SRV weights range 0..65535, Ballast's 1..1000 (serverSchema). A weight-0 record
 *   becomes 1 because RFC 2782 gives weight 0 "a very small chance of being selected" next to
 *   weighted records, not none, and Ballast's weights must be positive, so 1 is the smallest
 *   share it can have; weights above 1000 become 1000 (ratios between such records are lost).
 * - Host: one address of the target (the caller picks it, see pickAddress), port: the record's.
 * - Name: "target:port", the target without its trailing dot, so the API and metrics show the
 *   DNS name rather than an address that may change.
 * - Two records landing on the same host:port keep the first in name order (the pool identifies
 *   a backend by host:port); the other is reported as skipped.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { serverSchema, type ServerConfig } from '../config/schema.js';

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** The target host name, as decoded (no trailing dot; "." for "not available"). */
  target: string;
  /** Seconds. */
  ttl: number;
}

/** Ballast's weight bounds (serverSchema: positive, at most 1000). */
const MIN_WEIGHT = 1;
const MAX_WEIGHT = 1000;

/** The records Ballast uses: those of the lowest priority present, "." targets dropped. */
export function lowestPriority(records: readonly SrvRecord[]): SrvRecord[] {
  const usable = records.filter((r) => r.target !== '.' && r.target !== '');
  if (usable.length === 0) return [];
  const lowest = Math.min(...usable.map((r) => r.priority));
  return usable.filter((r) => r.priority === lowest);
}

/** A SRV weight as a Ballast weight: 0 -> 1, above 1000 -> 1000 (see the module comment). */
export function srvWeight(weight: number): number {
  return Math.min(MAX_WEIGHT, Math.max(MIN_WEIGHT, weight));
}

/**
 * The address a target's server connects to, from all of its A and AAAA addresses: the lowest
 * IPv4 in sorted order, else the lowest IPv6. Sorting makes every instance (and every read)
 * pick the same one whatever order the resolver rotates them in, so the view does not churn.
 */
export function pickAddress(addresses: readonly string[]): string | null {
  const v4 = addresses.filter((a) => net.isIPv4(a)).sort();
  if (v4.length > 0) return v4[0]!;
  const v6 = addresses.filter((a) => net.isIPv6(a)).sort();
  return v6[0] ?? null;
}

export interface BuiltServers {
  /** Validated servers, sorted by name then host. */
  servers: ServerConfig[];
  /** Why some records were left out, one line each. */
  skipped: string[];
}

/**
 * Builds the servers for `records` (already the lowest priority set) given each target's address
 * (keyed by normalized target name; a missing entry means the target has none).
 */
export function buildServers(records: readonly SrvRecord[], addressOf: ReadonlyMap<string, string>): BuiltServers {
  const skipped: string[] = [];
  const candidates: ServerConfig[] = [];
  for (const r of records) {
    const name = `${r.target}:${r.port}`;
    const host = addressOf.get(r.target.toLowerCase());
    if (host === undefined) {
      skipped.push(`${name}: the target has no A or AAAA record`);
      continue;
    }
    const parsed = serverSchema.safeParse({ host, port: r.port, weight: srvWeight(r.weight), name });
    if (!parsed.success) {
      skipped.push(`${name}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      continue;
    }
    candidates.push(parsed.data);
  }
  candidates.sort(byNameThenHost);
  const seen = new Set<string>();
  const servers: ServerConfig[] = [];
  for (const s of candidates) {
    const id = `${s.host}:${s.port}`;
    if (seen.has(id)) {
      skipped.push(`${s.name}: ${id} is already in the view`);
      continue;
    }
    seen.add(id);
    servers.push(s);
  }
  return { servers, skipped };
}

function byNameThenHost(a: ServerConfig, b: ServerConfig): number {
  return compare(a.name ?? '', b.name ?? '') || compare(a.host, b.host) || a.port - b.port;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The view's version: the first 16 hex digits of SHA-256 over the sorted servers. Only the
 * records decide it (no time, no instance), so instances that read the same records report the
 * same version, and an unchanged re-read is recognised and not applied again.
 */
export function viewVersion(servers: readonly ServerConfig[]): string {
  const canonical = servers.map((s) => [s.name ?? '', s.host, s.port, s.weight]).sort((a, b) => compare(JSON.stringify(a), JSON.stringify(b)));
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 16);
}
