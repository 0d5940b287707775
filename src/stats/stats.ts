/**
 * The balancer's statistics: what the proxy reports (StatsRecorder), kept so the admin API,
 * /metrics and the dashboard can read it.
 *
 * The recording side is on the proxy's hot path, so it only bumps counters, records one value
 * into a per-backend HDR histogram of the current second, and writes one ring-buffer slot.
 * Everything derived (percentiles, rates, merged histograms) is computed when someone reads
 * (undici's "stats computed lazily"). Once per second, on the first call that sees a new
 * second, each backend's interval histogram yields that second's p50/p99 for the charts and
 * is folded into the cumulative one.
 *
 * Rates are real rolling windows over per-second buckets (requests in the last 10 s or 60 s),
 * not total/uptime, which the original project reported and which never reflects a change.
 * A request succeeds when its status is below 500: a 502/503/504 the balancer answers itself
 * (no backend, backend refused, timeout) is a failure, as is a request with no status at all.
 *
 * Time: a `Clock` drives the windows, so tests run on a ManualClock; wall-clock time
 * (Date.now) is read only for what the API shows as timestamps.
 */
import type { Histogram } from 'hdr-histogram-js';
import type { Backend } from '../pool/backend.js';
import type { Clock } from '../util/clock.js';
import { latencyHistogram, percentileMs, PROM_BUCKETS_MS, promBucketIndex, toMicros } from './latency.js';
import { RecentRequests, type RecentRequest } from './recent.js';
import type { RejectReason, StatsRecorder } from './recorder.js';
import { SecondSeries, type SeriesPoints } from './series.js';

export type { RecentRequest } from './recent.js';
export type { SeriesPoints } from './series.js';

export const REJECT_REASONS: readonly RejectReason[] = ['bad_request', 'header_too_large', 'timeout', 'too_many_connections', 'queue_full', 'queue_timeout', 'tls_handshake', 'proxy_protocol'];

/** Status classes as counted: index 0 is "no status" (connection failed, TCP), 1-5 are 1xx-5xx. */
export const STATUS_CLASSES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

export interface StatsOptions {
  clock: Clock;
  /** Entries kept for `recent_requests` (default 100). */
  recentSize?: number;
  /** Seconds of per-second history kept for the charts (default 300, at least 60). */
  historySeconds?: number;
  /** Wall clock in ms (default Date.now), for timestamps only. */
  wallClock?: () => number;
}

export interface LatencySummary {
  avg_ms: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
}

export interface Totals {
  total: number;
  successful: number;
  failed: number;
  /** Sum of durations in ms (for the average and Prometheus' _sum). */
  durationSumMs: number;
  statusClasses: Record<StatusClass, number>;
}

export interface BackendFigures extends Totals {
  latency: LatencySummary;
  /** Rolling rate over the last 10 seconds. */
  requestsPerSecond: number;
  retries: number;
  failovers: number;
  /** TCP mode: bytes from client to backend and back. */
  bytesIn: number;
  bytesOut: number;
}

/** Counts per Prometheus bucket (not cumulative; the last one is +Inf), with sum and count. */
export interface BucketCounts {
  counts: readonly number[];
  sumMs: number;
  count: number;
}

/** Everything kept per backend (and once for requests no backend served). */
class Entry {
  requests = 0;
  successes = 0;
  failures = 0;
  durationSumMs = 0;
  readonly statusClasses = new Float64Array(6);
  readonly buckets = new Float64Array(PROM_BUCKETS_MS.length + 1);
  /** Latencies of the current second; folded into `cumulative` when the second ends. */
  readonly interval: Histogram = latencyHistogram(false);
  readonly cumulative: Histogram = latencyHistogram(true);
  readonly series: SecondSeries;
  retries = 0;
  failovers = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Last second with a request, for pruning removed backends. */
  lastSec = 0;

  constructor(
    readonly backend: Backend | undefined,
    capacity: number,
  ) {
    this.series = new SecondSeries(capacity);
  }
}

const RATE_WINDOW_S = 10;

export class Stats implements StatsRecorder {
  private readonly clock: Clock;
  private readonly wall: () => number;
  /** Slots in the per-second ring: the history plus the second being filled. */
  private readonly capacity: number;
  /** Clock and wall time at construction, to turn clock seconds into wall timestamps. */
  private readonly clockAnchorMs: number;
  private readonly wallAnchorMs: number;
  private readonly startMs: number;
  private readonly startSec: number;
  /** The clock second being filled, its ring slot, and when the next one starts. */
  private sec: number;
  private slot = 0;
  private nextRollAt: number;

  /** Per backend, indexed by `Backend.id` (unique, never reused). */
  private readonly byId: (Entry | undefined)[] = [];
  private readonly entries: Entry[] = [];
  /** Requests no backend served (no backend ready, rejected after parsing...). */
  private readonly none: Entry;

