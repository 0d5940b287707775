/**
 * Weighted rendezvous (highest random weight) hashing: a key's order of preference over the
 * backends, best first (Thaler and Ravishankar, 1998; weighted by Schindelhauer and Schomaker's
 * logarithmic method, score = weight / -ln(u) with u = hash(key, backend) in (0, 1)).
 *
 * Why rendezvous rather than a ring: no virtual nodes and no table to rebuild, every backend's
 * share follows its weight exactly in expectation, and removing a backend moves only the keys it
 * owned (each to its own second choice) while adding one takes about 1/(n+1) of the keys. Those
 * properties are what a cache behind the balancer needs. Each backend's hash (of its address,
 * so the mapping is the same on every balancer and across restarts) is computed once per pool
 * change, as Envoy's rendezvous hashing precomputes its hosts' hashes.
 *
 * Like Pingora's selection iterators, `rank` does not pick: it yields candidates in order and
 * the caller (bounded loads, warm-up) filters them. `rank` is O(n) (a 64-bit mix and a log per
 * backend); each `next` is an O(n) selection, and callers usually need one or two.
 * No allocation per call once the buffers have grown to the pool's size.
 */
import type { Backend } from '../pool/backend.js';
import { combine64, Hash64, hashString64, unitInterval } from '../util/hash.js';

/** A ranked list of candidates, consumed best first. */
export interface CandidateOrder {
  /** The next best candidate not yet returned, or undefined when all were. */
  next(): Backend | undefined;
  /** How many candidates the order holds (a bound for any loop walking it). */
  readonly size: number;
}

export class RendezvousRanking implements CandidateOrder {
  private hashHi = new Uint32Array(0);
  private hashLo = new Uint32Array(0);
  private hashed = new Uint8Array(0);
  private candidates: readonly Backend[] = [];
  private scores = new Float64Array(16);
  private left = 0;
  private readonly mixed = new Hash64();
  private readonly scratch = new Hash64();

  get size(): number {
    return this.candidates.length;
  }

  /** Each backend's own 64-bit hash, computed once for its id. */
  private backendHash(b: Backend): void {
    const id = b.id;
    if (id >= this.hashed.length) {
      const size = Math.max(16, (id + 1) * 2);
      const hi = new Uint32Array(size);
      const lo = new Uint32Array(size);
      const done = new Uint8Array(size);
      hi.set(this.hashHi);
      lo.set(this.hashLo);
      done.set(this.hashed);
      this.hashHi = hi;
      this.hashLo = lo;
      this.hashed = done;
    }
    if (this.hashed[id] === 0) {
      hashString64(b.address, this.scratch);
      this.hashHi[id] = this.scratch.hi;
      this.hashLo[id] = this.scratch.lo;
      this.hashed[id] = 1;
    }
  }

  /** The rendezvous score of `b` for `key` (higher is preferred). */
  score(key: Hash64, b: Backend): number {
    this.backendHash(b);
    combine64(this.mixed, key, this.hashHi[b.id]!, this.hashLo[b.id]!);
    return b.weight / -Math.log(unitInterval(this.mixed));
  }

  /** Ranks `candidates` (kept by reference, not copied) for `key`; then call `next`. */
  rank(key: Hash64, candidates: readonly Backend[]): this {
    const n = candidates.length;
    if (this.scores.length < n) this.scores = new Float64Array(n * 2);
    let top = -1;
    for (let i = 0; i < n; i++) {
      const s = this.score(key, candidates[i]!);
      this.scores[i] = s;
      if (top < 0 || s > this.scores[top]!) top = i;
    }
    this.candidates = candidates;
    this.left = n;
    this.top = top < 0 ? undefined : candidates[top];
    return this;
  }

  /** The first-ranked candidate of the last `rank`, however far the walk has gone since. */
  top: Backend | undefined = undefined;

  next(): Backend | undefined {
    if (this.left === 0) return undefined;
    const scores = this.scores;
    let best = -1;
    for (let i = 0; i < this.candidates.length; i++) {
      if (scores[i]! >= 0 && (best < 0 || scores[i]! > scores[best]!)) best = i;
    }
    if (best < 0) return undefined;
    scores[best] = -1; // taken
    this.left--;
    return this.candidates[best];
  }
}
