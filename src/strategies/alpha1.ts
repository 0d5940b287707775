/**
 * alpha1: tail-latency balancing. Power of two choices on a tail-risk score, SLO-aware hedging
 * with a budget, and a feedback loop on the measured p99.
 *
 * Pick: two distinct ready backends drawn at random (Mitzenmacher's power of two choices; tower's
 * p2c), the lower score wins. Every term of the score is in milliseconds:
 *
 *   score = work + beta x interference + gamma x head age
 *   work          = max(latency, head age) x (in-flight + 1)   expected queueing work (tower's
 *                   PeakEwma load); latency is an EWMA (`ewmaAlpha` per sample) of the server's
 *                   own samples. A request in flight longer than that is a censored sample
 *                   saying the latency is at least its age, hence the max.
 *   interference  = EWMA of how far this server's samples exceed its own recent median (C3's
 *                   variance-aware ranking, Suresh et al. 2015, in a cheaper form)
 *   head age      = age of its oldest request still in flight: a server that stopped answering
 *                   looks worse every millisecond, before any request completes or times out
 *
 * Latency and interference decay toward 0 (time constant 2 s) while a server gets no samples,
 * so a server that was slow once is soon cheap enough to be tried, and measured, again. Not the pool's peak-EWMA with its 10 s time constant: in a simulation with random
 * 300 ms stalls, each stall's peak made a healthy server look 20x slower for half a minute and
 * p99 was worse than least_connections'; with these estimates it is better.
 *
 * The original never hedged, mixed seconds with counts in its score, and updated only the
 * winner's state. Here every attempt's outcome updates its own server: a hedge loser cancelled
 * after waiting longer than its median is evidence of interference and counts as such (a
 * censored sample: a wait shorter than the median says nothing and is ignored). A failure
 * (5xx, reset, refused connect, timeout) counts as a latency sample of at least `sloMs`, so a
 * server that fails fast does not pass for the fastest one.
 *
 * Hedging (Dean and Barroso, "The Tail at Scale", 2013; tower's `hedge`): the proxy asks
 * `hedgeDelayMs` for a first attempt; after that long without response headers it calls
 * `tryHedge`, and if allowed sends a copy to another backend (`ctx.hedge`, `ctx.tried`).
 * The delay is the pool's recent p95 scaled by the feedback's eagerness, floored at
 * `minHedgeDelayMs` and never later than `sloMs`. No hedge while fewer than `minHedgeSamples`
 * samples are known, with fewer than two ready backends, or when the budget is empty. The budget
 * is a token bucket that earns `maxHedgeRate` of a token per request and starts empty, with no
 * refill by time, so hedges never exceed `maxHedgeRate` of requests, at any moment. Its last
 * tokens are reserved for requests whose backend has answered nothing for a whole hedge delay
 * (see `tryHedge`).
 *
 * Feedback: every `windowMs` of the injected clock (checked on pick and on outcomes, no timer)
 * the window's p99 is compared with `targetP99Ms`. Above: beta and gamma x1.1 (the original's
 * factors), within [0.1, 1], and the hedge delay x0.9 down to half the p95, but only while the
 * budget refused no hedge in the window (else the delay moves back toward the p95); below: each
 * moves 5% of the way back toward its configured value. Windows with fewer than 10 samples change
 * nothing.
 *
 * Cost per pick: O(1) (two draws, two scores, four `exp`); O(n) only for retries and hedges,
 * which must skip tried backends. Per outcome: O(1), plus a quickselect over at most 64 of the
 * server's samples every 4th sample (its median). Per window: quickselect over at most 1024
 * pool samples. Memory: 1024 pool samples + 64 per backend. No allocation per pick.
 */
import type { Backend, Outcome } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { TokenBucket } from '../util/token-bucket.js';
import { LatencyWindow, rankOf, select } from './latency-window.js';
import { excluded, type PickContext, type Strategy, type StrategyDefinition, type StrategyDeps } from './types.js';
import { alpha1Options } from './alpha1.options.js';

