/**
 * Zipf-distributed keys: key k (0-based rank) has probability proportional to 1/(k+1)^s over K
 * keys, the usual model of cache popularity (Breslau et al., "Web Caching and Zipf-like
 * Distributions", 1999).
 *
 * Sampled by rejection-inversion (Hörmann and Derflinger, "Rejection-inversion to generate
 * variates from monotone discrete distributions", 1996; the method Apache Commons RNG uses):
 * O(1) expected time per draw and O(1) memory whatever K, where a CDF table would cost 8 bytes a
 * key. Works for any s >= 0 (s = 0 is uniform).
 */
import type { Random } from '../util/random.js';

/** log1p(x)/x, with its series near 0 where the quotient loses precision. */
function helper1(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1 - x * (0.5 - x * (1 / 3 - 0.25 * x));
}

/** expm1(x)/x, likewise. */
function helper2(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1 + x * 0.5 * (1 + (x / 3) * (1 + 0.25 * x));
}

export class ZipfSampler {
  private readonly hIntegralX1: number;
  private readonly hIntegralN: number;
  private readonly squeeze: number;
  /** Sum of weights over all keys, computed on first use by `probability` only. */
  private norm = 0;

  constructor(
    readonly count: number,
    readonly exponent: number,
  ) {
    if (!(count >= 1) || !Number.isInteger(count)) throw new RangeError('zipf: key count must be an integer >= 1');
    if (!(exponent >= 0)) throw new RangeError('zipf: exponent must be >= 0');
    this.hIntegralX1 = this.hIntegral(1.5) - 1;
    this.hIntegralN = this.hIntegral(count + 0.5);
    this.squeeze = 2 - this.hIntegralInverse(this.hIntegral(2.5) - this.h(2));
  }

  /** A key rank in [0, count), 0 the most popular. */
  sample(random: Random): number {
    const n = this.count;
    for (;;) {
      const u = this.hIntegralN + random.next() * (this.hIntegralX1 - this.hIntegralN);
      const x = this.hIntegralInverse(u);
      let k = Math.floor(x + 0.5);
      if (k < 1) k = 1;
      else if (k > n) k = n;
      if (k - x <= this.squeeze || u >= this.hIntegral(k + 0.5) - this.h(k)) return k - 1;
    }
  }

  /** Exact probability of rank k (for tests): O(K) the first call, then O(1). */
  probability(k: number): number {
    if (this.norm === 0) {
      let sum = 0;
      for (let i = 1; i <= this.count; i++) sum += this.h(i);
      this.norm = sum;
    }
    return this.h(k + 1) / this.norm;
  }

  private h(x: number): number {
    return Math.exp(-this.exponent * Math.log(x));
  }

  private hIntegral(x: number): number {
    const logX = Math.log(x);
    return helper2((1 - this.exponent) * logX) * logX;
  }

  private hIntegralInverse(x: number): number {
    let t = x * (1 - this.exponent);
    if (t < -1) t = -1;
    return Math.exp(helper1(t) * x);
  }
}