  private total = 0;
  private successful = 0;
  private failed = 0;
  private durationSumMs = 0;
  private readonly statusClasses = new Float64Array(6);
  private readonly globalSeries: SecondSeries;
  private readonly globalCumulative: Histogram = latencyHistogram(true);
  /** Scratch histograms for reads: merged per second and on demand. */
  private readonly secondScratch: Histogram = latencyHistogram(false);
  private readonly readScratch: Histogram = latencyHistogram(true);

  private retriesTotal = 0;
  private failoversTotal = 0;
  private hedgesSentTotal = 0;
  private hedgesWonTotal = 0;
  private readonly rejectedCounts: Record<RejectReason, number> = {
    bad_request: 0,
    header_too_large: 0,
    timeout: 0,
    too_many_connections: 0,
    queue_full: 0,
    queue_timeout: 0,
    tls_handshake: 0,
    proxy_protocol: 0,
  };
  private connectionsTotal = 0;
  private tunnelsTotal = 0;

  readonly recent: RecentRequests;

  constructor(options: StatsOptions) {
    this.clock = options.clock;
    this.wall = options.wallClock ?? Date.now;
    this.capacity = Math.max(60, Math.floor(options.historySeconds ?? 300)) + 1;
    this.recent = new RecentRequests(options.recentSize ?? 100);
    this.clockAnchorMs = this.clock.now();
    this.wallAnchorMs = this.wall();
    this.startMs = this.clockAnchorMs;
    this.sec = Math.floor(this.startMs / 1000);
    this.startSec = this.sec;
    this.nextRollAt = (this.sec + 1) * 1000;
    this.none = new Entry(undefined, this.capacity);
    this.globalSeries = new SecondSeries(this.capacity);
  }

  // ---- recording (hot path) ----

  requestFinished(backend: Backend | undefined, status: number, durationMs: number, clientAddress: string): void {
    this.record(backend, status > 0 && status < 500, status, durationMs, clientAddress);
  }

  connectionFinished(backend: Backend | undefined, ok: boolean, durationMs: number, bytesIn: number, bytesOut: number): void {
    const e = this.record(backend, ok, 0, durationMs, '');
    e.bytesIn += bytesIn;
    e.bytesOut += bytesOut;
    this.connectionsTotal++;
  }

  tunnelFinished(backend: Backend, bytesIn: number, bytesOut: number): void {
    const e = this.entry(backend);
    e.bytesIn += bytesIn;
    e.bytesOut += bytesOut;
    this.tunnelsTotal++;
  }

  retried(backend: Backend | undefined, kind: 'failover' | 'retry'): void {
    const e = backend === undefined ? this.none : this.entry(backend);
    if (kind === 'retry') {
      e.retries++;
      this.retriesTotal++;
    } else {
      e.failovers++;
      this.failoversTotal++;
    }
  }

  hedgeSent(): void {
    this.hedgesSentTotal++;
  }

  hedgeWon(): void {
    this.hedgesWonTotal++;
  }

  rejected(reason: RejectReason): void {
    this.rejectedCounts[reason]++;
  }

  private record(backend: Backend | undefined, success: boolean, status: number, durationMs: number, client: string): Entry {
    const now = this.clock.now();
    if (now >= this.nextRollAt) this.roll(now);
    const e = backend === undefined ? this.none : this.entry(backend);
    const ms = durationMs > 0 ? durationMs : 0;
    const cls = status >= 100 && status < 600 ? (status / 100) | 0 : 0;
    const slot = this.slot;
    e.requests++;
    e.durationSumMs += ms;
    e.statusClasses[cls]!++;
    e.buckets[promBucketIndex(ms)]!++;
    e.interval.recordValue(toMicros(ms));
    e.series.count[slot]!++;
    e.lastSec = this.sec;
    this.total++;
    this.durationSumMs += ms;
    this.statusClasses[cls]!++;
    this.globalSeries.count[slot]!++;
    if (success) {
      e.successes++;
      this.successful++;
    } else {
      e.failures++;
      this.failed++;
      e.series.errors[slot]!++;
      this.globalSeries.errors[slot]!++;
    }
    this.recent.push(this.wall(), backend, success, status, ms, client);
    return e;
  }

  private entry(b: Backend): Entry {
    let e = this.byId[b.id];
    if (e === undefined) {
      e = new Entry(b, this.capacity);
      this.byId[b.id] = e;
      this.entries.push(e);
    }
    return e;
  }