/** Pool samples kept for the hedge delay and the window p99. */
const POOL_SAMPLES = 1024;
/** Samples kept per server for its median and p99. */
const SERVER_SAMPLES = 64;
/** The pool p50/p95 are recomputed after this many new samples (or at a window's end). */
const STATS_EVERY = 64;
/** A server's median is recomputed every this many of its samples. */
const MEDIAN_EVERY = 4;
/** Time constant with which a server's latency and interference decay while it gets no samples. */
const RELAX_MS = 2_000;
/** Fewer samples than this in a window: no feedback step. */
const MIN_WINDOW_SAMPLES = 10;

class Alpha1 implements Strategy {
  readonly name = 'alpha1' as const;
  private readonly pool: Pool;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly o: StrategyDeps['config']['alpha1'];

  // Feedback state.
  beta: number;
  gamma: number;
  /** Multiplies the p95 to get the hedge delay; lower is more eager. */
  hedgeScale = 1;
  /** Hedges refused for lack of budget in the current window. */
  private deniedInWindow = 0;
  private readonly betaMin: number;
  private readonly betaMax: number;
  private readonly gammaMin: number;
  private readonly gammaMax: number;
  private windowStart: number;
  private windowSamplesAt = 0;
  currentP99 = 0;

  // Pool latency statistics.
  private readonly window = new LatencyWindow(POOL_SAMPLES);
  private readonly stats = new Float64Array(2); // [p50, p95]
  private statsAt = -Infinity;

  // Hedging.
  private readonly budget: TokenBucket;
  /** Tokens kept for requests whose backend stopped answering (see tryHedge). */
  private readonly reserve: number;
  totalRequests = 0;
  hedgesSent = 0;
  hedgesWon = 0;

  // Per server, by backend id.
  private samples = new Float64Array(0);
  private samplePos = new Int32Array(0);
  private sampleCount = new Int32Array(0);
  private median = new Float64Array(0);
  private interference = new Float64Array(0);
  private interferenceAt = new Float64Array(0);
  /** EWMA (ewmaAlpha per sample) of each server's latency, its sample count and last update. */
  private ewma = new Float64Array(0);
  private ewmaCount = new Int32Array(0);
  private ewmaAt = new Float64Array(0);
  /** When each server last answered (ok or 5xx): a stalled server stops answering. */
  private answeredAt = new Float64Array(0);
  private readonly scratch = new Float64Array(SERVER_SAMPLES);

  constructor(deps: StrategyDeps) {
    this.pool = deps.pool;
    this.clock = deps.clock;
    this.random = deps.random;
    this.o = deps.config.alpha1;
    this.beta = this.o.beta;
    this.gamma = this.o.gamma;
    this.betaMin = Math.min(0.1, this.o.beta);
    this.betaMax = Math.max(1, this.o.beta);
    this.gammaMin = Math.min(0.1, this.o.gamma);
    this.gammaMax = Math.max(1, this.o.gamma);
    this.windowStart = deps.clock.now();
    // A burst of up to 100 requests' worth of hedges may be saved up; it starts empty so the
    // share holds from the first request on.
    const capacity = Math.max(1, this.o.maxHedgeRate * 200);
    this.budget = new TokenBucket(capacity, 0, deps.clock, 0);
    this.reserve = Math.min(capacity, Math.max(1, capacity / 2));
    this.ensure(0);
  }

  private ensure(id: number): void {
    if (id < this.median.length) return;
    const size = Math.max(8, (id + 1) * 2);
    const samples = new Float64Array(size * SERVER_SAMPLES);
    samples.set(this.samples);
    this.samples = samples;
    const i32 = (a: Int32Array): Int32Array<ArrayBuffer> => {
      const n = new Int32Array(size);
      n.set(a);
      return n;
    };
    const f64 = (a: Float64Array): Float64Array<ArrayBuffer> => {
      const n = new Float64Array(size);
      n.set(a);
      return n;
    };
    this.samplePos = i32(this.samplePos);
    this.sampleCount = i32(this.sampleCount);
    this.median = f64(this.median);
    this.interference = f64(this.interference);
    this.interferenceAt = f64(this.interferenceAt);
    this.ewma = f64(this.ewma);
    this.ewmaCount = i32(this.ewmaCount);
    this.ewmaAt = f64(this.ewmaAt);
    const answered = new Float64Array(size).fill(-Infinity);
    answered.set(this.answeredAt);
    this.answeredAt = answered;
  }

  // ---- scoring -------------------------------------------------------------------------

