/**
 * Which keys are hot right now, in bounded memory: a count-min sketch (Cormode and
 * Muthukrishnan, 2005) with conservative update, 4 rows x 1024 counters (16 KiB), whose counts
 * and total halve every `windowRequests` observations so "share of traffic" means recent
 * traffic. A key is hot when its estimated share is above `share` (after at least 50
 * observations, so the first requests do not make every key hot).
 *
 * The sketch answers "is this key hot?" for any key without storing keys; it can only
 * overestimate, by at most about e/1024 of the total (0.3%), far below any useful threshold.
 * For the API, the hot keys themselves are kept in a list of at most 16 entries.
 *
 * Cost per observation: 4 counter updates (the row indices come from the key's 64-bit hash by
 * double hashing, so no extra hashing), plus a 16-entry scan when the key is hot. Every
 * `windowRequests` observations, one pass over the 4096 counters.
 */
import type { Hash64 } from '../util/hash.js';

const WIDTH = 1024;
const DEPTH = 4;
const MASK = WIDTH - 1;
/** Observations before any key may be called hot. */
const MIN_EVIDENCE = 50;
/** Hot keys remembered for the API. */
export const HOT_LIST_SIZE = 16;

interface HotEntry {
  used: boolean;
  hi: number;
  lo: number;
  key: string;
}

export interface HotKey {
  key: string;
  hi: number;
  lo: number;
  /** Estimated share of recent keyed traffic, in [0, 1]. */
  share: number;
}

export class HotKeys {
  private readonly counts = new Uint32Array(WIDTH * DEPTH);
  private total = 0;
  private readonly list: HotEntry[] = [];

  constructor(
    /** A key above this share of recent traffic is hot (1: none ever is). */
    readonly share: number,
    /** Counts halve after this many observations. */
    readonly windowRequests = 10_000,
  ) {
    for (let i = 0; i < HOT_LIST_SIZE; i++) this.list.push({ used: false, hi: 0, lo: 0, key: '' });
  }

  private estimate(h: Hash64): number {
    let min = Infinity;
    const step = h.hi | 1;
    for (let r = 0; r < DEPTH; r++) {
      const c = this.counts[r * WIDTH + ((h.lo + Math.imul(r, step)) & MASK)]!;
      if (c < min) min = c;
    }
    return min;
  }

  /** Counts one request for the key; true when the key is hot. */
  observe(h: Hash64, key: string): boolean {
    // Conservative update: raise only the counters at the current minimum, which keeps the
    // overestimate from collisions much smaller than incrementing all of them.
    const est = this.estimate(h) + 1;
    const step = h.hi | 1;
    for (let r = 0; r < DEPTH; r++) {
      const i = r * WIDTH + ((h.lo + Math.imul(r, step)) & MASK);
      if (this.counts[i]! < est) this.counts[i] = est;
    }
    this.total++;
    if (this.total >= this.windowRequests) this.halve();
    const hot = this.total >= MIN_EVIDENCE && est > this.share * this.total;
    if (hot) this.remember(h, key, est);
    return hot;
  }

  private halve(): void {
    const c = this.counts;
    for (let i = 0; i < c.length; i++) c[i] = c[i]! >>> 1;
    this.total = this.total / 2;
  }

  private remember(h: Hash64, key: string, est: number): void {
    let free = -1;
    let weakest = -1;
    let weakestEst = est;
    for (let i = 0; i < this.list.length; i++) {
      const e = this.list[i]!;
      if (!e.used) {
        if (free < 0) free = i;
        continue;
      }
      if (e.hi === h.hi && e.lo === h.lo) return;
      const x = this.estimate(e);
      if (x < weakestEst) {
        weakestEst = x;
        weakest = i;
      }
    }
    const slot = free >= 0 ? free : weakest;
    if (slot < 0) return;
    const e = this.list[slot]!;
    e.used = true;
    e.hi = h.hi;
    e.lo = h.lo;
    e.key = key;
  }

  /** The keys hot now, hottest first (allocates; for the API, not the request path). */
  hotKeys(): HotKey[] {
    const out: HotKey[] = [];
    for (const e of this.list) {
      if (!e.used) continue;
      const share = this.total === 0 ? 0 : this.estimate(e) / this.total;
      if (this.total >= MIN_EVIDENCE && share > this.share) out.push({ key: e.key, hi: e.hi, lo: e.lo, share });
      else e.used = false; // cooled down: free the slot
    }
    return out.sort((a, b) => b.share - a.share);
  }
}
