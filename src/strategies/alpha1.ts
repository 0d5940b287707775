/**
 * alpha1: tail-latency balancing. The best of three random backends by the latency each is
 * expected to give at its present load, hedges for requests late for their own backend within a
 * budget, and a feedback loop on the measured p99.
 *
 * Pick: `choices` (default 3) distinct ready backends drawn at random (Mitzenmacher's power of
 * d choices; tower's p2c with d = 2), the lowest score wins. Every term is in milliseconds:
 *
 *   score    = expected + beta x interference + gamma x head age
 *   expected = ratio x profile(q) x (1 + 0.05 q), q = the backend's requests in flight now
 *   profile  = the pool's latency for requests sent to a backend that had q requests in flight
 *              (Prequal, Wydrowski, Kleinberg and Rumble 2024: latency learned per
 *              requests-in-flight level; here an EWMA per level over every backend's samples).
 *              A level never seen is extrapolated from the highest lower level seen, x
 *              ((q + 1) / (k + 1))^3: C3's cubic concurrency compensation (Suresh et al., NSDI
 *              2015), so a backend is not flooded at loads nobody has measured.
 *   ratio    = how much slower than the profile this backend answers: EWMA (`ewmaAlpha`) of
 *              sample / profile at the sample's level. 1 for a backend never measured.
 *   A backend with requests in flight that has answered nothing for longer than `expected` is
 *   a censored sample: its expected latency is at least that silence, and grows every
 *   millisecond it lasts.
 *   interference = EWMA of how far its samples exceed its own recent median (C3's variance
 *              awareness, in a cheaper form); head age = age of its oldest request in flight.
 *
 * The ratio is what sends fewer first attempts to a backend slow in the first place: one three
 * times slower is expected three times slower at every load, and loses to any of the others
 * until they queue (1.9% of `slow-server`'s first attempts; a pool-wide latency x (in-flight +
 * 1), as before, saw it as one more request's worth of queue and sent it 6.8%). One ratio per
 * backend, learned from all its samples, rather than a table per backend: per-backend levels
 * are sampled rarely, and one unlucky sample at a level kept a healthy backend at 11% of the
 * traffic in `homogeneous`. While a backend gets no samples its ratio relaxes toward 0.5 (time
 * constant 4 s), so one that was slow once is tried, and measured, again within seconds.
 *
 * Hedging (Dean and Barroso, "The Tail at Scale", 2013; tower's `hedge`): after `hedgeDelayMs`
 * without response headers the proxy calls `tryHedge`, and if a budget token is left sends a
 * copy to another backend (`ctx.hedge`). The delay is per request: lateScale x the p90 of the
 * first attempt's own backend (the pool's p90 when that is lower, or when the backend has few
 * samples), floored at `minHedgeDelayMs`, never past `sloMs`. So hedges go to requests that are
 * late for their backend, a stall or a pause, rather than to the ordinary requests of a slow
 * backend: with one delay for the pool, most of the budget went there and the stalls, the real
 * tail, were not hedged (p99.9 0.9x least_connections'). lateScale is tuned every window so the
 * requests found late match the budget: above it, later; well below it, earlier. The budget is
 * a token bucket earning `maxHedgeRate` of a token per request and starting empty, so hedges
 * never exceed that share of requests at any moment; 30% of it is kept for requests still
 * unanswered at a second check a quarter of a delay later (see `tryHedge`). The loser of a race
 * is cancelled at once (race.ts).
 *
 * Feedback: every `windowMs` of the injected clock (checked on pick and on outcomes, no timer)
 * the window's p99 is compared with `targetP99Ms`: above, beta and gamma x1.1 within [0.1, 1]
 * (the original's factors; from 0 they stay 0); below, 5% of the way back to their configured
 * values. Windows with fewer than 10 samples change nothing.
 *
 * Failures (5xx, reset, refused connect, timeout) count as latency samples of at least `sloMs`,
 * so a backend failing fast does not pass for the fastest. A hedge loser cancelled after more
 * than its median counts as interference (a censored sample).
 *
 * Cost per pick: O(choices) draws and scores, each O(levels) at worst (8 levels), one `exp`
 * each; O(n) for retries and hedges, which must skip tried backends. Per outcome: O(1), plus
 * two quickselects over at most 64 of the server's samples every 4th sample (its median and
 * p90). Per window: quickselect over at most 1024 pool samples. Memory: 1024 pool samples, 8
 * levels, and 64 samples per backend. No allocation per pick.
 */
