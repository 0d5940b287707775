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

  inflight = 0;
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

  constructor(id: number, spec: BackendSpec, tuning: BackendTuning, initial: boolean, healthy: boolean) {
    this.id = id;
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

  /** @internal pool bookkeeping: entries arrive in start order, so appending keeps the list sorted. */
  linkInflight(entry: InflightEntry): void {
    entry.inflightPrev = this.inflightTail;
    entry.inflightNext = null;
    if (this.inflightTail === null) this.inflightHead = entry;
    else this.inflightTail.inflightNext = entry;
    this.inflightTail = entry;
    this.inflight++;
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
    this.inflight--;
  }
}
