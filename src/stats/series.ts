/**
 * Per-second figures over the last minutes: requests, failures, p50 and p99 of each second.
 * Fixed arrays indexed by a slot that all series share (the Stats object moves it), so a
 * second costs one increment per request and a rollover clears one slot per series.
 */
export class SecondSeries {
  readonly count: Float64Array;
  readonly errors: Float64Array;
  /** p50 and p99 of the requests that finished in that second, ms; NaN when there were none. */
  readonly p50: Float64Array;
  readonly p99: Float64Array;

  constructor(capacity: number) {
    this.count = new Float64Array(capacity);
    this.errors = new Float64Array(capacity);
    this.p50 = new Float64Array(capacity).fill(NaN);
    this.p99 = new Float64Array(capacity).fill(NaN);
  }

  clear(slot: number): void {
    this.count[slot] = 0;
    this.errors[slot] = 0;
    this.p50[slot] = NaN;
    this.p99[slot] = NaN;
  }
}

/** Chart data: one value per completed second, oldest first; null where a second had no requests. */
export interface SeriesPoints {
  rps: number[];
  errors: number[];
  p50: (number | null)[];
  p99: (number | null)[];
}
