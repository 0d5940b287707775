/**
 * health_score (HS-BS): each ready backend gets a score in [0, 1] and the highest takes the
 * request; ties (scores within 0.01 of the best) rotate, as in least_connections.
 *
 *   score = (ws * success + wl * load + wt * latency) / (ws + wl + wt)
 *   success = (s + 1) / (s + f + 1)            s, f: the pool's decaying successes and failures
 *                                               (proxy outcomes and health checks)
 *   load    = (lmin + 1) / (l + 1)             l = in-flight / weight, lmin the least loaded
 *   latency = (tmin + 1) / (t + 1)             t = peak-EWMA latency in ms, tmin the fastest
 *
 * The original read a failure counter that stayed 0 for healthy servers, so its score never
 * moved; here every term is live. The success rate starts from one virtual success so a fresh
 * backend scores 1 and a single failure halves that term rather than zeroing it, and because
 * both counts decay with the pool's half-life the rate recovers as old failures fade. A backend
 * with no latency sample is scored as fast as the fastest, so it gets tried and measured. Each
 * term is a ratio to the best backend, which keeps the score in [0, 1] whatever the units.
 * A weighted blend of health, load and latency is the usual "composite score" balancer (e.g.
 * Envoy's and NGINX Plus's least-time with health penalties); it has no single paper.
 *
 * Cost per pick: O(n) over the ready backends, three passes, about three `exp` per backend
 * (decay of the counters and latency), no allocation.
 */
import type { Backend } from '../pool/backend.js';
import type { Clock } from '../util/clock.js';
import { excluded, type PickContext, type Strategy, type StrategyDefinition, type StrategyDeps } from './types.js';
import { healthScoreOptions } from './health-score.options.js';

/**
 * Scores within this of the best are ties and rotate. Without a band, a strict maximum sends
 * every request of a sequential load to whichever backend is ahead by a rounding error (one old
 * failure among hundreds of successes) and starves the rest; 0.01 is below anything the
 * metric, shown to 3 decimals, would call a difference worth acting on.
 */
const TIE_BAND = 0.01;

class HealthScore implements Strategy {
  readonly name = 'health_score' as const;
  private readonly pool: StrategyDeps['pool'];
  private readonly clock: Clock;
  private readonly ws: number;
  private readonly wl: number;
  private readonly wt: number;
  private rotation = 0;
  /** Scores of the current pick by ready index; grown with the pool, reused across picks. */
  private scores = new Float64Array(8);
  /** Set by `scan` for `score`: least load and fastest latency among the candidates. */
  private minLoad = 0;
  private minLatency = 0;

  constructor(deps: StrategyDeps) {
    this.pool = deps.pool;
    this.clock = deps.clock;
    const o = deps.config.health_score;
    const sum = o.successWeight + o.loadWeight + o.latencyWeight;
    this.ws = o.successWeight / sum;
    this.wl = o.loadWeight / sum;
    this.wt = o.latencyWeight / sum;
  }

  /** Fills minLoad and minLatency over the ready backends not excluded by `ctx`. */
  private scan(ctx: PickContext | undefined, now: number): void {
    const ready = this.pool.ready;
    let minLoad = Infinity;
    let minLatency = Infinity;
    for (let i = 0; i < ready.length; i++) {
      const b = ready[i]!;
      if (ctx !== undefined && excluded(ctx, b)) continue;
      const load = b.inflight / b.weight;
      if (load < minLoad) minLoad = load;
      if (b.latency.count > 0) {
        const t = b.latency.value(now);
        if (t < minLatency) minLatency = t;
      }
    }
    this.minLoad = minLoad === Infinity ? 0 : minLoad;
    this.minLatency = minLatency === Infinity ? 0 : minLatency;
  }

  /** The score of `b` against the last `scan`. */
  private score(b: Backend, now: number): number {
    const s = b.successes.value(now);
    const f = b.failures.value(now);
    const success = (s + 1) / (s + f + 1);
    const load = (this.minLoad + 1) / (b.inflight / b.weight + 1);
    const t = b.latency.count > 0 ? b.latency.value(now) : this.minLatency;
    const latency = (this.minLatency + 1) / (t + 1);
    return this.ws * success + this.wl * Math.min(1, load) + this.wt * Math.min(1, latency);
  }

  pick(ctx: PickContext): Backend | undefined {
    const ready = this.pool.ready;
    const n = ready.length;
    if (n === 0) return undefined;
    const now = this.clock.now();
    this.scan(ctx, now);
    if (this.scores.length < n) this.scores = new Float64Array(n * 2);
    const scores = this.scores;
    let bestScore = -1;
    for (let i = 0; i < n; i++) {
      const b = ready[i]!;
      const score = excluded(ctx, b) ? -1 : this.score(b, now);
      scores[i] = score;
      if (score > bestScore) bestScore = score;
    }
    if (bestScore < 0) return undefined;
    // The first backend within the tie band, scanning from one past the previous choice.
    const start = this.rotation % n;
    for (let k = 0; k < n; k++) {
      const i = start + k < n ? start + k : start + k - n;
      if (scores[i]! >= bestScore - TIE_BAND) {
        this.rotation = i + 1;
        return ready[i];
      }
    }
    return undefined;
  }

  /** `health_score` as the pick would see it now (3 decimals); not-ready backends are scored too. */
  serverMetrics(b: Backend): Record<string, unknown> {
    const now = this.clock.now();
    this.scan(undefined, now);
    return { health_score: Math.round(this.score(b, now) * 1000) / 1000 };
  }
}

export const healthScore: StrategyDefinition<'health_score', typeof healthScoreOptions> = {
  name: 'health_score',
  options: healthScoreOptions,
  needs: () => 'none',
  summary: 'highest score from decaying success rate, relative load and relative latency',
  create: (deps) => new HealthScore(deps),
};
