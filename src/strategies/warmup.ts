/**
 * Warm-up by key: a backend that joins the pool, or returns after being down, is admitted for a
 * linearly growing share of the keys it owns over `warmupMs`, the same keys first, so its cache
 * fills gradually instead of taking a cold miss on every one of its keys at once (the sharp
 * version of Envoy's and HAProxy's slow start, which ramp a share of *requests* and so spread
 * the misses over all keys).
 *
 * Each key has a fixed fraction in [0, 1) from its hash; a warming backend at progress p
 * admits exactly the keys with fraction < p. The admitted set only grows (a key admitted once
 * stays admitted), its expected share of the backend's keys is p, and at p = 1 it is all of
 * them. A refused key goes on to its next-ranked backend, which is usually the one that served
 * it before this backend appeared, so it keeps hitting a warm cache meanwhile.
 *
 * Backends present at start-up do not warm up (the pool gives them `readySince = -Infinity`):
 * when every cache is cold there is nothing to protect. O(1) per check.
 */
import type { Backend } from '../pool/backend.js';
import { combine64, Hash64, unitInterval } from '../util/hash.js';

/** Salt so the admission fraction is independent of the rendezvous scores. */
const SALT_HI = 0x9e3779b9;
const SALT_LO = 0x7f4a7c15;

export class Warmup {
  private readonly h = new Hash64();

  constructor(readonly warmupMs: number) {}

  /** Progress of `b`'s warm-up in [0, 1]; 1 when it is not warming. */
  progress(b: Backend, now: number): number {
    if (this.warmupMs <= 0 || b.readySince === -Infinity) return 1;
    const p = (now - b.readySince) / this.warmupMs;
    return p >= 1 ? 1 : p > 0 ? p : 0;
  }

  warming(b: Backend, now: number): boolean {
    return this.progress(b, now) < 1;
  }

  /** The key's fixed admission fraction in (0, 1). */
  fraction(key: Hash64): number {
    combine64(this.h, key, SALT_HI, SALT_LO);
    return unitInterval(this.h);
  }

  /** Whether a key with admission fraction `fraction` may go to `b` now. */
  admits(b: Backend, fraction: number, now: number): boolean {
    return fraction < this.progress(b, now);
  }
}
