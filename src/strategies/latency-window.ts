/**
 * Recent latency samples in a fixed ring, with order statistics computed by quickselect on a
 * preallocated scratch copy. Bounded memory (capacity x 16 bytes), no allocation after
 * construction, O(capacity) per quantile query; callers cache the results they need often.
 *
 * Why a ring rather than an HDR histogram with rotation: alpha1 asks for a few quantiles of
 * the last few hundred samples, a window that slides per sample; a ring gives exact order
 * statistics of exactly those samples, and quickselect over 1024 doubles costs about as much
 * as rotating and merging histogram buckets.
 */

/** Rearranges a[0..n) so that a[k] is the k-th smallest and returns it (Hoare's quickselect). */
export function select(a: Float64Array, n: number, k: number): number {
  return selectRange(a, 0, n, k);
}

/**
 * Quickselect within a[from..to): afterwards a[target] holds the value it would have if that
 * range were sorted, smaller ones before it, larger after. Median-of-3 pivots keep sorted or
 * constant input from going quadratic.
 */
function selectRange(a: Float64Array, from: number, to: number, target: number): number {
  let lo = from;
  let hi = to - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}

/** Index of quantile q among n sorted samples (nearest rank). */
export function rankOf(q: number, n: number): number {
  return Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
}

export class LatencyWindow {
  private readonly ring: Float64Array;
  private readonly scratch: Float64Array;
  private pos = 0;
  private filled = 0;
  /** Samples ever added (not capped): lets callers tell "new since I last looked". */
  added = 0;

  constructor(readonly capacity: number) {
    this.ring = new Float64Array(capacity);
    this.scratch = new Float64Array(capacity);
  }

  add(x: number): void {
    this.ring[this.pos] = x;
    this.pos = this.pos + 1 === this.capacity ? 0 : this.pos + 1;
    if (this.filled < this.capacity) this.filled++;
    this.added++;
  }

  /** Samples held (at most `capacity`). */
  get count(): number {
    return this.filled;
  }

  /** Copies the last `n` samples into the scratch array; returns how many were copied. */
  private copyLast(n: number): number {
    const k = Math.min(n, this.filled);
    let p = this.pos;
    for (let i = 0; i < k; i++) {
      p = p === 0 ? this.capacity - 1 : p - 1;
      this.scratch[i] = this.ring[p]!;
    }
    return k;
  }

  /** Quantile q of the last `last` samples (default all), or `empty` when there are none. */
  quantile(q: number, last = this.capacity, empty = 0): number {
    const k = this.copyLast(last);
    if (k === 0) return empty;
    return select(this.scratch, k, rankOf(q, k));
  }

  /**
   * Two quantiles of all samples in one copy (qLow < qHigh): the second select only scans the
   * part the first left above its rank. Writes them to `out[0]` and `out[1]`.
   */
  quantiles2(qLow: number, qHigh: number, out: Float64Array): void {
    const k = this.copyLast(this.capacity);
    if (k === 0) {
      out[0] = 0;
      out[1] = 0;
      return;
    }
    const r1 = rankOf(qLow, k);
    const r2 = rankOf(qHigh, k);
    out[0] = selectRange(this.scratch, 0, k, r1);
    // After the first select everything from r1 on is >= it, so the second only scans that tail.
    out[1] = selectRange(this.scratch, r1, k, r2);
  }

  clear(): void {
    this.pos = 0;
    this.filled = 0;
  }
}