import type { Backend, Outcome } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { TokenBucket } from '../util/token-bucket.js';
import { LatencyWindow, rankOf, select } from './latency-window.js';
import { excluded, loadAtSend, type PickContext, type Strategy, type StrategyDefinition, type StrategyDeps } from './types.js';
import { alpha1Options } from './alpha1.options.js';

/** Pool samples kept for the pool's p50/p90 and the window p99. */
const POOL_SAMPLES = 1024;
/** Samples kept per server for its median and p90. */
const SERVER_SAMPLES = 64;
/** The pool p50/p90 are recomputed after this many new samples (or at a window's end). */
const STATS_EVERY = 64;
/** A server's median and p90 are recomputed every this many of its samples. */
const QUANTILES_EVERY = 4;
/** A server's own p90 sets its hedge delay once it has this many samples (the pool's before). */
const MIN_OWN_SAMPLES = 16;
/** Load levels learned per server: requests in flight 0..LEVELS-2, and LEVELS-1 or more. */
const LEVELS = 8;
/** Weight of one sample in the pool's per-level profile (it gets every backend's samples). */
/**
 * Per request in flight, the expected latency is tilted up by this share: below a backend's
 * slot count the profile is flat, so estimates tie and small noise in the speed ratios would
 * decide; the tilt breaks such ties toward the less loaded backend, as least_connections
 * would (in `stragglers` p50 20.7 ms instead of 21.0, in `homogeneous` 20.5 instead of 21.0).
 */
const TILT = 0.05;
const PROFILE_ALPHA = 0.05;
/** Time constant with which a server's speed ratio relaxes (below), and its interference decays, while it gets no samples. */
const RELAX_MS = 4_000;
/**
 * What a server's speed ratio relaxes toward while it gets no samples: below the pool's 1, so
 * that a server once slow ends up looking faster than the others and is measured again (toward
 * 1 it would never quite win a comparison; toward 0, a server three times slower was retried
 * every 2 s and took 4% of `slow-server`'s requests, p99 77.4 ms instead of 69.2).
 */
const RELAX_TO = 0.5;
/** Fewer samples than this in a window: no feedback step. */
const MIN_WINDOW_SAMPLES = 10;
/** Share of the hedge budget kept for requests still unanswered at the second check. */
const RESERVE_SHARE = 0.3;
/** The second check comes this share of the first delay after it. */
const SECOND_CHECK = 0.25;
/** lateScale rises when late requests exceed LATE_HIGH x the tokens earned in a window, falls below LATE_LOW x. */
const LATE_HIGH = 1;
const LATE_LOW = 0.8;
/**
 * One sample counts at most this many times slower than the pool: a backend ten times slower is
 * already shunned, and one 2 s answer against a 10 ms pool would otherwise take half a minute
 * of relaxing to be forgotten.
 */
const MAX_RATIO = 10;
/** Bounds of lateScale (the hedge delay in units of the backend's p90). */
const LATE_MIN = 0.5;
const LATE_MAX = 4;

/** C3's cubic concurrency compensation: latency seen at load k, expected at load q > k. */
function compensate(latency: number, q: number, k: number): number {
  const r = (q + 1) / (k + 1);
  return latency * r * r * r;
}

class Alpha1 implements Strategy {
  readonly name = 'alpha1' as const;
  private readonly pool: Pool;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly o: StrategyDeps['config']['alpha1'];