  private interferenceNow(id: number, now: number): number {
    if (id >= this.interference.length) return 0;
    const v = this.interference[id]!;
    return v === 0 ? 0 : v * Math.exp(-Math.max(0, now - this.interferenceAt[id]!) / RELAX_MS);
  }

  /** Latency assumed for a server never measured: the pool's median, so it is neither flooded nor shunned. */
  private fallbackLatency(): number {
    return this.window.count > 0 ? this.stats[0]! : this.o.sloMs / 2;
  }

  /**
   * The server's typical latency: the EWMA of its own samples, decaying toward zero while it
   * gets none (as tower's and Finagle's peak-EWMA does, with a shorter time constant), so a
   * server that was slow once is soon cheap enough to be tried, and measured, again. Before
   * its first sample: the pool's peak-EWMA, or the pool median.
   */
  private latencyOf(b: Backend, now: number): number {
    const id = b.id;
    if (id < this.ewmaCount.length && this.ewmaCount[id]! > 0) {
      return this.ewma[id]! * Math.exp(-Math.max(0, now - this.ewmaAt[id]!) / RELAX_MS);
    }
    return b.latency.value(now, this.fallbackLatency());
  }

  /**
   * Expected queueing work: latency x (in-flight + 1). A request in flight for longer than the
   * typical latency shows the latency is at least that now (a censored sample), so the head
   * age replaces the estimate when larger: a stalled server's work grows from its first late
   * millisecond, not after its stuck requests finally complete.
   */
  private work(b: Backend, now: number): number {
    const latency = this.latencyOf(b, now);
    const age = this.headAge(b, now);
    return (age > latency ? age : latency) * (b.inflight + 1);
  }

  private headAge(b: Backend, now: number): number {
    const oldest = b.oldestInflightStart();
    return oldest === undefined ? 0 : Math.max(0, now - oldest);
  }

  /** The tail-risk score in ms; lower is better. */
  score(b: Backend, now: number): number {
    return this.work(b, now) + this.beta * this.interferenceNow(b.id, now) + this.gamma * this.headAge(b, now);
  }

  // ---- pick ----------------------------------------------------------------------------

  pick(ctx: PickContext): Backend | undefined {
    const now = this.clock.now();
    this.roll(now);
    const ready = this.pool.ready;
    const n = ready.length;
    if (ctx.tried.length === 0) {
      if (n < 2) return n === 1 ? ready[0] : undefined;
      const i = Math.floor(this.random.next() * n);
      let j = Math.floor(this.random.next() * (n - 1));
      if (j >= i) j++;
      return this.better(ready[i]!, ready[j]!, now);
    }
    // Retries and hedges: draw among the backends this request has not used.
    let m = 0;
    for (let i = 0; i < n; i++) if (!excluded(ctx, ready[i]!)) m++;
    if (m < 2) return m === 1 ? this.nthEligible(ctx, 0) : undefined;
    const i = Math.floor(this.random.next() * m);
    let j = Math.floor(this.random.next() * (m - 1));
    if (j >= i) j++;
    return this.better(this.nthEligible(ctx, i)!, this.nthEligible(ctx, j)!, now);
  }

  private nthEligible(ctx: PickContext, k: number): Backend | undefined {
    const ready = this.pool.ready;
    for (let i = 0; i < ready.length; i++) {
      const b = ready[i]!;
      if (excluded(ctx, b)) continue;
      if (k-- === 0) return b;
    }
    return undefined;
  }

  private better(a: Backend, b: Backend, now: number): Backend {
    return this.score(b, now) < this.score(a, now) ? b : a;
  }

  // ---- outcomes ------------------------------------------------------------------------

  onStart(_b: Backend, ctx: PickContext): void {
    if (ctx.attempt === 0 && !ctx.hedge) {
      this.totalRequests++;
      if (this.o.maxHedgeRate > 0) this.budget.deposit(this.o.maxHedgeRate);
    }
  }

