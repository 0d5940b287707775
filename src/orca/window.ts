/**
 * What a server reports about itself, measured over a sliding window: utilization (time-average
 * of busy worker slots over the slots it has) and the rates of requests and errors it finished.
 * The demo backend and the simulator's servers both measure with this, so a simulated report
 * and a live one mean the same thing.
 *
 * The window is a ring of `buckets` buckets of `windowMs / buckets` each; the figures cover the
 * full buckets plus the current partial one, so they move smoothly rather than in steps. Time is
 * passed in (ms on the caller's clock): no timers, and the simulator's virtual time works.
 * Memory: three Float64Arrays of `buckets` entries.
 */
import { LoadReport } from './report.js';

export class LoadWindow {
  private readonly bucketMs: number;
  private readonly busyMs: Float64Array;
  private readonly done: Float64Array;
  private readonly errors: Float64Array;
  /** Index of the bucket that holds time `bucketStart`. */
  private current = 0;
  private bucketStart: number;
  private busy = 0;
  private lastChange: number;
  private readonly started: number;

  constructor(
    /** Worker slots; utilization is busy slots over this (1 for a server without a limit: then the mean number in service). */
    private readonly slots: number,
    readonly windowMs = 1_000,
    private readonly buckets = 10,
    now = 0,
  ) {
    this.bucketMs = windowMs / buckets;
    this.busyMs = new Float64Array(buckets);
    this.done = new Float64Array(buckets);
    this.errors = new Float64Array(buckets);
    this.bucketStart = now;
    this.lastChange = now;
    this.started = now;
  }

  /** Moves the ring to the bucket holding `now`, crediting busy time to each bucket passed. */
  private advance(now: number): void {
    while (now >= this.bucketStart + this.bucketMs) {
      const end = this.bucketStart + this.bucketMs;
      this.busyMs[this.current]! += this.busy * Math.max(0, end - this.lastChange);
      this.lastChange = Math.max(this.lastChange, end);
      this.current = (this.current + 1) % this.buckets;
      this.bucketStart = end;
      this.busyMs[this.current] = 0;
      this.done[this.current] = 0;
      this.errors[this.current] = 0;
      // A long idle gap: everything older than the window is gone, skip ahead.
      if (now - this.bucketStart >= this.bucketMs * this.buckets) {
        this.busyMs.fill(0);
        this.done.fill(0);
        this.errors.fill(0);
        const skipped = Math.floor((now - this.bucketStart) / this.bucketMs);
        this.bucketStart += skipped * this.bucketMs;
        this.lastChange = Math.max(this.lastChange, this.bucketStart);
      }
    }
  }

  private credit(now: number): void {
    this.advance(now);
    this.busyMs[this.current]! += this.busy * Math.max(0, now - this.lastChange);
    this.lastChange = now;
  }

  /** A request started service (took a slot). */
  begin(now: number): void {
    this.credit(now);
    this.busy++;
  }

  /** A request left service; `error` when it failed (counted in eps). */
  end(now: number, error = false): void {
    this.credit(now);
    this.busy--;
    this.done[this.current]!++;
    if (error) this.errors[this.current]!++;
  }

  /** Fills `into` with the window's figures at `now` (cpu utilization, rps, eps). */
  report(now: number, into: LoadReport): LoadReport {
    this.credit(now);
    let busy = 0;
    let done = 0;
    let errors = 0;
    for (let i = 0; i < this.buckets; i++) {
      busy += this.busyMs[i]!;
      done += this.done[i]!;
      errors += this.errors[i]!;
    }
    // Covered span: full buckets behind the current one, plus the current one so far; shorter
    // at the start of a run, so the first reports are not diluted by time before it began.
    const span = Math.max(1, Math.min(this.windowMs - this.bucketMs, now - this.started - (now - this.bucketStart)) + (now - this.bucketStart));
    into.reset();
    into.cpuUtilization = busy / span / this.slots;
    into.rpsFractional = (done * 1000) / span;
    into.eps = (errors * 1000) / span;
    return into;
  }
}
