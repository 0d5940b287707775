/**
 * Start times of an open-loop run. Requests start on this schedule whatever the server does,
 * and each one's latency is measured from its scheduled start, so a stalled server shows up as
 * latency instead of as fewer, faster samples (coordinated omission, Gil Tene; the schedule is
 * what wrk2 calls the "intended" start).
 *
 * Poisson arrivals (exponential gaps) model independent users; constant gaps model a metronome
 * and make rate checks exact.
 */
import type { Random } from '../util/random.js';
import type { Arrivals } from './types.js';

export class ArrivalSchedule {
  private readonly meanGapMs: number;
  private nextAt: number;

  /** `startMs` is the time of the first arrival on the caller's clock. */
  constructor(readonly rate: number, readonly kind: Arrivals, private readonly random: Random, startMs: number) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError('rate must be a positive number');
    this.meanGapMs = 1000 / rate;
    this.nextAt = startMs;
  }

  /** The scheduled start of the next request; successive calls walk the schedule. */
  next(): number {
    const at = this.nextAt;
    // 1 - u is in (0, 1], so the log is finite.
    const gap = this.kind === 'constant' ? this.meanGapMs : -Math.log(1 - this.random.next()) * this.meanGapMs;
    this.nextAt = at + gap;
    return at;
  }
}
