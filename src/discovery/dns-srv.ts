/**
 * Service discovery from DNS SRV records (RFC 2782): the servers are the targets of the SRV
 * record set `name`, read from one DNS server and re-read when the records' TTL runs out.
 *
 * Reading: a SRV query to `resolver` (default: the system's first, `dns.getServers()[0]`) over
 * UDP, over TCP when truncated (dns-client.ts). Each target's address comes from the answer's
 * additional section when the server put it there, else from an A query (then AAAA when there
 * is no A) to the same server: the balancer must not depend on the system resolver knowing
 * names that only the configured one serves. How records become servers (lowest priority only,
 * weights clamped to 1..1000, names "target:port") is srv-view.ts.
 *
 * Refreshing: the next read comes min(smallest TTL among the records used, intervalMs) after
 * one that worked, but never sooner than 1 s (a TTL of 0 must not turn into a busy loop). A
 * read that gave no view is retried after 1 s, 2 s, 4 s... up to intervalMs, so a resolver
 * coming back is noticed quickly without hammering one that stays down.
 *
 * Views: each view's version is a hash of its sorted servers (srv-view.ts), the same on every
 * instance that read the same records; a read equal to the view in force is not emitted again.
 * A view is never empty: NXDOMAIN, no SRV records, only "." targets, or no target with an
 * address keep the last good view, with the reason in status().lastError and `connected` still
 * true (the server answered). A server that does not answer (2 s per query) or refuses the
 * port sets `connected` false and keeps the view too; the retries bring it back by themselves.
 *
 * Bounds: a view has at most as many servers as SRV records fit in one DNS message (64 KiB);
 * targets missing from the additional section are looked up at most 8 at a time.
 * Timers are unref'd (they never keep the process alive), except start()'s wait for the first
 * view, which is bounded by firstViewMs.
 *
 * Public API:
 *   new DnsSrvDiscovery(settings: { name, resolver?, intervalMs }, log)
 *     throws when no resolver is configured and the system has none
 *   start(onView, firstViewMs): Promise<void>  (the Discovery contract, types.ts); a view that
 *     onView throws on is reported in lastError and offered again on the next read
 *   status(): DiscoveryStatus   stop(): Promise<void>  clears the timer, closes every socket
 *   refreshDelayMs(ttlSeconds, intervalMs), retryDelayMs(failures, intervalMs)  the schedule
 */
import dns from 'node:dns';
import type { Config } from '../config/schema.js';
import type { Logger } from '../util/log.js';
import type { DiscoveredView, Discovery, DiscoveryStatus } from './types.js';
import { DnsClient, DnsUnreachableError, normalizeName, parseServerAddress, type DnsAnswer } from './dns-client.js';
import { buildServers, lowestPriority, pickAddress, viewVersion, type SrvRecord } from './srv-view.js';

export type DnsSrvSettings = NonNullable<NonNullable<Config['discovery']>['dnsSrv']>;

/** Per DNS query (each of UDP and TCP): longer than any healthy resolver takes, short enough to notice one gone. */
const QUERY_TIMEOUT_MS = 2_000;

/** Never read more often than this, whatever the TTL (0 included). */
const MIN_REFRESH_MS = 1_000;

/** Target lookups in flight at once when the additional section lacks addresses. */
const LOOKUP_CONCURRENCY = 8;

/** Delay after a read that produced a view: the TTL, capped by intervalMs, at least 1 s. */
export function refreshDelayMs(ttlSeconds: number, intervalMs: number): number {
  return Math.max(MIN_REFRESH_MS, Math.min(ttlSeconds * 1_000, intervalMs));
}

/** Delay after the `failures`-th read in a row without a view: 1 s, 2 s, 4 s... at most intervalMs. */
export function retryDelayMs(failures: number, intervalMs: number): number {
  return Math.max(MIN_REFRESH_MS, Math.min(MIN_REFRESH_MS * 2 ** Math.min(failures - 1, 30), intervalMs));
}

/** What one read found. */
type ReadResult =
  | { kind: 'view'; servers: DiscoveredView['servers']; version: string; ttl: number; skipped: string[] }
  /** The server answered, but there is nothing to build a view from. */
  | { kind: 'empty'; reason: string };

