/**
 * One backend and everything the balancer knows about it. The pool owns these objects; they
 * outlive strategy switches, so in-flight counts, latency and failure history carry over.
 */
import { DecayingCounter, PeakEwma } from './decay.js';
import { ReportedLoad } from '../orca/reported-load.js';
import type { TlsConnectOptions } from '../proxy/tls/socket.js';

/** How a request to a backend ended, reported once per attempt through the balancer's done path. */
export type OutcomeKind =
  | 'ok' // a response (any status below 500, or 5xx when not counted as failure)
  | 'http_5xx' // a 5xx response
  | 'connect' // could not connect (refused, unreachable, connect timeout)
  | 'reset' // connection closed or reset before the response completed
  | 'timeout' // no response headers in time, or the body stalled
  | 'cancelled'; // abandoned by us: hedge loser, client went away, shutdown

export interface Outcome {
  kind: OutcomeKind;
  /** Response status, 0 when none arrived. */
  status: number;
  /** Time from request sent to response headers (or to the failure), in ms. */
  latencyMs: number;
}

/** Something in flight on a backend: kept in an intrusive list so the oldest start is O(1). */
export interface InflightEntry {
  startedAt: number;
  inflightPrev: InflightEntry | null;
  inflightNext: InflightEntry | null;
}

/** Why a backend is or is not taking traffic, as the API and dashboard show it. */
export type BackendStatus = 'up' | 'down' | 'ejected' | 'disabled' | 'removed';

export interface BackendSpec {
  host: string;
  port: number;
  weight: number;
  name?: string | undefined;
  /** PROXY protocol header version to send first on each connection (config `sendProxy`). */
  sendProxy?: 'v1' | 'v2' | undefined;
  /** TLS to this backend (servers[].tls resolved by src/proxy/tls/backend.ts); absent or null: plain TCP. */
  tlsConnect?: TlsConnectOptions | null | undefined;
}

/** Time constants of the pool's estimators; strategies read the results. */
export interface BackendTuning {
  latencyTauMs: number;
  failureHalfLifeMs: number;
}

/**
 * Where a backend's in-flight count lives. Alone, a cell of its own; with several workers, a
 * slot of the SharedArrayBuffer all of them see (src/workers/shared-load.ts), so strategies
 * that compare loads count every worker's requests. `mine` is this worker's own row: when a
 * worker dies, the main thread subtracts what it still held from `total`.
 */
export interface InflightCell {
  total: Int32Array;
  mine: Int32Array | null;
  slot: number;
}

/** A cell nobody else sees: the in-flight count of a balancer running on one event loop. */
export function localCell(): InflightCell {
  return { total: new Int32Array(1), mine: null, slot: 0 };
}

export class Backend {
  /** Unique in its pool, never reused; strategies may index arrays by it. */
  readonly id: number;
  readonly host: string;
  readonly port: number;
  /** `host:port`, the identity used by the API (`server_request_counts` keys, toggle). */
  readonly address: string;
  /** Label for logs, metrics and the tracing header (config `name`, default the address). */
  readonly name: string;
  weight: number;
  /** PROXY protocol header sent first on each connection to it (proxy and health checks), or null. */
  sendProxy: 'v1' | 'v2' | null;
  /** TLS for connections and health checks to it, or null (replaced on reload: a CA is re-read). */
  tls: TlsConnectOptions | null;

  /** Admin switch (API toggle); a disabled backend drains: no new requests, in-flight ones finish. */
  enabled = true;
  /** Verdict of the active health checks. */
  healthy: boolean;
  /** Passive ejection (outlier detection): no traffic until this time. 0 when not ejected. */
  ejectedUntil = 0;
  /** Ejections so far, for the growing backoff. */
  ejections = 0;
  removed = false;
  /** True for backends in the config at start-up: their first readiness is not a "join". */
  readonly initial: boolean;
  /** When it last became ready; -Infinity for a start-up backend (no warm-up). */
  readySince = -Infinity;
  private everReady = false;

  private readonly inflightTotal: Int32Array;
  private readonly inflightMine: Int32Array | null;
  private readonly inflightSlot: number;
  private inflightHead: InflightEntry | null = null;
  private inflightTail: InflightEntry | null = null;

