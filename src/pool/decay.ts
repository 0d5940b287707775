/**
 * Time-decaying estimators. They take the time of each event instead of reading a clock,
 * so the same code runs on real and virtual time.
 */

/**
 * Peak-EWMA latency (Finagle, tower's `PeakEwma`): a sample above the estimate replaces it at
 * once, so a server that turns slow is seen immediately; lower samples pull it down with
 * weight 1 - exp(-dt/tau). Read with `value(now)`, the estimate also decays toward zero while
 * no sample arrives, so a server that was slow once is tried again later instead of starved.
 */
export class PeakEwma {
  private estimate = 0;
  private at = 0;
  private samples = 0;
  constructor(private readonly tauMs: number) {}

  observe(sampleMs: number, now: number): void {
    if (this.samples === 0 || sampleMs > this.estimate) {
      this.estimate = sampleMs;
    } else {
      const w = Math.exp(-Math.max(0, now - this.at) / this.tauMs);
      this.estimate = this.estimate * w + sampleMs * (1 - w);
    }
    this.at = now;
    this.samples++;
  }

  /** The estimate decayed for the time since the last sample; `fallback` when never sampled. */
  value(now: number, fallback = 0): number {
    if (this.samples === 0) return fallback;
    return this.estimate * Math.exp(-Math.max(0, now - this.at) / this.tauMs);
  }

  /** The estimate at the last sample, without decay. */
  raw(): number {
    return this.estimate;
  }

  get count(): number {
    return this.samples;
  }

  get lastSampleAt(): number {
    return this.at;
  }
}

/** A count that halves every `halfLifeMs`: recent events weigh more, old ones fade. */
export class DecayingCounter {
  private v = 0;
  private at = 0;
  private readonly lambda: number;
  constructor(halfLifeMs: number) {
    this.lambda = Math.LN2 / halfLifeMs;
  }

  add(amount: number, now: number): void {
    this.v = this.value(now) + amount;
    this.at = now;
  }

  value(now: number): number {
    if (this.v === 0) return 0;
    return this.v * Math.exp(-this.lambda * Math.max(0, now - this.at));
  }

  reset(): void {
    this.v = 0;
  }
}
