/**
 * beta1: cache affinity. Each key goes to the same backend, so that backend's cache holds it,
 * unless that would overload it.
 *
 * - Key: extracted by the proxy per `beta1.key` into `ctx.key` (header, query parameter, path,
 *   cookie, or client address; in TCP mode the client address). A request without a key goes to
 *   the least loaded backend (in-flight per weight, ties rotate).
 * - Order: weighted rendezvous hashing of the key (rendezvous.ts) over the ready backends.
 * - Filters, walked in that order (they wrap the order; the hashing knows nothing of them):
 *   warm-up (warmup.ts) refuses a key a joining backend does not admit yet, then bounded loads
 *   (bounded-load.ts) refuse a backend at its capacity. If warm-up refused every eligible
 *   backend (all are warming), the walk is repeated with bounded loads only.
 * - Hot keys (hot-keys.ts): a key above `hotKeyShare` of recent keyed traffic would overload
 *   its one backend, so it goes to the less loaded of its first two acceptable backends; both
 *   caches then hold it.
 *
 * The original hashed a key that was unique per request, so its hit rate was always 0, and
 * put every server in warm-up at start-up. Here `cache_hit_rate` comes from the backend's own
 * verdict (the `cacheHeader` response header, HIT or MISS) and `affinity_rate` (keyed requests
 * sent to the key's first-ranked backend) is reported whether or not backends send the header.
 *
 * - Hedging (`maxHedgeRate`, off by default): a request unanswered after the pool's recent p95
 *   is copied, within a token budget, to its key's next rendezvous choice. It cuts the tail of
 *   stalls (`stragglers` p99 170 to 61 ms at 0.05) but not of a cache scenario, where the copy
 *   misses in the second cache and evicts what it held (`cache` hit rate 60.2% to 55.6%, p99
 *   39.1 to 39.5 ms), hence off.
 *
 * Cost per pick: O(n): the key's hash (O(key length)), a 64-bit mix and a log per ready
 * backend, an O(n) selection per candidate walked (usually one), 4 sketch updates; no
 * allocation. Memory: 16 KiB sketch, 256 bytes of distinct-key estimator per backend.
 */
import type { Backend, Outcome } from '../pool/backend.js';
import { TokenBucket } from '../util/token-bucket.js';
import { LatencyWindow } from './latency-window.js';
import type { Pool } from '../pool/pool.js';
import type { Config } from '../config/schema.js';
import type { Clock } from '../util/clock.js';
import { Hash64, hashString64, hex64 } from '../util/hash.js';
import { BoundedLoad } from './bounded-load.js';
import { HotKeys } from './hot-keys.js';
import { RendezvousRanking } from './rendezvous.js';
import { Warmup } from './warmup.js';
import { excluded, type PickContext, type Strategy, type StrategyDefinition, type StrategyDeps } from './types.js';
import { LeastLoaded } from './least-connections.js';
import { beta1Options } from './beta1.options.js';

/** HyperLogLog registers per backend for `cached_keys_count` (standard error ~6.5%). */
const HLL_BITS = 8;
const HLL_M = 1 << HLL_BITS;
const HLL_ALPHA = 0.7213 / (1 + 1.079 / HLL_M);
/** Latencies kept for the hedge delay (the pool's recent p95), recomputed every STATS_EVERY samples. */
const HEDGE_SAMPLES = 1024;
const STATS_EVERY = 64;
/** No hedge before this many samples; never earlier than MIN_HEDGE_MS. */
const MIN_HEDGE_SAMPLES = 20;
const MIN_HEDGE_MS = 5;
/** Longest key shown in `hot_keys`. */
const SHOWN_KEY_CHARS = 64;

/** True when `value` starts with `word` (lower-case ASCII), ignoring case and leading spaces. */
function startsWithWord(value: string, word: string): boolean {
  let i = 0;
  while (i < value.length && value.charCodeAt(i) === 0x20) i++;
  if (value.length - i < word.length) return false;
  for (let k = 0; k < word.length; k++) if ((value.charCodeAt(i + k) | 0x20) !== word.charCodeAt(k)) return false;
  return true;
}

class Beta1 implements Strategy {
  readonly name = 'beta1' as const;
  readonly responseHeader: string;
  private readonly pool: Pool;
  private readonly clock: Clock;
  private readonly options: Config['beta1'];
  /** Keys from cookies or client addresses are not shown in the API, only their hashes. */
  private readonly keysArePrivate: boolean;