  /**
   * Ends the second being filled (its p50/p99 from the interval histograms, which are then
   * folded into the cumulative ones) and clears the slots of the seconds now starting.
   */
  private roll(now: number): void {
    const nowSec = Math.floor(now / 1000);
    if (nowSec <= this.sec) return;
    const slot = this.slot;
    const merged = this.secondScratch;
    merged.reset();
    this.closeSecond(this.none, slot, merged);
    for (let i = 0; i < this.entries.length; i++) this.closeSecond(this.entries[i]!, slot, merged);
    if (merged.totalCount > 0) {
      this.globalSeries.p50[slot] = percentileMs(merged, 50);
      this.globalSeries.p99[slot] = percentileMs(merged, 99);
      this.globalCumulative.add(merged);
    }
    const steps = Math.min(nowSec - this.sec, this.capacity);
    let s = slot;
    for (let k = 0; k < steps; k++) {
      s = s + 1 === this.capacity ? 0 : s + 1;
      this.globalSeries.clear(s);
      this.none.series.clear(s);
      for (let i = 0; i < this.entries.length; i++) this.entries[i]!.series.clear(s);
    }
    this.slot = s;
    this.sec = nowSec;
    this.nextRollAt = (nowSec + 1) * 1000;
    this.prune();
  }

  private closeSecond(e: Entry, slot: number, merged: Histogram): void {
    const iv = e.interval;
    if (iv.totalCount === 0) return;
    e.series.p50[slot] = percentileMs(iv, 50);
    e.series.p99[slot] = percentileMs(iv, 99);
    merged.add(iv);
    e.cumulative.add(iv);
    iv.reset();
  }

