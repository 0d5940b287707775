/**
 * Open-loop arrival processes: when the next request comes, whatever the servers are doing (so
 * queueing shows up as latency instead of throttling the load, as in a real outage).
 *
 * - poisson: exponential gaps at the given mean rate.
 * - bursty: a two-state Markov-modulated Poisson process. The source alternates between a
 *   calm state and a burst state whose rate is `factor` times the calm one; bursts last
 *   `burstMs` on average (exponential) and take `share` of the time, and the calm rate is set
 *   so the long-run mean is still `rate`. Both states are memoryless, so a state switch just
 *   redraws the next gap.
 */
import type { Random } from '../util/random.js';

export type ArrivalSpec = { kind: 'poisson' } | { kind: 'bursty'; factor: number; burstMs: number; share: number };

export interface ArrivalProcess {
  /** Time of the next arrival after `now` (ms). */
  next(now: number): number;
}

const expGap = (random: Random, mean: number): number => -mean * Math.log(1 - random.next());

class Poisson implements ArrivalProcess {
  private readonly meanGap: number;
  constructor(
    ratePerSecond: number,
    private readonly random: Random,
  ) {
    this.meanGap = 1000 / ratePerSecond;
  }
  next(now: number): number {
    return now + expGap(this.random, this.meanGap);
  }
}

class Bursty implements ArrivalProcess {
  private readonly calmGap: number;
  private readonly burstGap: number;
  private readonly calmMs: number;
  private readonly burstMs: number;
  private inBurst = false;
  private switchAt: number;

  constructor(ratePerSecond: number, spec: { factor: number; burstMs: number; share: number }, private readonly random: Random) {
    const share = Math.min(Math.max(spec.share, 0), 0.999);
    const calmRate = ratePerSecond / (1 - share + share * spec.factor);
    this.calmGap = 1000 / calmRate;
    this.burstGap = 1000 / (calmRate * spec.factor);
    this.burstMs = spec.burstMs;
    // Mean calm period so bursts take `share` of the time.
    this.calmMs = share > 0 ? (spec.burstMs * (1 - share)) / share : Infinity;
    this.switchAt = expGap(random, this.calmMs);
  }

  next(now: number): number {
    let t = now;
    for (;;) {
      const gap = expGap(this.random, this.inBurst ? this.burstGap : this.calmGap);
      if (t + gap <= this.switchAt) return t + gap;
      // The state changes before that arrival: memorylessness lets us restart from the switch.
      t = this.switchAt;
      this.inBurst = !this.inBurst;
      this.switchAt = t + expGap(this.random, this.inBurst ? this.burstMs : this.calmMs);
    }
  }
}

export function makeArrivals(spec: ArrivalSpec, ratePerSecond: number, random: Random): ArrivalProcess {
  return spec.kind === 'poisson' ? new Poisson(ratePerSecond, random) : new Bursty(ratePerSecond, spec, random);
}