  private readonly ranking = new RendezvousRanking();
  private readonly bounded: BoundedLoad;
  private readonly warmup: Warmup;
  private readonly hot: HotKeys;

  // Per pick scratch: the key's hash and its admission fraction, read by the filters.
  private readonly keyHash = new Hash64();
  private fraction = 0;
  private now = 0;
  private ctx: PickContext | undefined = undefined;
  private warmupSkips = 0;
  private readonly acceptWithWarmup = (b: Backend): boolean => {
    if (excluded(this.ctx!, b)) return false;
    if (this.warmup.admits(b, this.fraction, this.now)) return true;
    this.warmupSkips++;
    return false;
  };
  private readonly acceptAny = (b: Backend): boolean => !excluded(this.ctx!, b);
  /** The key hashed by the last pick, so onStart need not hash it again. */
  private lastKey: string | undefined = undefined;
  /**
   * What the last pick decided, for onStart to count once the attempt really goes out (a pick
   * may be repeated, e.g. when a backend is at its connection limit or the request queued).
   */
  private lastCtx: PickContext | undefined = undefined;
  private lastChosen: Backend | undefined = undefined;
  private lastTop: Backend | undefined = undefined;
  private lastLoadSkips = 0;
  private lastWarmupSkips = 0;

  /** Requests without a key go least-loaded (least_connections' scan). */
  private readonly leastLoaded = new LeastLoaded();

  // Hedging: a late request's copy goes to the key's next rendezvous choice.
  private readonly latencies = new LatencyWindow(HEDGE_SAMPLES);
  private readonly stats = new Float64Array(2); // [p50, p95]
  private statsAt = -Infinity;
  private readonly budget: TokenBucket;
  hedgesSent = 0;
  hedgesWon = 0;

  // Counters for the API.
  totalRequests = 0;
  keyedRequests = 0;
  affinityHits = 0;
  boundedRedirects = 0;
  warmupRedirects = 0;
  hotSpreads = 0;
  cacheHits = 0;
  cacheMisses = 0;
  // Per backend, by id.
  private sent = new Float64Array(0);
  private warmupSent = new Float64Array(0);
  private hll = new Uint8Array(0);
  private hllEpoch = new Float64Array(0);

  constructor(deps: StrategyDeps) {
    this.pool = deps.pool;
    this.clock = deps.clock;
    this.options = deps.config.beta1;
    this.responseHeader = this.options.cacheHeader.toLowerCase();
    this.keysArePrivate = 'cookie' in this.options.key || 'clientIp' in this.options.key;
    this.bounded = new BoundedLoad(this.options.loadFactor, this.options.boundFloor);
    this.warmup = new Warmup(this.options.warmupMs);
    this.hot = new HotKeys(this.options.hotKeyShare);
    // As alpha1's: up to 200 requests' worth of hedges saved up, starting empty.
    this.budget = new TokenBucket(Math.max(1, this.options.maxHedgeRate * 200), 0, deps.clock, 0);
  }

  private ensure(id: number): void {
    if (id < this.sent.length) return;
    const size = Math.max(8, (id + 1) * 2);
    const f64 = (a: Float64Array): Float64Array<ArrayBuffer> => {
      const n = new Float64Array(size);
      n.set(a);
      return n;
    };
    this.sent = f64(this.sent);
    this.warmupSent = f64(this.warmupSent);
    this.hllEpoch = f64(this.hllEpoch);
    const hll = new Uint8Array(size * HLL_M);
    hll.set(this.hll);
    this.hll = hll;
  }