  onEnd(b: Backend, outcome: Outcome): void {
    const now = this.clock.now();
    const id = b.id;
    this.ensure(id);
    const x = outcome.latencyMs;
    if (outcome.kind === 'ok' || outcome.kind === 'http_5xx') this.answeredAt[id] = now;
    if (outcome.kind === 'ok') {
      // The first sample has no median to exceed.
      if (this.sampleCount[id]! > 0) this.updateInterference(id, Math.max(0, x - this.median[id]!), now);
      this.addServerSample(id, x);
      this.window.add(x);
      this.addLatency(b, x, now);
    } else {
      if (outcome.kind === 'timeout' || outcome.kind === 'reset' || outcome.kind === 'cancelled') {
        // Censored: it took at least x. Only a wait past the median says anything.
        if (this.sampleCount[id]! > 0 && x > this.median[id]!) this.updateInterference(id, x - this.median[id]!, now);
      }
      // A failure (5xx, reset, refused connect, timeout) costs its client an error or a retry,
      // so it enters the server's latency EWMA as a sample of at least the SLO. Without it a
      // server failing fast has no sample, is assumed as fast as the pool's median, and wins
      // most comparisons: through the proxy it drew 79 of 120 requests over three backends.
      // A hedge loser or a client gone (`cancelled`) says nothing about the server's health.
      if (outcome.kind !== 'cancelled') this.addLatency(b, Math.max(x, this.o.sloMs), now);
    }
    this.roll(now);
  }

  /** One sample into the server's own latency EWMA. */
  private addLatency(b: Backend, x: number, now: number): void {
    const id = b.id;
    const a = this.o.ewmaAlpha;
    this.ewma[id] = this.ewmaCount[id] === 0 ? x : this.latencyOf(b, now) * (1 - a) + x * a;
    this.ewmaCount[id]!++;
    this.ewmaAt[id] = now;
  }

  private updateInterference(id: number, excess: number, now: number): void {
    const a = this.o.ewmaAlpha;
    this.interference[id] = this.interferenceNow(id, now) * (1 - a) + excess * a;
    this.interferenceAt[id] = now;
  }

  private addServerSample(id: number, x: number): void {
    const base = id * SERVER_SAMPLES;
    const pos = this.samplePos[id]!;
    this.samples[base + pos] = x;
    this.samplePos[id] = pos + 1 === SERVER_SAMPLES ? 0 : pos + 1;
    const count = Math.min(SERVER_SAMPLES, this.sampleCount[id]! + 1);
    this.sampleCount[id] = count;
    if (count <= MEDIAN_EVERY || this.samplePos[id]! % MEDIAN_EVERY === 0) this.median[id] = this.serverQuantile(id, 0.5);
  }

  /** Quantile of a server's recent samples (0 when none). */
  private serverQuantile(id: number, q: number): number {
    const count = id < this.sampleCount.length ? this.sampleCount[id]! : 0;
    if (count === 0) return 0;
    const base = id * SERVER_SAMPLES;
    for (let i = 0; i < count; i++) this.scratch[i] = this.samples[base + i]!;
    return select(this.scratch, count, rankOf(q, count));
  }

  // ---- feedback ------------------------------------------------------------------------

  /** Refreshes cached pool quantiles and, when a window has passed, runs one feedback step. */
  private roll(now: number): void {
    if (this.window.added - this.statsAt >= STATS_EVERY) this.refreshStats();
    if (now - this.windowStart < this.o.windowMs) return;
    const fresh = this.window.added - this.windowSamplesAt;
    if (fresh >= MIN_WINDOW_SAMPLES) {
      this.currentP99 = this.window.quantile(0.99, fresh);
      if (this.currentP99 > this.o.targetP99Ms) {
        this.beta = Math.min(this.betaMax, Math.max(this.betaMin, this.beta * 1.1));
        this.gamma = Math.min(this.gammaMax, Math.max(this.gammaMin, this.gamma * 1.1));
        // Hedge earlier only while the budget has tokens to spare: once it binds, an earlier
        // delay makes more requests late than there are tokens, and the tokens go to whichever
        // are late first instead of the ones that will be very late (in the stragglers
        // simulation, p99 167 ms instead of 67 ms). So back off toward the p95 instead.
        if (this.deniedInWindow === 0) this.hedgeScale = Math.max(0.5, this.hedgeScale * 0.9);
        else this.hedgeScale = 1 + (this.hedgeScale - 1) * 0.5;
      } else {
        this.beta = this.o.beta + (this.beta - this.o.beta) * 0.95;
        this.gamma = this.o.gamma + (this.gamma - this.o.gamma) * 0.95;
        this.hedgeScale = 1 + (this.hedgeScale - 1) * 0.95;
      }
    }
    this.windowStart = now;
    this.windowSamplesAt = this.window.added;
    this.deniedInWindow = 0;
    this.refreshStats();
  }

