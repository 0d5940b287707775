/**
 * weighted_round_robin (HF-WRR, history-of-failures weighted round robin): smooth weighted
 * round robin (nginx's interleaving) over effective weights that follow each backend's
 * decaying failure history.
 *
 *   target  = max(minWeightFactor, 1 - f / (s + f + 1))   s, f: the pool's decaying successes
 *                                                         and failures (proxy and health checks)
 *   factor  drops to the target at once, and climbs toward it by at most
 *           (1 - minWeightFactor) / recoveryMs per ms
 *   weight  = configured weight x factor
 *
 * The original read a failure counter that stayed 0 for healthy servers, so its weights never
 * moved; and a weight snapping back in one step sends a just-recovered server its whole share
 * at once, the moment it is most likely to fail again. So a penalty applies immediately but
 * recovery is a ramp, as nginx's `effective_weight` climbs back one step per pick after a
 * failure and Envoy's slow start ramps a new host. A backend that returns after being down
 * (the pool's `readySince`) starts its ramp at the floor; start-up backends start at full.
 * The virtual success in the denominator makes old failures fade to nothing even without new
 * traffic, since both counts decay with the pool's half-life.
 *
 * Cost per pick: O(n) smooth WRR over the ready backends, no allocation. Effective weights are
 * recomputed (O(n), a few `exp` each) at most every 100 ms of the clock, on a pool change, and
 * right after a failed attempt, so a penalty is never late.
 */
import type { Backend, Outcome } from '../pool/backend.js';
import type { Clock } from '../util/clock.js';
import { excluded, type PickContext, type Strategy, type StrategyDefinition, type StrategyDeps } from './types.js';
import { weightedRoundRobinOptions } from './weighted-round-robin.options.js';

/** Effective weights are held this long between recomputations (ms of the strategy's clock). */
const REFRESH_MS = 100;

class WeightedRoundRobin implements Strategy {
  readonly name = 'weighted_round_robin' as const;
  private readonly pool: StrategyDeps['pool'];
  private readonly clock: Clock;
  private readonly minFactor: number;
  private readonly recoveryMs: number;
  /** By backend id: factor in [minFactor, 1], when it was last updated, the readySince it saw. */
  private factor = new Float64Array(0);
  private factorAt = new Float64Array(0);
  private seenReadySince = new Float64Array(0);
  private known = new Uint8Array(0);
  /** Smooth-WRR counters by backend id. */
  private current = new Float64Array(0);
  private seenVersion = -1;
  private refreshedAt = -Infinity;
  private dirty = true;

  constructor(deps: StrategyDeps) {
    this.pool = deps.pool;
    this.clock = deps.clock;
    this.minFactor = deps.config.weighted_round_robin.minWeightFactor;
    this.recoveryMs = deps.config.weighted_round_robin.recoveryMs;
  }

  private target(b: Backend, now: number): number {
    const s = b.successes.value(now);
    const f = b.failures.value(now);
    return Math.max(this.minFactor, 1 - f / (s + f + 1));
  }

  private grow(maxId: number): void {
    if (maxId < this.factor.length) return;
    const size = Math.max(8, (maxId + 1) * 2);
    const grow = <T extends Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(a);
      return next;
    };
    this.factor = grow(this.factor, (n) => new Float64Array(n));
    this.factorAt = grow(this.factorAt, (n) => new Float64Array(n));
    this.seenReadySince = grow(this.seenReadySince, (n) => new Float64Array(n));
    this.known = grow(this.known, (n) => new Uint8Array(n));
    this.current = grow(this.current, (n) => new Float64Array(n));
  }

  /** Brings every ready backend's factor up to `now`. */
  private refresh(now: number): void {
    const ready = this.pool.ready;
    if (this.seenVersion !== this.pool.version) {
      this.seenVersion = this.pool.version;
      let maxId = 0;
      for (const b of this.pool.backends) if (b.id > maxId) maxId = b.id;
      this.grow(maxId);
      // A new ready set starts a new smooth cycle.
      this.current.fill(0);
    }
    const span = 1 - this.minFactor;
    for (let i = 0; i < ready.length; i++) {
      const b = ready[i]!;
      const id = b.id;
      const target = this.target(b, now);
      if (this.known[id] === 0 || this.seenReadySince[id] !== b.readySince) {
        // First sight, or a return after being down: where the ramp from the floor would be now.
        const since = b.readySince;
        const ramp = since === -Infinity || this.recoveryMs === 0 ? 1 : this.minFactor + (span * Math.max(0, now - since)) / this.recoveryMs;
        this.factor[id] = Math.min(target, ramp, 1);
        this.known[id] = 1;
        this.seenReadySince[id] = since;
      } else if (target <= this.factor[id]!) {
        this.factor[id] = target;
      } else {
        const step = this.recoveryMs === 0 ? 1 : (span * Math.max(0, now - this.factorAt[id]!)) / this.recoveryMs;
        this.factor[id] = Math.min(target, this.factor[id]! + step);
      }
      this.factorAt[id] = now;
    }
    this.refreshedAt = now;
    this.dirty = false;
  }

  pick(ctx: PickContext): Backend | undefined {
    const now = this.clock.now();
    if (this.dirty || this.seenVersion !== this.pool.version || now - this.refreshedAt >= REFRESH_MS) this.refresh(now);
    const ready = this.pool.ready;
    const current = this.current;
    const factor = this.factor;
    let total = 0;
    let best: Backend | undefined;
    for (let i = 0; i < ready.length; i++) {
      const b = ready[i]!;
      if (excluded(ctx, b)) continue;
      const w = b.weight * factor[b.id]!;
      current[b.id]! += w;
      total += w;
      if (best === undefined || current[b.id]! > current[best.id]!) best = b;
    }
    if (best !== undefined) current[best.id]! -= total;
    return best;
  }

  onEnd(_b: Backend, outcome: Outcome): void {
    // A failure lowers the target: apply it on the next pick rather than up to 100 ms late.
    if (outcome.kind !== 'ok' && outcome.kind !== 'cancelled') this.dirty = true;
  }

  /** `weight`: the effective weight now (configured weight x factor, 3 decimals). */
  serverMetrics(b: Backend): Record<string, unknown> {
    const now = this.clock.now();
    if (this.seenVersion !== this.pool.version || now - this.refreshedAt >= REFRESH_MS) this.refresh(now);
    const f = b.id < this.known.length && this.known[b.id] === 1 ? this.factor[b.id]! : this.target(b, now);
    return { weight: Math.round(b.weight * f * 1000) / 1000 };
  }
}

export const weightedRoundRobin: StrategyDefinition<'weighted_round_robin', typeof weightedRoundRobinOptions> = {
  name: 'weighted_round_robin',
  options: weightedRoundRobinOptions,
  needs: () => 'none',
  summary: 'smooth weighted round robin, weights follow the decaying failure history and recover gradually',
  create: (deps) => new WeightedRoundRobin(deps),
};
