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
 * With `weightSource: orca` the configured weight is replaced by a weight from the backends'
 * own load reports (reported-weights.ts: gRPC's qps / (utilization + penalty x eps / qps),
 * with its blackout and expiry); a backend without a usable one gets the mean of those that
 * have one, and with fewer than two usable the configured weights apply (A58 falls back to
 * round robin). The failure factor still multiplies it: a backend failing connections sends no
 * reports, and its last one would otherwise keep its share until it expires.
 *
 * Cost per pick: O(n) smooth WRR over the ready backends, no allocation. Effective weights are
 * recomputed (O(n), a few `exp` each) at most every 100 ms of the clock (orca: every
 * weightUpdateMs), on a pool change, and right after a failed attempt, so a penalty is never late.
 */
import type { Backend, Outcome } from '../pool/backend.js';
import type { LoadReport } from '../orca/report.js';
import { ReportedWeights } from './reported-weights.js';
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
  /** Null when the weights come from the config. */
  private readonly reported: ReportedWeights | null;
  private readonly refreshMs: number;
  /** By backend id: the weight the factor multiplies (configured, or from reports). */
  private base = new Float64Array(0);
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
    const o = deps.config.weighted_round_robin;
    this.recoveryMs = o.recoveryMs;
    this.reported =
      o.weightSource === 'orca'
        ? new ReportedWeights({ blackoutMs: o.blackoutMs, expirationMs: o.weightExpirationMs, errorUtilizationPenalty: o.errorUtilizationPenalty })
        : null;
    this.refreshMs = this.reported === null ? REFRESH_MS : o.weightUpdateMs;
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
    this.base = grow(this.base, (n) => new Float64Array(n));
  }

  /** Each ready backend's base weight: configured, or reported (mean-filled; configured when fewer than two report). */
  private refreshBase(now: number): void {
    const ready = this.pool.ready;
    const base = this.base;
    const rw = this.reported;
    let usable = 0;
    let sum = 0;
    if (rw !== null) {
      for (let i = 0; i < ready.length; i++) {
        const w = rw.weightAt(ready[i]!, now);
        base[ready[i]!.id] = w;
        if (w > 0) {
          usable++;
          sum += w;
        }
      }
    }
    if (rw === null || usable < 2) {
      for (let i = 0; i < ready.length; i++) base[ready[i]!.id] = ready[i]!.weight;
      return;
    }
    const mean = sum / usable;
    for (let i = 0; i < ready.length; i++) if (base[ready[i]!.id] === 0) base[ready[i]!.id] = mean;
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
    this.refreshBase(now);
    this.refreshedAt = now;
    this.dirty = false;
  }

  pick(ctx: PickContext): Backend | undefined {
    const now = this.clock.now();
    if (this.dirty || this.seenVersion !== this.pool.version || now - this.refreshedAt >= this.refreshMs) this.refresh(now);
    const ready = this.pool.ready;
    const current = this.current;
    const factor = this.factor;
    const base = this.base;
    let total = 0;
    let best: Backend | undefined;
    for (let i = 0; i < ready.length; i++) {
      const b = ready[i]!;
      if (excluded(ctx, b)) continue;
      const w = base[b.id]! * factor[b.id]!;
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

  onLoadReport(b: Backend, report: LoadReport): void {
    this.reported?.onReport(b, report, this.clock.now());
  }

  /**
   * `weight`: the effective weight now (base weight x factor, 3 decimals); with orca also
   * `reported_weight`, the backend's usable reported weight (null: none yet, in its blackout, or
   * expired) and `weight_source`.
   */
  serverMetrics(b: Backend): Record<string, unknown> {
    const now = this.clock.now();
    if (this.seenVersion !== this.pool.version || now - this.refreshedAt >= this.refreshMs) this.refresh(now);
    const known = b.id < this.known.length && this.known[b.id] === 1;
    const f = known ? this.factor[b.id]! : this.target(b, now);
    const base = known && b.ready ? this.base[b.id]! : b.weight;
    const out: Record<string, unknown> = { weight: Math.round(base * f * 1000) / 1000 };
    if (this.reported !== null) {
      const w = this.reported.weightAt(b, now);
      out.reported_weight = w === 0 ? null : Math.round(w * 1000) / 1000;
      out.weight_source = 'orca';
    }
    return out;
  }
}

export const weightedRoundRobin: StrategyDefinition<'weighted_round_robin', typeof weightedRoundRobinOptions> = {
  name: 'weighted_round_robin',
  options: weightedRoundRobinOptions,
  needs: () => 'none',
  summary: 'smooth weighted round robin, weights follow the decaying failure history and recover gradually',
  create: (deps) => new WeightedRoundRobin(deps),
};