  private refreshStats(): void {
    this.window.quantiles2(0.5, 0.95, this.stats);
    this.statsAt = this.window.added;
  }

  // ---- hedging -------------------------------------------------------------------------

  /** ms after which the first attempt should be hedged, or -1 for no hedge. */
  hedgeDelayMs(_ctx: PickContext): number {
    this.roll(this.clock.now());
    if (this.pool.ready.length < 2) return -1;
    if (this.window.count < this.o.minHedgeSamples) return -1;
    if (this.budget.available < 1) return -1;
    return this.currentHedgeDelay();
  }

  private currentHedgeDelay(): number {
    return Math.min(this.o.sloMs, Math.max(this.o.minHedgeDelayMs, this.stats[1]! * this.hedgeScale));
  }

  /**
   * The hedge timer fired: true (and a budget token spent) when a copy may go out now.
   * `ctx.tried` must hold the first attempt's backend. Tokens above the reserve go to any late
   * request; the last `reserve` tokens only to requests whose backend has answered nothing for
   * a whole hedge delay (it looks stalled), because those are the requests that become the
   * tail, while a late answer from a backend that keeps answering is usually just its normal
   * spread (a slow backend's p95) and would otherwise drain the budget before a stall comes.
   */
  tryHedge(ctx: PickContext): boolean {
    const ready = this.pool.ready;
    let other = false;
    for (let i = 0; i < ready.length && !other; i++) other = !excluded(ctx, ready[i]!);
    if (!other) return false;
    const first = ctx.tried.length > 0 ? ctx.tried[0]! : undefined;
    const now = this.clock.now();
    const quiet = first === undefined || now - this.answeredAtOf(first.id) >= this.currentHedgeDelay();
    if ((!quiet && this.budget.available < this.reserve + 1) || !this.budget.take()) {
      this.deniedInWindow++;
      return false;
    }
    this.hedgesSent++;
    return true;
  }

  private answeredAtOf(id: number): number {
    return id < this.answeredAt.length ? this.answeredAt[id]! : -Infinity;
  }

  onHedgeResult(hedgeWon: boolean): void {
    if (hedgeWon) this.hedgesWon++;
  }

  // ---- metrics -------------------------------------------------------------------------

  serverMetrics(b: Backend): Record<string, unknown> {
    const now = this.clock.now();
    return {
      work_queue_ewma: round1(this.work(b, now)),
      interference_signal: round1(this.interferenceNow(b.id, now)),
      head_request_age: round1(this.headAge(b, now)),
      server_p99_ms: round1(this.serverQuantile(b.id, 0.99)),
    };
  }

  globalMetrics(): Record<string, unknown> {
    this.roll(this.clock.now());
    return {
      beta: Math.round(this.beta * 1000) / 1000,
      gamma: Math.round(this.gamma * 1000) / 1000,
      hedge_rate: this.totalRequests === 0 ? 0 : Math.round((this.hedgesSent / this.totalRequests) * 10_000) / 100,
      hedges_sent: this.hedgesSent,
      hedges_won: this.hedgesWon,
      hedge_delay_ms: this.window.count < this.o.minHedgeSamples ? null : round1(this.currentHedgeDelay()),
      total_requests: this.totalRequests,
      current_p99_ms: round1(this.currentP99),
      target_p99_ms: this.o.targetP99Ms,
      slo_threshold_ms: this.o.sloMs,
    };
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

export const alpha1: StrategyDefinition<'alpha1', typeof alpha1Options> = {
  name: 'alpha1',
  options: alpha1Options,
  needs: () => 'none',
  hedging: (config) => ({ maxBodyBytes: config.alpha1.maxHedgeBodyBytes, idempotentHeader: config.alpha1.idempotentHeader }),
  summary: 'power of two choices on a tail-risk score (ms), SLO-aware budgeted hedging, p99 feedback',
  create: (deps) => new Alpha1(deps),
};