  pick(ctx: PickContext): Backend | undefined {
    const ready = this.pool.ready;
    if (ready.length === 0) return undefined;
    const key = ctx.key;
    if (key === undefined) return this.leastLoaded.pick(this.pool.ready, ctx);

    hashString64(key, this.keyHash);
    this.lastKey = key;
    this.fraction = this.warmup.fraction(this.keyHash);
    this.now = this.clock.now();
    this.ctx = ctx;
    this.bounded.begin(ready);
    this.warmupSkips = 0;

    const order = this.ranking.rank(this.keyHash, ready);
    const top = order.top;
    let chosen = this.bounded.firstEligible(order, this.acceptWithWarmup);
    let loadSkips = this.bounded.skippedForLoad;
    if (chosen === undefined && this.warmupSkips > 0) {
      // Every backend that could take it is warming: nothing to protect, ignore warm-up.
      chosen = this.bounded.firstEligible(this.ranking.rank(this.keyHash, ready), this.acceptAny);
      loadSkips = this.bounded.skippedForLoad;
      this.warmupSkips = 0;
    }
    // Popularity counts first attempts (nothing tried yet), not retries and hedges.
    const hot = ctx.tried.length === 0 && !ctx.hedge && this.hot.observe(this.keyHash, key);
    if (hot && chosen !== undefined) {
      // Spread a hot key over its first two acceptable backends: the less loaded one takes it.
      const skips = this.warmupSkips;
      const second = this.bounded.firstEligible(order, this.acceptWithWarmup);
      this.warmupSkips = skips;
      if (second !== undefined && second.inflight / second.weight < chosen.inflight / chosen.weight) {
        chosen = second;
        this.hotSpreads++;
      }
    }
    if (chosen === undefined) chosen = this.leastLoaded.pick(this.pool.ready, ctx); // only when tried backends block the walk
    this.ctx = undefined;

    this.lastCtx = ctx;
    this.lastChosen = chosen;
    this.lastTop = top;
    this.lastLoadSkips = loadSkips;
    this.lastWarmupSkips = this.warmupSkips;
    return chosen;
  }

  /** Counts the request (first attempts only: ctx.attempt 0, not a hedge) and the key's backend. */
  onStart(b: Backend, ctx: PickContext): void {
    this.ensure(b.id);
    this.sent[b.id]!++;
    const now = this.clock.now();
    if (this.warmup.warming(b, now)) this.warmupSent[b.id]!++;
    const key = ctx.key;
    const first = ctx.attempt === 0 && !ctx.hedge;
    if (first) {
      this.totalRequests++;
      if (this.options.maxHedgeRate > 0) this.budget.deposit(this.options.maxHedgeRate);
    }
    if (key === undefined) return;
    if (first) {
      this.keyedRequests++;
      if (ctx === this.lastCtx && b === this.lastChosen) {
        if (b === this.lastTop) this.affinityHits++;
        if (this.lastLoadSkips > 0) this.boundedRedirects++;
        if (this.lastWarmupSkips > 0) this.warmupRedirects++;
      }
    }
    this.lastCtx = undefined;
    if (key !== this.lastKey) {
      hashString64(key, this.keyHash);
      this.lastKey = key;
    }
    this.countKey(b, this.keyHash);
  }

  /** Adds the key to `b`'s distinct-key estimator (reset when `b` comes back from being down). */
  private countKey(b: Backend, h: Hash64): void {
    const id = b.id;
    const base = id * HLL_M;
    if (this.hllEpoch[id] !== b.readySince) {
      this.hll.fill(0, base, base + HLL_M);
      this.hllEpoch[id] = b.readySince;
    }
    const reg = h.hi >>> (32 - HLL_BITS);
    // Rank: position of the first 1 bit in the remaining bits (lo word, then the rest of hi).
    const rest = h.lo;
    const rank = rest === 0 ? 33 : Math.clz32(rest) + 1;
    if (rank > this.hll[base + reg]!) this.hll[base + reg] = rank;
  }

  private distinctKeys(b: Backend): number {
    const id = b.id;
    if (id >= this.sent.length || this.hllEpoch[id] !== b.readySince) return 0;
    const base = id * HLL_M;
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < HLL_M; i++) {
      const r = this.hll[base + i]!;
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
    const raw = (HLL_ALPHA * HLL_M * HLL_M) / sum;
    // Small range: linear counting is far more accurate (Flajolet et al.).
    if (raw <= 2.5 * HLL_M && zeros > 0) return Math.round(HLL_M * Math.log(HLL_M / zeros));
    return Math.round(raw);
  }

  onEnd(_b: Backend, outcome: Outcome): void {
    if (outcome.kind !== 'ok') return;
    this.latencies.add(outcome.latencyMs);
    // Every sample while few are known (a cold start hedges on a real p95), then every STATS_EVERY.
    if (this.latencies.count <= STATS_EVERY || this.latencies.added - this.statsAt >= STATS_EVERY) {
      this.latencies.quantiles2(0.5, 0.95, this.stats);
      this.statsAt = this.latencies.added;
    }
  }