  /** Peak-EWMA of time to response headers, successful attempts only. */
  readonly latency: PeakEwma;
  /** Decaying counts of failed and successful attempts (proxy outcomes and health checks). */
  readonly failures: DecayingCounter;
  readonly successes: DecayingCounter;
  /** The backend's own word on its load (ORCA `endpoint-load-metrics`), latest report. */
  readonly reported = new ReportedLoad();
  consecutiveFailures = 0;
  totalRequests = 0;
  totalFailures = 0;

  constructor(id: number, spec: BackendSpec, tuning: BackendTuning, initial: boolean, healthy: boolean, cell: InflightCell = localCell()) {
    this.id = id;
    this.inflightTotal = cell.total;
    this.inflightMine = cell.mine;
    this.inflightSlot = cell.slot;
    this.host = spec.host;
    this.port = spec.port;
    this.address = `${spec.host}:${spec.port}`;
    this.name = spec.name ?? this.address;
    this.weight = spec.weight;
    this.sendProxy = spec.sendProxy ?? null;
    this.tls = spec.tlsConnect ?? null;
    this.initial = initial;
    this.healthy = healthy;
    this.latency = new PeakEwma(tuning.latencyTauMs);
    this.failures = new DecayingCounter(tuning.failureHalfLifeMs);
    this.successes = new DecayingCounter(tuning.failureHalfLifeMs);
  }

  /** Requests in flight to it, from every worker (hedges and retries included). */
  get inflight(): number {
    return Atomics.load(this.inflightTotal, this.inflightSlot);
  }

  /** Takes new requests: enabled, healthy, not ejected, still in the pool. */
  get ready(): boolean {
    return this.enabled && this.healthy && this.ejectedUntil === 0 && !this.removed;
  }

  get status(): BackendStatus {
    if (this.removed) return 'removed';
    if (!this.enabled) return 'disabled';
    if (this.ejectedUntil !== 0) return 'ejected';
    return this.healthy ? 'up' : 'down';
  }

  /** Start time of the oldest request still in flight, or undefined when idle. */
  oldestInflightStart(): number | undefined {
    return this.inflightHead === null ? undefined : this.inflightHead.startedAt;
  }

  /** Called by the pool when readiness flips on; records the start of a warm-up when it is a join. */
  markBecameReady(now: number): void {
    this.readySince = !this.everReady && this.initial ? -Infinity : now;
    this.everReady = true;
  }

  /**
   * Counts one more request in flight if that keeps it at or under `max`, in one atomic step:
   * a check of `inflight` followed by a later add would let two workers that both saw one
   * free slot take it twice (compare-and-swap, as a semaphore does). True when reserved; the
   * attempt then begins with `reserved` set, so it is not counted again.
   */
  tryReserve(max: number): boolean {
    const total = this.inflightTotal;
    const slot = this.inflightSlot;
    let seen = Atomics.load(total, slot);
    while (seen < max) {
      const was = Atomics.compareExchange(total, slot, seen, seen + 1);
      if (was === seen) {
        if (this.inflightMine !== null) Atomics.add(this.inflightMine, slot, 1);
        return true;
      }
      seen = was;
    }
    return false;
  }

  /**
   * @internal pool bookkeeping: entries arrive in start order, so appending keeps the list
   * sorted. `reserved`: `tryReserve` already counted it.
   */
  linkInflight(entry: InflightEntry, reserved: boolean): void {
    entry.inflightPrev = this.inflightTail;
    entry.inflightNext = null;
    if (this.inflightTail === null) this.inflightHead = entry;
    else this.inflightTail.inflightNext = entry;
    this.inflightTail = entry;
    if (reserved) return;
    Atomics.add(this.inflightTotal, this.inflightSlot, 1);
    if (this.inflightMine !== null) Atomics.add(this.inflightMine, this.inflightSlot, 1);
  }

  /** @internal */
  unlinkInflight(entry: InflightEntry): void {
    const { inflightPrev: prev, inflightNext: next } = entry;
    if (prev === null) this.inflightHead = next;
    else prev.inflightNext = next;
    if (next === null) this.inflightTail = prev;
    else next.inflightPrev = prev;
    entry.inflightPrev = null;
    entry.inflightNext = null;
    Atomics.sub(this.inflightTotal, this.inflightSlot, 1);
    if (this.inflightMine !== null) Atomics.sub(this.inflightMine, this.inflightSlot, 1);
  }
}
