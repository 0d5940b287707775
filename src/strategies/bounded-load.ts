/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, SODA 2018), as a
 * filter over any candidate order (Envoy wraps its hashing balancers the same way; HAProxy's
 * `chash_server_is_eligible` is the same rule): a backend is eligible for one more request only
 * if its in-flight count after taking it stays within its capacity
 *
 *   capacity(b) = max(floor, ceil(c x (T + 1) x w_b / W))
 *
 * with c the load factor, T the requests in flight over the candidate set, W its total weight.
 * Walking the hash order and taking the first eligible backend keeps the maximum load within
 * c times the average while moving as few keys as possible off their first choice. Some backend
 * is always eligible: the capacities sum to at least c(T + 1) > T.
 *
 * The floor is Ballast's addition. At light load the paper's bound is tight in absolute terms:
 * with 3 backends and 2 requests in flight, ceil(1.25 x 3 / 3) = 2, so a third request for a
 * popular key is sent away from the backend that has it cached although that backend is nearly
 * idle (HAProxy's `hash-balance-factor` behaves exactly so, and loses affinity under light
 * traffic). A backend with fewer than `floor` requests in flight is therefore always eligible.
 * The guarantee becomes max load <= max(floor, ceil(c x average)): unchanged once the average
 * passes floor / c, when overload starts to matter, and at most `floor` requests otherwise,
 * which no server notices. beta1's tests show both halves.
 *
 * Cost: `begin` is O(n) per pick (sums over the candidates); `eligible` is O(1).
 */
import type { Backend } from '../pool/backend.js';
import type { CandidateOrder } from './rendezvous.js';

export class BoundedLoad {
  private total = 0;
  private totalWeight = 0;

  constructor(
    readonly factor: number,
    readonly floor: number,
  ) {}

  /** Takes the load of the candidate set (e.g. the ready backends) for the coming decisions. */
  begin(candidates: readonly Backend[]): void {
    let total = 0;
    let weight = 0;
    for (let i = 0; i < candidates.length; i++) {
      total += candidates[i]!.inflight;
      weight += candidates[i]!.weight;
    }
    this.total = total;
    this.totalWeight = weight;
  }

  /** Most requests `b` may have in flight, the next one included. */
  capacity(b: Backend): number {
    if (this.totalWeight === 0) return this.floor;
    // The epsilon keeps float noise (2.0000000000000004) from adding a whole request.
    const bound = Math.ceil((this.factor * (this.total + 1) * b.weight) / this.totalWeight - 1e-9);
    return bound > this.floor ? bound : this.floor;
  }

  eligible(b: Backend): boolean {
    return b.inflight + 1 <= this.capacity(b);
  }

  /**
   * The first candidate of `order` that `accept` allows and that is eligible, walking at most
   * `order.size` steps (the loop guard); undefined when none is. `skippedForLoad` counts the
   * accepted candidates passed over for load during the last walk.
   */
  firstEligible(order: CandidateOrder, accept: (b: Backend) => boolean): Backend | undefined {
    this.skippedForLoad = 0;
    for (let step = 0; step < order.size; step++) {
      const b = order.next();
      if (b === undefined) return undefined;
      if (!accept(b)) continue;
      if (this.eligible(b)) return b;
      this.skippedForLoad++;
    }
    return undefined;
  }

  skippedForLoad = 0;
}