  /**
   * A request still unanswered after the pool's recent p95 is hedged (once, within the budget)
   * to the key's next rendezvous choice: `pick` walks the same order skipping the tried backend,
   * so the copy lands where the key goes when its first backend is full, whose cache is the
   * likeliest after the first's to hold it (hot keys are spread there too). -1: no hedge.
   */
  hedgeDelayMs(ctx: PickContext): number {
    if (this.options.maxHedgeRate <= 0 || ctx.hedgeChecks > 0 || this.pool.ready.length < 2) return -1;
    if (this.latencies.count < MIN_HEDGE_SAMPLES) return -1;
    return Math.max(MIN_HEDGE_MS, this.stats[1]!);
  }

  tryHedge(ctx: PickContext): boolean {
    const ready = this.pool.ready;
    let other = false;
    for (let i = 0; i < ready.length && !other; i++) other = !excluded(ctx, ready[i]!);
    if (!other || !this.budget.take()) return false;
    this.hedgesSent++;
    return true;
  }

  onHedgeResult(hedgeWon: boolean): void {
    if (hedgeWon) this.hedgesWon++;
  }

  onResponseHeader(_b: Backend, value: string): void {
    if (startsWithWord(value, 'hit')) this.cacheHits++;
    else if (startsWithWord(value, 'miss')) this.cacheMisses++;
  }

  serverMetrics(b: Backend): Record<string, unknown> {
    const now = this.clock.now();
    const p = this.warmup.progress(b, now);
    const known = b.id < this.sent.length;
    return {
      total_requests: known ? this.sent[b.id]! : 0,
      cached_keys_count: known ? this.distinctKeys(b) : 0,
      is_warming_up: b.ready && p < 1,
      warmup_progress: Math.round(p * 1000) / 10,
      warmup_requests: known ? this.warmupSent[b.id]! : 0,
    };
  }

  globalMetrics(): Record<string, unknown> {
    const now = this.clock.now();
    let warming = 0;
    for (const b of this.pool.ready) if (this.warmup.warming(b, now)) warming++;
    const pct = (x: number, of: number) => (of === 0 ? 0 : Math.round((x / of) * 10_000) / 100);
    const looked = this.cacheHits + this.cacheMisses;
    return {
      capacity_factor: this.options.loadFactor,
      warmup_duration_sec: this.options.warmupMs / 1000,
      total_requests: this.totalRequests,
      keyed_requests: this.keyedRequests,
      cache_hit_rate: pct(this.cacheHits, looked),
      cache_lookups: looked,
      // Raw counts for Prometheus counters (a rate cannot be turned back into a monotonic count).
      cache_hits: this.cacheHits,
      cache_misses: this.cacheMisses,
      affinity_rate: pct(this.affinityHits, this.keyedRequests),
      bounded_load_redirects: this.boundedRedirects,
      redirect_rate: pct(this.boundedRedirects, this.keyedRequests),
      warmup_redirects: this.warmupRedirects,
      warmup_redirect_rate: pct(this.warmupRedirects, this.keyedRequests),
      servers_in_warmup: warming,
      hot_key_spreads: this.hotSpreads,
      hedges_sent: this.hedgesSent,
      hedges_won: this.hedgesWon,
      hedge_delay_ms: this.latencies.count < MIN_HEDGE_SAMPLES ? null : Math.round(Math.max(MIN_HEDGE_MS, this.stats[1]!) * 10) / 10,
      hot_keys: this.hot.hotKeys().map((k) => ({
        key: this.keysArePrivate ? `#${hex64(k)}` : k.key.slice(0, SHOWN_KEY_CHARS),
        share: Math.round(k.share * 10_000) / 100,
      })),
    };
  }
}

export const beta1: StrategyDefinition<'beta1', typeof beta1Options> = {
  name: 'beta1',
  options: beta1Options,
  needs: (config) => ('clientIp' in config.beta1.key ? 'clientAddress' : 'httpRequest'),
  requestKey: (config) => config.beta1.key,
  summary: 'cache affinity: weighted rendezvous hashing of a request key with bounded loads, warm-up and hot-key spreading',
  create: (deps) => new Beta1(deps),
};