export class DnsSrvDiscovery implements Discovery {
  private readonly client: DnsClient;
  private readonly resolverLabel: string;
  private onView: ((view: DiscoveredView) => void) | null = null;
  private firstView: { resolve(): void; reject(err: Error): void; timer: NodeJS.Timeout } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private failures = 0;
  private connected = false;
  private version: string | null = null;
  private servers = 0;
  private updatedAt: number | null = null;
  private lastError: string | null = null;

  constructor(
    private readonly settings: DnsSrvSettings,
    private readonly log: Logger,
  ) {
    const resolver = settings.resolver ?? dns.getServers()[0];
    if (resolver === undefined) throw new Error('discovery.dnsSrv: the system has no DNS resolver configured; set discovery.dnsSrv.resolver (HOST:PORT)');
    const address = parseServerAddress(resolver);
    this.resolverLabel = resolver;
    this.client = new DnsClient(address, QUERY_TIMEOUT_MS);
  }

  start(onView: (view: DiscoveredView) => void, firstViewMs: number): Promise<void> {
    if (this.onView !== null) return Promise.reject(new Error('DnsSrvDiscovery.start() called twice'));
    if (this.stopped) return Promise.reject(new Error('DnsSrvDiscovery was stopped'));
    this.onView = onView;
    const first = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.firstView = null;
        reject(new Error(`no servers from SRV ${this.settings.name} at ${this.resolverLabel} within ${firstViewMs} ms: ${this.lastError ?? 'no answer yet'}`));
      }, firstViewMs);
      this.firstView = { resolve, reject, timer };
    });
    void this.cycle();
    return first;
  }

  status(): DiscoveryStatus {
    return {
      source: 'dns-srv',
      connected: this.connected,
      version: this.version,
      servers: this.servers,
      updatedAt: this.updatedAt,
      lastError: this.lastError,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.client.close();
    if (this.firstView !== null) {
      clearTimeout(this.firstView.timer);
      this.firstView.reject(new Error(`discovery stopped before the first view of SRV ${this.settings.name}`));
      this.firstView = null;
    }
  }

  /** One read, then the next one scheduled. */
  private async cycle(): Promise<void> {
    this.timer = null;
    let delay: number;
    try {
      const result = await this.read();
      if (this.stopped) return;
      this.connected = true;
      if (result.kind === 'view' && this.apply(result)) {
        this.failures = 0;
        delay = refreshDelayMs(result.ttl, this.settings.intervalMs);
      } else {
        if (result.kind === 'empty') this.setError(`${result.reason}; keeping the last view`);
        this.failures++;
        delay = retryDelayMs(this.failures, this.settings.intervalMs);
      }
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof DnsUnreachableError) {
        this.connected = false;
        this.setError(`${err.message}; keeping the last view`);
      } else {
        // Not a DNS failure: a bug here. Say so loudly, keep the view and keep trying.
        this.log.error({ err }, 'dns-srv discovery: read failed');
        this.setError(`read failed: ${(err as Error).message}`);
      }
      this.failures++;
      delay = retryDelayMs(this.failures, this.settings.intervalMs);
    }
    this.timer = setTimeout(() => void this.cycle(), delay);
    this.timer.unref();
  }

  /** Emits the view unless it is the one in force; false when onView refused it. */
  private apply(result: Extract<ReadResult, { kind: 'view' }>): boolean {
    const note = result.skipped.length > 0 ? `skipped ${result.skipped.join('; ')}` : null;
    if (result.version === this.version) {
      this.setError(note);
      return true;
    }
    try {
      this.onView!({ servers: result.servers, version: result.version });
    } catch (err) {
      this.setError(`view ${result.version} refused: ${(err as Error).message}`);
      return false;
    }
    this.version = result.version;
    this.servers = result.servers.length;
    this.updatedAt = Date.now();
    this.setError(note);
    this.log.info({ name: this.settings.name, version: result.version, servers: result.servers.length }, 'dns-srv discovery: new view');
    if (this.firstView !== null) {
      clearTimeout(this.firstView.timer);
      this.firstView.resolve();
      this.firstView = null;
    }
    return true;
  }

  /** Sets lastError; logs only a change, so a resolver down for an hour is one line, not hundreds. */
  private setError(message: string | null): void {
    if (message !== null && message !== this.lastError) this.log.warn({ name: this.settings.name, resolver: this.resolverLabel }, `dns-srv discovery: ${message}`);
    this.lastError = message;
  }

  private async read(): Promise<ReadResult> {
    const { name } = this.settings;
    const answer = await this.client.query(name, 'SRV');
    if (answer.rcode !== 'NOERROR') return { kind: 'empty', reason: `SRV ${name}: ${answer.rcode}` };
    const all: SrvRecord[] = [];
    for (const a of answer.answers ?? []) {
      // The answer section belongs to our question, so SRV records reached through a CNAME count too.
      if (a.type === 'SRV') all.push({ ...a.data, priority: a.data.priority ?? 0, weight: a.data.weight ?? 0, ttl: a.ttl ?? 0 });
    }
    if (all.length === 0) return { kind: 'empty', reason: `SRV ${name}: no records` };
    const records = lowestPriority(all);
    if (records.length === 0) return { kind: 'empty', reason: `SRV ${name}: every target is "." (service not available)` };

    const addresses = additionalAddresses(answer);
    const targets = [...new Set(records.map((r) => r.target.toLowerCase()))];
    const missing = targets.filter((t) => !addresses.has(t));
    try {
      await eachLimited(missing, LOOKUP_CONCURRENCY, async (t) => {
        const found = await this.lookup(t);
        if (found !== null) addresses.set(t, found);
      });
    } catch (err) {
      if (err instanceof UnusableAnswer) return { kind: 'empty', reason: err.message };
      throw err;
    }

    const addressOf = new Map<string, string>();
    let ttl = Math.min(...records.map((r) => r.ttl));
    for (const t of targets) {
      const found = addresses.get(t);
      const picked = found === undefined ? null : pickAddress(found.addresses);
      if (found === undefined || picked === null) continue;
      addressOf.set(t, picked);
      ttl = Math.min(ttl, found.ttl);
    }
    const { servers, skipped } = buildServers(records, addressOf);
    if (servers.length === 0) return { kind: 'empty', reason: `SRV ${name}: no usable target (${skipped.join('; ')})` };
    return { kind: 'view', servers, version: viewVersion(servers), ttl, skipped };
  }

  /** A target's addresses from A, or AAAA when it has no A; null when it has neither. */
  private async lookup(target: string): Promise<TargetAddresses | null> {
    for (const type of ['A', 'AAAA'] as const) {
      const answer = await this.client.query(target, type);
      // NXDOMAIN or no data: the target has no such address. Anything else (SERVFAIL, REFUSED)
      // says nothing about it, so the read fails rather than dropping a backend that may be fine.
      if (answer.rcode !== 'NOERROR' && answer.rcode !== 'NXDOMAIN') throw new UnusableAnswer(`${type} ${target}: ${answer.rcode}`);
      const found = addressRecords(answer.answers ?? [], type);
      if (found.addresses.length > 0) return found;
    }
    return null;
  }
}