  // Feedback state.
  beta: number;
  gamma: number;
  /** The hedge delay in units of the backend's p90, tuned so late requests match the budget. */
  lateScale = 1;
  private readonly betaMin: number;
  private readonly betaMax: number;
  private readonly gammaMin: number;
  private readonly gammaMax: number;
  private windowStart: number;
  private windowSamplesAt = 0;
  /** First attempts and hedge timers that fired (late requests) in the current window. */
  private requestsInWindow = 0;
  private lateInWindow = 0;
  currentP99 = 0;

  // Pool latency statistics.
  /** The pool's latency EWMA per load level (requests in flight when sent), and sample counts. */
  private readonly levelLatency = new Float64Array(LEVELS);
  private readonly levelCount = new Int32Array(LEVELS);
  private readonly window = new LatencyWindow(POOL_SAMPLES);
  private readonly stats = new Float64Array(2); // [p50, p90]
  private statsAt = -Infinity;

  // Hedging.
  private readonly budget: TokenBucket;
  /** Tokens kept for requests still unanswered at the second check (see tryHedge). */
  private readonly reserve: number;
  totalRequests = 0;
  hedgesSent = 0;
  hedgesWon = 0;

  // Per server, by backend id.
  private samples = new Float64Array(0);
  private samplePos = new Int32Array(0);
  private sampleCount = new Int32Array(0);
  private median = new Float64Array(0);
  private p90 = new Float64Array(0);
  private interference = new Float64Array(0);
  private interferenceAt = new Float64Array(0);
  /** Each server's speed against the pool's profile (1: as the pool), its sample count and last update. */
  private ratio = new Float64Array(0);
  private ratioCount = new Int32Array(0);
  private ratioAt = new Float64Array(0);
  /** When each server last answered (ok or 5xx): a stalled server stops answering. */
  private answeredAt = new Float64Array(0);
  private readonly scratch = new Float64Array(SERVER_SAMPLES);
  /** Indexes drawn from (a permutation of the ready list, or the eligible ones for a retry or hedge). */
  private draw = new Int32Array(0);
  /** The ready count `draw` holds a permutation of (first attempts reuse it: any order will do). */
  private drawN = -1;

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
    // A burst of up to 200 requests' worth of hedges may be saved up; it starts empty so the
    // share holds from the first request on.
    const capacity = Math.max(1, this.o.maxHedgeRate * 200);
    this.budget = new TokenBucket(capacity, 0, deps.clock, 0);
    this.reserve = capacity * RESERVE_SHARE;
    this.ensure(0);
  }

  private ensure(id: number): void {
    if (id < this.median.length) return;
    const size = Math.max(8, (id + 1) * 2);
    const f64 = (a: Float64Array, n = size, fill = 0): Float64Array<ArrayBuffer> => {
      const x = new Float64Array(n).fill(fill);
      x.set(a);
      return x;
    };
    const i32 = (a: Int32Array, n = size): Int32Array<ArrayBuffer> => {
      const x = new Int32Array(n);
      x.set(a);
      return x;
    };
    this.samples = f64(this.samples, size * SERVER_SAMPLES);
    this.samplePos = i32(this.samplePos);
    this.sampleCount = i32(this.sampleCount);
    this.median = f64(this.median);
    this.p90 = f64(this.p90);
    this.interference = f64(this.interference);
    this.interferenceAt = f64(this.interferenceAt);
    this.ratio = f64(this.ratio);
    this.ratioCount = i32(this.ratioCount);
    this.ratioAt = f64(this.ratioAt);
    this.answeredAt = f64(this.answeredAt, size, -Infinity);
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
   * The pool's latency at load `q` (requests in flight at the backend when a request was sent):
   * learned from every backend's samples at that load; a load never seen is extrapolated from
   * the highest lower one seen by C3's cubic compensation, or taken from the lowest higher one
   * (a lighter load is not slower). Nothing seen: the SLO's half, compensated from load 0.
   */
  private profile(q: number): number {
    const top = q < LEVELS ? q : LEVELS - 1;
    for (let k = top; k >= 0; k--) {
      if (this.levelCount[k]! > 0) return k === q ? this.levelLatency[k]! : compensate(this.levelLatency[k]!, q, k);
    }
    for (let k = top + 1; k < LEVELS; k++) if (this.levelCount[k]! > 0) return this.levelLatency[k]!;
    return compensate(this.o.sloMs / 2, q, 0);
  }

  /**
   * How much slower than the pool's profile this server answers (1: as the pool), an EWMA of
   * sample / profile at the sample's load. It relaxes toward RELAX_TO (time constant 4 s) while
   * the server gets no samples, so one that was slow once is tried, and measured, again within
   * seconds; one never measured is taken as the pool.
   */
  private ratioOf(id: number, now: number): number {
    if (id >= this.ratioCount.length || this.ratioCount[id] === 0) return 1;
    return RELAX_TO + (this.ratio[id]! - RELAX_TO) * Math.exp(-Math.max(0, now - this.ratioAt[id]!) / RELAX_MS);
  }

  /** The latency a request sent to `b` now should see: its speed ratio x the pool's latency at its load. */
  private learned(b: Backend, now: number): number {
    return this.ratioOf(b.id, now) * this.profile(b.inflight) * (1 + TILT * b.inflight);
  }

  /**
   * The learned latency, or how long the server has been silent when it has requests in flight
   * and has answered none of them for longer than that (a censored sample: the latency there is
   * at least that now). Silence, not the oldest request's age: a server whose other requests
   * keep completing around one slow request is not stalled, and that request's age says nothing
   * about the next one.
   */
  expected(b: Backend, now: number): number {
    const x = this.learned(b, now);
    const oldest = b.oldestInflightStart();
    if (oldest === undefined) return x;
    const id = b.id;
    const answered = id < this.answeredAt.length ? this.answeredAt[id]! : -Infinity;
    const silent = now - (answered > oldest ? answered : oldest);
    return silent > x ? silent : x;
  }

  private headAge(b: Backend, now: number): number {
    const oldest = b.oldestInflightStart();
    return oldest === undefined ? 0 : Math.max(0, now - oldest);
  }

  /** The tail-risk score in ms; lower is better. */
  score(b: Backend, now: number): number {
    let x = this.expected(b, now);
    if (this.beta !== 0) x += this.beta * this.interferenceNow(b.id, now);
    if (this.gamma !== 0) x += this.gamma * this.headAge(b, now);
    return x;
  }

  // ---- pick ----------------------------------------------------------------------------

  pick(ctx: PickContext): Backend | undefined {
    const now = this.clock.now();
    this.roll(now);
    const ready = this.pool.ready;
    const n = ready.length;
    if (this.draw.length < n) this.draw = new Int32Array(Math.max(8, n * 2));
    const draw = this.draw;
    let m = 0;
    if (ctx.tried.length === 0) {
      if (this.drawN !== n) {
        for (let i = 0; i < n; i++) draw[i] = i;
        this.drawN = n;
      }
      m = n;
    } else {
      // Retries and hedges: draw among the backends this request has not used.
      for (let i = 0; i < n; i++) if (!excluded(ctx, ready[i]!)) draw[m++] = i;
      this.drawN = -1;
    }
    if (m < 2) return m === 1 ? ready[draw[0]!] : undefined;
    // A partial Fisher-Yates shuffle: `choices` distinct draws, the lowest score wins.
    const d = this.o.choices < m ? this.o.choices : m;
    let best: Backend | undefined;
    let bestScore = Infinity;
    for (let k = 0; k < d; k++) {
      const j = k + Math.floor(this.random.next() * (m - k));
      const t = draw[j]!;
      draw[j] = draw[k]!;
      draw[k] = t;
      const b = ready[t]!;
      const sc = this.score(b, now);
      if (sc < bestScore) {
        bestScore = sc;
        best = b;
      }
    }
    return best;
  }

  // ---- outcomes ------------------------------------------------------------------------

  onStart(_b: Backend, ctx: PickContext): void {
    if (ctx.attempt === 0 && !ctx.hedge) {
      this.totalRequests++;
      this.requestsInWindow++;
      if (this.o.maxHedgeRate > 0) this.budget.deposit(this.o.maxHedgeRate);
    }
  }

  onEnd(b: Backend, outcome: Outcome, ctx: PickContext | undefined): void {
    const now = this.clock.now();
    const id = b.id;
    this.ensure(id);
    const x = outcome.latencyMs;
    // The load it had when this attempt was sent; for an attempt started under another
    // strategy (no context), its load now is the best guess.
    let level = ctx === undefined ? -1 : loadAtSend(ctx, b);
    if (level < 0) level = b.inflight;
    if (outcome.kind === 'ok' || outcome.kind === 'http_5xx') this.answeredAt[id] = now;
    if (outcome.kind === 'ok') {
      // The first sample has no median to exceed.
      if (this.sampleCount[id]! > 0) this.updateInterference(id, Math.max(0, x - this.median[id]!), now);
      this.addServerSample(id, x);
      this.window.add(x);
      this.addLatency(id, level, x, now);
    } else {
      if (outcome.kind === 'timeout' || outcome.kind === 'reset' || outcome.kind === 'cancelled') {
        // Censored: it took at least x. Only a wait past the median says anything.
        if (this.sampleCount[id]! > 0 && x > this.median[id]!) this.updateInterference(id, x - this.median[id]!, now);
      }
      // A failure (5xx, reset, refused connect, timeout) costs its client an error or a retry,
      // so it counts as a latency sample of at least the SLO. Without it a server failing fast
      // has no sample, is assumed as fast as the pool's median, and wins most comparisons:
      // through the proxy it drew 79 of 120 requests over three backends. A hedge loser or a
      // client gone (`cancelled`) says nothing about the server's health.
      if (outcome.kind !== 'cancelled') this.addLatency(id, level, Math.max(x, this.o.sloMs), now);
    }
    this.roll(now);
  }

  /**
   * One sample at load `level`: into the pool's profile at that load, and into the server's
   * speed ratio against the profile (before the profile moves, so one sample is not compared
   * with itself).
   */
  private addLatency(id: number, level: number, x: number, now: number): void {
    const i = level < LEVELS ? level : LEVELS - 1;
    const expected = this.profile(i);
    const r = expected > 0 ? Math.min(MAX_RATIO, x / expected) : 1;
    // A running mean with the prior 1 over the first samples (bias-corrected warm start), then the EWMA.
    const n = this.ratioCount[id]!;
    const a = Math.max(this.o.ewmaAlpha, 1 / (n + 2));
    this.ratio[id] = this.ratioOf(id, now) * (1 - a) + r * a;
    this.ratioCount[id]!++;
    this.ratioAt[id] = now;
    this.levelLatency[i] = this.levelCount[i] === 0 ? x : this.levelLatency[i]! * (1 - PROFILE_ALPHA) + x * PROFILE_ALPHA;
    this.levelCount[i]!++;
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
    if (count <= QUANTILES_EVERY || this.samplePos[id]! % QUANTILES_EVERY === 0) {
      this.median[id] = this.serverQuantile(id, 0.5);
      // The scratch still holds this server's samples, partly ordered by the first select.
      this.p90[id] = select(this.scratch, count, rankOf(0.9, count));
    }
  }

  /** Quantile of a server's recent samples (0 when none); leaves them in `scratch`. */
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
      } else {
        this.beta = this.o.beta + (this.beta - this.o.beta) * 0.95;
        this.gamma = this.o.gamma + (this.gamma - this.o.gamma) * 0.95;
      }
    }
    if (this.requestsInWindow >= MIN_WINDOW_SAMPLES && this.o.maxHedgeRate > 0) {
      // More late requests than tokens: the tokens would go to whichever are late first, not
      // to the latest (the stalls), so hedge later; far fewer: tokens are left over, hedge earlier.
      const tokens = this.o.maxHedgeRate * this.requestsInWindow;
      if (this.lateInWindow > tokens * LATE_HIGH) this.lateScale = Math.min(LATE_MAX, this.lateScale * 1.05);
      else if (this.lateInWindow < tokens * LATE_LOW) this.lateScale = Math.max(LATE_MIN, this.lateScale * 0.97);
    }
    this.windowStart = now;
    this.windowSamplesAt = this.window.added;
    this.requestsInWindow = 0;
    this.lateInWindow = 0;
    this.refreshStats();
  }

  private refreshStats(): void {
    this.window.quantiles2(0.5, 0.9, this.stats);
    this.statsAt = this.window.added;
  }

  // ---- hedging -------------------------------------------------------------------------

  /**
   * ms after which the first attempt (`ctx.tried[0]`) should be hedged, or -1 for no hedge.
   * Armed even when the budget is empty at this moment: the timer firing is how the feedback
   * counts late requests, and a token may have been earned by then. After a refusal at the
   * first check, one more check as long again later (see `tryHedge`).
   */
  hedgeDelayMs(ctx: PickContext): number {
    this.roll(this.clock.now());
    if (this.o.maxHedgeRate <= 0 || this.pool.ready.length < 2) return -1;
    if (this.window.count < this.o.minHedgeSamples || ctx.hedgeChecks > 1) return -1;
    const d = this.delayFor(ctx.tried.length > 0 ? ctx.tried[0]! : undefined);
    return ctx.hedgeChecks === 0 ? d : d * SECOND_CHECK;
  }

  /** lateScale x the backend's own p90 (the pool's when lower, or when it has few samples), within [minHedgeDelayMs, sloMs]. */
  private delayFor(b: Backend | undefined): number {
    const pool = this.stats[1]!;
    let base = pool;
    if (b !== undefined && b.id < this.sampleCount.length && this.sampleCount[b.id]! >= MIN_OWN_SAMPLES) {
      const own = this.p90[b.id]!;
      if (own < base) base = own;
    }
    return Math.min(this.o.sloMs, Math.max(this.o.minHedgeDelayMs, base * this.lateScale));
  }

  /**
   * The hedge timer fired: true (and a budget token spent) when a copy may go out now. At the
   * first check (late for its backend) only tokens above a reserve are spent; the reserve goes
   * to requests still unanswered at the second check, a quarter of a delay later: the stalls and
   * pauses that make the tail, while most requests merely late at the first are the ordinary
   * spread. Without the reserve, bursts of merely late requests emptied the budget and stalls
   * behind them went unhedged (`stragglers` p99.9 168 ms without it, 95 with it).
   */
  tryHedge(ctx: PickContext): boolean {
    const ready = this.pool.ready;
    let other = false;
    for (let i = 0; i < ready.length && !other; i++) other = !excluded(ctx, ready[i]!);
    if (!other) return false;
    if (ctx.hedgeChecks <= 1) {
      this.lateInWindow++;
      if (this.budget.available < this.reserve + 1) return false;
    }
    if (!this.budget.take()) return false;
    this.hedgesSent++;
    return true;
  }

  onHedgeResult(hedgeWon: boolean): void {
    if (hedgeWon) this.hedgesWon++;
  }

  // ---- metrics -------------------------------------------------------------------------

  serverMetrics(b: Backend): Record<string, unknown> {
    const now = this.clock.now();
    return {
      work_queue_ewma: round1(this.expected(b, now)),
      interference_signal: round1(this.interferenceNow(b.id, now)),
      head_request_age: round1(this.headAge(b, now)),
      server_p99_ms: round1(this.serverQuantile(b.id, 0.99)),
      hedge_delay_ms: this.window.count < this.o.minHedgeSamples ? null : round1(this.delayFor(b)),
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
      hedge_delay_ms: this.window.count < this.o.minHedgeSamples ? null : round1(this.delayFor(undefined)),
      late_scale: Math.round(this.lateScale * 1000) / 1000,
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
  summary: 'best of three by latency learned per load level (Prequal, C3), hedges for requests late for their backend within a budget',
  create: (deps) => new Alpha1(deps),
};
