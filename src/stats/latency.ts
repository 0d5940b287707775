/**
 * Latency recording: HDR histograms (Gil Tene's HdrHistogram, via hdr-histogram-js) for
 * percentiles, and fixed Prometheus buckets for /metrics.
 *
 * Values are recorded in microseconds with two significant digits: p99 is exact to 1%, which
 * is finer than anyone reads a latency chart, and a histogram stays ~13 KB (three digits cost
 * ~87 KB and 20x longer percentile reads). Cumulative histograms use 64-bit counts so a
 * long-running balancer cannot overflow a bucket; per-second ones use 32-bit counts.
 */
import { build, type Histogram } from 'hdr-histogram-js';

/** Longest latency kept distinct: 10 minutes. Longer ones are recorded as 10 minutes. */
export const HIGHEST_US = 600_000_000;

export function latencyHistogram(cumulative: boolean): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 2,
    bitBucketSize: cumulative ? 64 : 32,
    autoResize: false,
    useWebAssembly: false,
  });
}

/** Milliseconds (fractional) to the histogram's integer microseconds, clamped to its range. */
export function toMicros(ms: number): number {
  if (!(ms > 0)) return 0;
  const us = Math.round(ms * 1000);
  return us > HIGHEST_US ? HIGHEST_US : us;
}

/** The value at `percentile` (0-100) in milliseconds, or 0 for an empty histogram. */
export function percentileMs(h: Histogram, percentile: number): number {
  return h.totalCount === 0 ? 0 : h.getValueAtPercentile(percentile) / 1000;
}

/**
 * Upper bounds in milliseconds of the Prometheus histogram buckets (`le`, shown in seconds).
 * From 1 ms to a minute, dense around the 10-500 ms range where HTTP services live.
 */
export const PROM_BUCKETS_MS: readonly number[] = [1, 2.5, 5, 10, 25, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000];

/** Index of the first bucket whose bound is >= ms; `PROM_BUCKETS_MS.length` for +Inf. */
export function promBucketIndex(ms: number): number {
  const bounds = PROM_BUCKETS_MS;
  let i = 0;
  while (i < bounds.length && ms > bounds[i]!) i++;
  return i;
}
