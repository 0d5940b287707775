/**
 * round_robin: each ready backend in turn, in proportion to its weight.
 *
 * Equal weights: a plain rotation, O(1) per pick. Unequal weights: nginx's smooth weighted
 * round robin (each pick adds every weight to its backend's counter, takes the largest and
 * subtracts the total), which interleaves (a,a,b with 2:1 becomes a,b,a) instead of sending
 * bursts to the heaviest; O(n) per pick. The rotation starts at a random index (and the smooth
 * sequence breaks ties from a random index) so a fleet of balancers started together does not
 * move in lockstep (grpc-go does the same).
 * Backends not ready, or already tried by this request, are skipped.
 */
import type { Backend } from '../pool/backend.js';
import { randomInt } from '../util/random.js';
import { excluded, type PickContext, type Strategy, type StrategyDefinition, type StrategyDeps } from './types.js';
import { roundRobinOptions } from './round-robin.options.js';

class RoundRobin implements Strategy {
  readonly name = 'round_robin' as const;
  private readonly pool: StrategyDeps['pool'];
  private next: number;
  /** Smooth-WRR counters by backend id; rebuilt when the ready set changes. */
  private current: Float64Array = new Float64Array(0);
  private uniform = true;
  private seenVersion = -1;
  /** Where the smooth scan starts, so ties break in a per-balancer random order. */
  private offset = 0;

  constructor(deps: StrategyDeps) {
    this.pool = deps.pool;
    this.next = randomInt(deps.random, 1 << 30);
  }

  private refresh(): void {
    const ready = this.pool.ready;
    this.seenVersion = this.pool.version;
    this.uniform = ready.every((b) => b.weight === ready[0]!.weight);
    let maxId = 0;
    for (const b of this.pool.backends) if (b.id > maxId) maxId = b.id;
    if (this.current.length <= maxId) this.current = new Float64Array(maxId + 1);
    else this.current.fill(0);
    // Desynchronise a fleet by where ties are broken, not by skipping into the sequence: a
    // sequence entered mid-cycle can burst (weights 5:1:1 entered at its 5th pick sends four
    // in a row to the heavy backend), while any tie order keeps every prefix within one pick.
    this.offset = this.next % Math.max(1, ready.length);
  }

  pick(ctx: PickContext): Backend | undefined {
    if (this.seenVersion !== this.pool.version) this.refresh();
    const ready = this.pool.ready;
    const n = ready.length;
    if (n === 0) return undefined;
    if (!this.uniform) return this.smooth(ctx);
    for (let i = 0; i < n; i++) {
      const b = ready[this.next++ % n]!;
      if (this.next >= 1 << 30) this.next = 0;
      if (!excluded(ctx, b)) return b;
    }
    return undefined;
  }

  private smooth(ctx: PickContext | undefined): Backend | undefined {
    const ready = this.pool.ready;
    const current = this.current;
    let total = 0;
    let best: Backend | undefined;
    const n = ready.length;
    for (let k = 0; k < n; k++) {
      const i = this.offset + k < n ? this.offset + k : this.offset + k - n;
      const b = ready[i]!;
      if (ctx !== undefined && excluded(ctx, b)) continue;
      current[b.id]! += b.weight;
      total += b.weight;
      if (best === undefined || current[b.id]! > current[best.id]!) best = b;
    }
    if (best !== undefined) current[best.id]! -= total;
    return best;
  }
}

export const roundRobin: StrategyDefinition<'round_robin', typeof roundRobinOptions> = {
  name: 'round_robin',
  options: roundRobinOptions,
  needs: () => 'none',
  summary: 'each ready backend in turn, smooth weighted interleaving',
  create: (deps) => new RoundRobin(deps),
};
