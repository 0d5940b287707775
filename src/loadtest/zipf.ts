/**
 * Key popularity for the load tester: rank k (0-based) of K keys is drawn with probability
 * proportional to 1 / (k + 1)^s, the Zipf law that request streams to caches follow (Breslau
 * et al., "Web Caching and Zipf-like Distributions", INFOCOM 1999). s = 0 is uniform.
 *
 * The cumulative weights are computed once (8 bytes per key, hence the cap) and each draw is a
 * binary search, O(log K) with no allocation.
 */
import type { Random } from '../util/random.js';

/** Largest key space: 8 MB of cumulative weights. */
export const MAX_KEYS = 1_000_000;

export class ZipfKeys {
  readonly keys: number;
  readonly exponent: number;
  /** cdf[k] = sum of weights of ranks 0..k; null when uniform (no table needed). */
  private readonly cdf: Float64Array | null;
  private readonly total: number;

  constructor(keys: number, exponent: number, private readonly random: Random) {
    if (!Number.isInteger(keys) || keys < 1 || keys > MAX_KEYS) throw new RangeError(`keys must be an integer in 1..${MAX_KEYS}`);
    if (!Number.isFinite(exponent) || exponent < 0) throw new RangeError('zipf exponent must be >= 0');
    this.keys = keys;
    this.exponent = exponent;
    if (exponent === 0) {
      this.cdf = null;
      this.total = keys;
    } else {
      const cdf = new Float64Array(keys);
      let sum = 0;
      for (let k = 0; k < keys; k++) {
        sum += 1 / Math.pow(k + 1, exponent);
        cdf[k] = sum;
      }
      this.cdf = cdf;
      this.total = sum;
    }
  }

  /** The next key's rank, 0 the most popular. */
  next(): number {
    const u = this.random.next() * this.total;
    const cdf = this.cdf;
    if (cdf === null) return Math.floor(u);
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Probability of rank k, for tests and reports. */
  probability(k: number): number {
    if (this.cdf === null) return 1 / this.keys;
    return 1 / Math.pow(k + 1, this.exponent) / this.total;
  }
}
