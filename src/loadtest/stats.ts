/**
 * What a load run counts: outcomes by kind, an HDR histogram of latency (Gil Tene's
 * HdrHistogram via hdr-histogram-js: fixed memory, 3 significant digits at any scale, exact
 * percentiles to that precision), coarse buckets for charts, status codes, transport error
 * codes and the share per `X-Backend`.
 *
 * Recording happens once per response on the tester's hot path, so it allocates nothing except
 * the first time a backend name or error code is seen. Tables are capped.
 */
import * as hdr from 'hdr-histogram-js';
import type { BackendShare, CacheCounts, FailureCounts, LatencyBucket, LatencySummary } from './types.js';

/** Upper bounds of the chart buckets, ms; a last bucket catches the rest. */
export const BUCKET_BOUNDS_MS: readonly number[] = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
/** Distinct `X-Backend` values tracked; more are counted as `(other)`. */
export const MAX_BACKENDS = 256;
/** Distinct transport error codes tracked; more are counted as `(other)`. */
export const MAX_ERROR_CODES = 32;

/** Latency is recorded in microseconds up to one hour, larger values are clamped. */
const HIGHEST_US = 3_600_000_000;

export class LoadStats {
  succeeded = 0;
  http4xx = 0;
  http5xx = 0;
  timeout = 0;
  connection = 0;
  otherStatus = 0;
  /** Responses whose `X-Cache` header said HIT or MISS (case-insensitive). */
  cacheHits = 0;
  cacheMisses = 0;

  private readonly histogram = hdr.build({
    bitBucketSize: 32,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
  });
  /** Sum of recorded microseconds, for an exact mean (the histogram's is bucketed). */
  private sumUs = 0;
  private minUs = Infinity;
  private maxUs = 0;
  private readonly buckets = new Float64Array(BUCKET_BOUNDS_MS.length + 1);
  private readonly statuses = new Float64Array(1000);
  private readonly errorCodes = new Map<string, number>();
  private readonly backendCounts = new Map<string, number>();
  private backendOther = 0;
  private backendNone = 0;

  get failed(): number {
    return this.http4xx + this.http5xx + this.timeout + this.connection + this.otherStatus;
  }

  get done(): number {
    return this.succeeded + this.failed;
  }

  /** A response arrived completely; `backend` is its `X-Backend` header, `cache` its `X-Cache`, if any. */
  response(status: number, latencyMs: number, backend: string | undefined, cache?: string): void {
    if (status >= 200 && status < 400) this.succeeded++;
    else if (status >= 400 && status < 500) this.http4xx++;
    else if (status >= 500 && status < 600) this.http5xx++;
    else this.otherStatus++;
    this.statuses[status > 0 && status < 1000 ? status : 0]!++;
    this.latency(latencyMs);
    this.countBackend(backend);
    if (cache !== undefined) {
      // Compare the first letter only: no lowercasing (no allocation) on the hot path.
      const c = cache.charCodeAt(0) | 0x20;
      if (c === 0x68 /* h */ && cache.length === 3) this.cacheHits++;
      else if (c === 0x6d /* m */ && cache.length === 4) this.cacheMisses++;
    }
  }

  /** No complete response within the timeout; its latency is the time it was given. */
  timedOut(latencyMs: number): void {
    this.timeout++;
    this.latency(latencyMs);
  }

  /** A transport failure. Not timed: a refused connection's 0.1 ms would flatter the figures. */
  connectionError(code: string): void {
    this.connection++;
    const codes = this.errorCodes;
    const seen = codes.get(code);
    if (seen !== undefined) codes.set(code, seen + 1);
    else if (codes.size < MAX_ERROR_CODES) codes.set(code, 1);
    else codes.set('(other)', (codes.get('(other)') ?? 0) + 1);
  }

  private latency(ms: number): void {
    let us = Math.round(ms * 1000);
    if (us < 1) us = 1;
    else if (us > HIGHEST_US) us = HIGHEST_US;
    this.histogram.recordValue(us);
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
    const bounds = BUCKET_BOUNDS_MS;
    let i = 0;
    while (i < bounds.length && ms > bounds[i]!) i++;
    this.buckets[i]!++;
  }

  private countBackend(name: string | undefined): void {
    if (name === undefined) {
      this.backendNone++;
      return;
    }
    const counts = this.backendCounts;
    const seen = counts.get(name);
    if (seen !== undefined) counts.set(name, seen + 1);
    else if (counts.size < MAX_BACKENDS) counts.set(name, 1);
    else this.backendOther++;
  }

  latencySummary(): LatencySummary {
    const h = this.histogram;
    const count = h.totalCount;
    if (count === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    // A percentile is its bucket's highest equivalent value, which may exceed the true max.
    const ms = (us: number): number => Math.round(Math.min(us, this.maxUs)) / 1000;
    return {
      count,
      min: ms(this.minUs),
      mean: ms(this.sumUs / count),
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      p999: ms(h.getValueAtPercentile(99.9)),
      max: ms(this.maxUs),
    };
  }

  failures(): FailureCounts {
    return {
      total: this.failed,
      http4xx: this.http4xx,
      http5xx: this.http5xx,
      timeout: this.timeout,
      connection: this.connection,
      otherStatus: this.otherStatus,
    };
  }

  /** Hit and miss counts from `X-Cache`, or null when no response carried the header. */
  cacheCounts(): CacheCounts | null {
    const lookups = this.cacheHits + this.cacheMisses;
    if (lookups === 0) return null;
    return { hits: this.cacheHits, misses: this.cacheMisses, hitRate: this.cacheHits / lookups };
  }

  latencyBuckets(): LatencyBucket[] {
    const out: LatencyBucket[] = [];
    for (let i = 0; i < this.buckets.length; i++) out.push({ leMs: BUCKET_BOUNDS_MS[i] ?? null, count: this.buckets[i]! });
    return out;
  }

  statusCodes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let s = 0; s < this.statuses.length; s++) if (this.statuses[s]! > 0) out[String(s)] = this.statuses[s]!;
    return out;
  }

  errorCodeCounts(): Record<string, number> {
    return Object.fromEntries(this.errorCodes);
  }

  backendShares(): BackendShare[] {
    const responses = this.done - this.timeout - this.connection;
    const rows: Array<[string, number]> = [...this.backendCounts];
    if (this.backendOther > 0) rows.push(['(other)', this.backendOther]);
    // Only worth a row when some responses named a backend and some did not.
    if (this.backendNone > 0 && rows.length > 0) rows.push(['(none)', this.backendNone]);
    rows.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return rows.map(([backend, count]) => ({ backend, count, share: responses > 0 ? count / responses : 0 }));
  }

  /** Frees the histogram's memory (it may be WebAssembly-backed in other builds). */
  destroy(): void {
    this.histogram.destroy();
  }
}
