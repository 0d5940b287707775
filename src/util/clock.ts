/**
 * Time sources. Everything that measures or schedules by time takes a `Clock`, so the
 * simulator can run the same code on virtual time and tests replay exactly.
 */
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Monotonic milliseconds (fractional). Only differences are meaningful. */
  now(): number;
}

/** Real monotonic time from `performance.now()` (never jumps with NTP). */
export const systemClock: Clock = { now: () => performance.now() };

/** A clock tests and the simulator move by hand. */
export class ManualClock implements Clock {
  private t: number;
  constructor(startMs = 0) {
    this.t = startMs;
  }
  now(): number {
    return this.t;
  }
  set(ms: number): void {
    this.t = ms;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