/** The server answered, but with a code that says nothing about the records (SERVFAIL, REFUSED). */
class UnusableAnswer extends Error {}

interface TargetAddresses {
  addresses: string[];
  /** Smallest TTL among them, in seconds. */
  ttl: number;
}

/** A and AAAA records of the additional section, by owner name (lowercased, no trailing dot). */
function additionalAddresses(answer: DnsAnswer): Map<string, TargetAddresses> {
  const byName = new Map<string, TargetAddresses>();
  for (const a of answer.additionals ?? []) {
    if (a.type !== 'A' && a.type !== 'AAAA') continue;
    const key = normalizeName(a.name);
    const entry = byName.get(key) ?? { addresses: [], ttl: Infinity };
    entry.addresses.push(a.data);
    entry.ttl = Math.min(entry.ttl, a.ttl ?? 0);
    byName.set(key, entry);
  }
  return byName;
}

/**
 * Addresses of one type in an A/AAAA answer. Every one counts, whatever its owner: the answer
 * section answers our question, and when the target is an alias the addresses are owned by
 * the CNAME's target (RFC 2782 forbids alias targets, but they are common).
 */
function addressRecords(answers: NonNullable<DnsAnswer['answers']>, type: 'A' | 'AAAA'): TargetAddresses {
  const found: TargetAddresses = { addresses: [], ttl: Infinity };
  for (const a of answers) {
    if (a.type !== type) continue;
    found.addresses.push(a.data);
    found.ttl = Math.min(found.ttl, a.ttl ?? 0);
  }
  return found;
}

/** Runs `fn` over `items`, at most `limit` at once; rejects on the first failure (no new ones start). */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