  /**
   * Drops backends removed from the pool once their last request is out of the history, so
   * config reloads cannot grow the table without bound. Global totals keep their requests.
   */
  private prune(): void {
    const horizon = this.sec - this.capacity;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e.backend!.removed && e.lastSec < horizon) {
        this.entries.splice(i, 1);
        this.byId[e.backend!.id] = undefined;
      }
    }
  }

  /** Brings the windows up to the clock's current second before a read. */
  private advance(): void {
    const now = this.clock.now();
    if (now >= this.nextRollAt) this.roll(now);
  }

  // ---- reading (admin API, /metrics, dashboard) ----

  totals(): Totals {
    return {
      total: this.total,
      successful: this.successful,
      failed: this.failed,
      durationSumMs: this.durationSumMs,
      statusClasses: classes(this.statusClasses),
    };
  }

  /** Latency of every request since start (the seconds closed so far plus the current one). */
  latency(): LatencySummary {
    this.advance();
    const h = this.readScratch;
    h.reset();
    h.add(this.globalCumulative);
    h.add(this.none.interval);
    for (let i = 0; i < this.entries.length; i++) h.add(this.entries[i]!.interval);
    return summary(h, this.total === 0 ? 0 : this.durationSumMs / this.total);
  }

  /** Rolling requests per second over the last 10 seconds. */
  requestsPerSecond(): number {
    this.advance();
    return this.rate(this.globalSeries.count, RATE_WINDOW_S);
  }

  /** Requests in the last 60 seconds (scaled up while the balancer has run less than a minute). */
  requestsPerMinute(): number {
    this.advance();
    return this.rate(this.globalSeries.count, 60) * 60;
  }

  /**
   * Events per second over the last `windowS` seconds: the current partial second plus the
   * completed ones before it, divided by the time they span (at least one second, so the
   * first requests after start do not read as a huge rate).
   */
  private rate(counts: Float64Array, windowS: number): number {
    const now = this.clock.now();
    const completed = Math.min(windowS - 1, this.sec - this.startSec, this.capacity - 1);
    let sum = counts[this.slot]!;
    let s = this.slot;
    for (let k = 0; k < completed; k++) {
      s = s === 0 ? this.capacity - 1 : s - 1;
      sum += counts[s]!;
    }
    const windowStart = Math.max(this.startMs, (this.sec - completed) * 1000);
    const spanS = Math.max(1, (now - windowStart) / 1000);
    return sum / spanS;
  }

  backend(b: Backend): BackendFigures {
    this.advance();
    const e = this.byId[b.id];
    if (e === undefined) return emptyFigures();
    const h = this.readScratch;
    h.reset();
    h.add(e.cumulative);
    h.add(e.interval);
    return {
      total: e.requests,
      successful: e.successes,
      failed: e.failures,
      durationSumMs: e.durationSumMs,
      statusClasses: classes(e.statusClasses),
      latency: summary(h, e.requests === 0 ? 0 : e.durationSumMs / e.requests),
      requestsPerSecond: this.rate(e.series.count, RATE_WINDOW_S),
      retries: e.retries,
      failovers: e.failovers,
      bytesIn: e.bytesIn,
      bytesOut: e.bytesOut,
    };
  }

  /** Prometheus bucket counts for a backend (undefined: requests no backend served). */
  buckets(b: Backend | undefined): BucketCounts {
    const e = b === undefined ? this.none : this.byId[b.id];
    if (e === undefined) return { counts: new Array<number>(PROM_BUCKETS_MS.length + 1).fill(0), sumMs: 0, count: 0 };
    return { counts: Array.from(e.buckets), sumMs: e.durationSumMs, count: e.requests };
  }

  /** Requests by status class for a backend (undefined: requests no backend served). */
  statusClassesOf(b: Backend | undefined): Record<StatusClass, number> {
    const e = b === undefined ? this.none : this.byId[b.id];
    return e === undefined ? classes(new Float64Array(6)) : classes(e.statusClasses);
  }

  /** `{"127.0.0.1:8081": n}` over every backend that served a request. */
  serverRequestCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.entries) {
      const a = e.backend!.address;
      out[a] = (out[a] ?? 0) + e.requests;
    }
    return out;
  }

  recentRequests(limit: number): RecentRequest[] {
    return this.recent.list(limit);
  }

  counters(): { retries: number; failovers: number; hedgesSent: number; hedgesWon: number; connections: number; tunnels: number; rejected: Record<RejectReason, number> } {
    return {
      retries: this.retriesTotal,
      failovers: this.failoversTotal,
      hedgesSent: this.hedgesSentTotal,
      hedgesWon: this.hedgesWonTotal,
      connections: this.connectionsTotal,
      tunnels: this.tunnelsTotal,
      rejected: { ...this.rejectedCounts },
    };
  }

  /** Wall-clock Unix seconds of the start of the clock second `sec`. */
  private wallSecondOf(sec: number): number {
    return (this.wallAnchorMs + (sec * 1000 - this.clockAnchorMs)) / 1000;
  }

  /**
   * The last `seconds` completed seconds (the one being filled is left out: its figures are
   * partial), oldest first: timestamps and the global series.
   */
  history(seconds = this.capacity - 1): { t: number[]; global: SeriesPoints } {
    this.advance();
    const n = this.points(seconds);
    const t: number[] = new Array(n);
    for (let k = 0; k < n; k++) t[k] = this.wallSecondOf(this.sec - n + k);
    return { t, global: this.pointsOf(this.globalSeries, n) };
  }

  /** The same window for one backend (zeros and nulls when it served nothing). */
  backendHistory(b: Backend, seconds = this.capacity - 1): SeriesPoints {
    this.advance();
    const n = this.points(seconds);
    const e = this.byId[b.id];
    if (e === undefined) {
      return { rps: new Array<number>(n).fill(0), errors: new Array<number>(n).fill(0), p50: new Array(n).fill(null), p99: new Array(n).fill(null) };
    }
    return this.pointsOf(e.series, n);
  }

  private points(seconds: number): number {
    return Math.max(0, Math.min(Math.floor(seconds), this.sec - this.startSec, this.capacity - 1));
  }

  private pointsOf(s: SecondSeries, n: number): SeriesPoints {
    const out: SeriesPoints = { rps: new Array(n), errors: new Array(n), p50: new Array(n), p99: new Array(n) };
    // The oldest of the n completed seconds sits n slots behind the current one.
    let i = (this.slot - n + this.capacity) % this.capacity;
    for (let k = 0; k < n; k++) {
      out.rps[k] = s.count[i]!;
      out.errors[k] = s.errors[i]!;
      const p50 = s.p50[i]!;
      const p99 = s.p99[i]!;
      out.p50[k] = Number.isNaN(p50) ? null : round3(p50);
      out.p99[k] = Number.isNaN(p99) ? null : round3(p99);
      i = i + 1 === this.capacity ? 0 : i + 1;
    }
    return out;
  }

  /** Seconds since the statistics started, on the injected clock. */
  uptimeSeconds(): number {
    return (this.clock.now() - this.startMs) / 1000;
  }
}

function classes(a: Float64Array): Record<StatusClass, number> {
  return { none: a[0]!, '1xx': a[1]!, '2xx': a[2]!, '3xx': a[3]!, '4xx': a[4]!, '5xx': a[5]! };
}

function summary(h: Histogram, avgMs: number): LatencySummary {
  return {
    avg_ms: round3(avgMs),
    p50_ms: round3(percentileMs(h, 50)),
    p90_ms: round3(percentileMs(h, 90)),
    p99_ms: round3(percentileMs(h, 99)),
    max_ms: h.totalCount === 0 ? 0 : round3(h.maxValue / 1000),
  };
}

function emptyFigures(): BackendFigures {
  return {
    total: 0,
    successful: 0,
    failed: 0,
    durationSumMs: 0,
    statusClasses: classes(new Float64Array(6)),
    latency: { avg_ms: 0, p50_ms: 0, p90_ms: 0, p99_ms: 0, max_ms: 0 },
    requestsPerSecond: 0,
    retries: 0,
    failovers: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
}

/** Three decimals: microsecond resolution in ms, and short JSON. */
export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
