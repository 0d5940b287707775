/**
 * response_time (RRT-BS): the ready backend with the lowest expected wait, where
 *
 *   cost = (latency + 1 ms) x (in-flight + 1) / weight x (1 + 9 x failure share)
 *
 * latency is the pool's peak-EWMA of time to response headers (Finagle's and tower's
 * `PeakEwma` load: a slower sample replaces the estimate at once, faster ones pull it down with
 * the pool's time constant, 10 s by default). Multiplying by in-flight + 1 is tower's
 * `PeakEwma::load`: it prices the queue a new request would join, so a fast backend is not
 * flooded. Ties rotate, as in least_connections.
 *
 * Why a slow sample cannot starve a backend (the original's bug: one slow response and it was
 * never picked again): the estimate decays toward zero while no sample arrives, and on top of
 * that an idle backend with no sample for `exploreAfterMs` is sent one probe request, so its
 * estimate is refreshed from a real response within seconds rather than never.
 * The 1 ms floor keeps a fully decayed estimate from making in-flight count irrelevant.
 * The failure share f / (s + f + 1) (the pool's decaying counters) matters because failed
 * attempts give no latency sample: a backend refusing connections in 1 ms would otherwise look
 * like the fastest one and draw everything until outlier detection ejects it.
 *
 * A backend never measured is priced like the best measured one, so it is tried early.
 *
 * Cost per pick: O(n) over the ready backends, about four `exp` each, no allocation.
 */
import type { Backend } from '../pool/backend.js';
import type { Clock } from '../util/clock.js';
import { excluded, type PickContext, type Strategy, type StrategyDefinition, type StrategyDeps } from './types.js';
import { responseTimeOptions } from './response-time.options.js';

class ResponseTime implements Strategy {
  readonly name = 'response_time' as const;
  private readonly pool: StrategyDeps['pool'];
  private readonly clock: Clock;
  private readonly defaultLatencyMs: number;
  private readonly exploreAfterMs: number;
  private readonly createdAt: number;
  private rotation = 0;
  /** When each backend (by id) was last sent a probe; grown on demand. */
  private probedAt = new Float64Array(8).fill(-Infinity);
  /** Probes sent so far (for tests and curiosity). */
  probes = 0;

  constructor(deps: StrategyDeps) {
    this.pool = deps.pool;
    this.clock = deps.clock;
    this.defaultLatencyMs = deps.config.response_time.defaultLatencyMs;
    this.exploreAfterMs = deps.config.response_time.exploreAfterMs;
    this.createdAt = deps.clock.now();
  }

  private cost(b: Backend, now: number, unmeasured: number): number {
    const latency = b.latency.value(now, unmeasured);
    const s = b.successes.value(now);
    const f = b.failures.value(now);
    return ((latency + 1) * (b.inflight + 1) * (1 + (9 * f) / (s + f + 1))) / b.weight;
  }

  /** Idle and unmeasured for `exploreAfterMs` (since its last sample, probe, or our start). */
  private due(b: Backend, now: number): boolean {
    if (this.exploreAfterMs === 0 || b.inflight !== 0) return false;
    if (b.id >= this.probedAt.length) {
      const grown = new Float64Array(Math.max(b.id + 1, this.probedAt.length * 2)).fill(-Infinity);
      grown.set(this.probedAt);
      this.probedAt = grown;
    }
    const sampled = b.latency.count > 0 ? b.latency.lastSampleAt : -Infinity;
    const last = Math.max(sampled, this.probedAt[b.id]!, this.createdAt, b.readySince);
    return now - last >= this.exploreAfterMs;
  }

  pick(ctx: PickContext): Backend | undefined {
    const ready = this.pool.ready;
    const n = ready.length;
    if (n === 0) return undefined;
    const now = this.clock.now();
    // A backend with no sample yet is priced like the best measured one (defaultLatencyMs when
    // none is): optimistic, so it is tried soon and its first sample tells the truth, instead
    // of waiting for a probe while a measured backend under the default takes everything.
    let unmeasured = Infinity;
    for (let i = 0; i < n; i++) {
      const l = ready[i]!.latency;
      if (l.count > 0) unmeasured = Math.min(unmeasured, l.value(now));
    }
    if (unmeasured === Infinity) unmeasured = this.defaultLatencyMs;
    const start = this.rotation % n;
    let best: Backend | undefined;
    let bestIndex = 0;
    let bestCost = Infinity;
    for (let k = 0; k < n; k++) {
      const i = start + k < n ? start + k : start + k - n;
      const b = ready[i]!;
      if (excluded(ctx, b)) continue;
      if (this.due(b, now)) {
        this.probedAt[b.id] = now;
        this.probes++;
        this.rotation = i + 1;
        return b;
      }
      const cost = this.cost(b, now, unmeasured);
      if (cost < bestCost) {
        best = b;
        bestCost = cost;
        bestIndex = i;
      }
    }
    if (best !== undefined) this.rotation = bestIndex + 1;
    return best;
  }

  /** `avg_response_time`: the peak-EWMA estimate now, in ms (0 before any sample). */
  serverMetrics(b: Backend): Record<string, unknown> {
    return { avg_response_time: Math.round(b.latency.value(this.clock.now(), 0) * 10) / 10 };
  }
}

export const responseTime: StrategyDefinition<'response_time', typeof responseTimeOptions> = {
  name: 'response_time',
  options: responseTimeOptions,
  needs: () => 'none',
  summary: 'lowest peak-EWMA latency x (in-flight + 1), idle unmeasured backends probed now and then',
  create: (deps) => new ResponseTime(deps),
};
