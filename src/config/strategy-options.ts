/**
 * Options of each strategy, under a config key named after the strategy (`alpha1:`,
 * `beta1:`, `response_time:` ...). Kept apart from the algorithms (Envoy's split of config
 * parsing from policy) so the config can be validated, and documented, without building one.
 */
import { z } from 'zod';

const ms = (d: string) => z.number().nonnegative().describe(d);

export const roundRobinOptions = z.strictObject({}).describe('round_robin has no options');

export const leastConnectionsOptions = z.strictObject({}).describe('least_connections has no options');

export const healthScoreOptions = z
  .strictObject({
    halfLifeMs: ms('half-life of the decaying success rate').default(30_000),
    successWeight: z.number().min(0).default(0.5).describe('weight of the success rate in the score'),
    loadWeight: z.number().min(0).default(0.3).describe('weight of in-flight load relative to the others'),
    latencyWeight: z.number().min(0).default(0.2).describe('weight of latency relative to the best backend'),
  })
  .describe('health_score (HS-BS) options');

export const weightedRoundRobinOptions = z
  .strictObject({
    halfLifeMs: ms('half-life of the decaying failure history').default(30_000),
    minWeightFactor: z.number().min(0).max(1).default(0.05).describe('floor of the effective weight, as a share of the configured weight'),
    recoveryMs: ms('time for a recovered backend to climb back to its full weight').default(20_000),
  })
  .describe('weighted_round_robin (HF-WRR) options');

export const responseTimeOptions = z
  .strictObject({
    decayMs: ms('time constant of the peak-EWMA latency').default(10_000),
    defaultLatencyMs: ms('latency assumed for a backend with no samples').default(50),
    exploreAfterMs: ms('a backend with no sample for this long is probed once').default(5_000),
  })
  .describe('response_time (RRT-BS) options');

export const alpha1Options = z
  .strictObject({
    targetP99Ms: ms('p99 the feedback loop aims for').default(90),
    sloMs: ms('latency SLO: a hedge is never sent later than this').default(100),
    maxHedgeRate: z.number().min(0).max(1).default(0.05).describe('hedges at most this share of requests (token bucket)'),
    beta: z.number().min(0).default(0.3).describe('initial weight of the interference term'),
    gamma: z.number().min(0).default(0.4).describe('initial weight of the head-age term'),
    minHedgeDelayMs: ms('floor of the hedge delay').default(5),
    windowMs: ms('feedback window').default(1_000),
    idempotentHeader: z.string().min(1).nullable().default('X-Idempotent').describe('a request with this header set to "true" may be hedged whatever its method'),
    maxHedgeBodyBytes: z.number().int().nonnegative().default(64 * 1024).describe('largest request body buffered so it can be hedged'),
  })
  .describe('alpha1 (tail latency) options');

export const beta1KeySource = z
  .union([
    z.strictObject({ header: z.string().min(1) }),
    z.strictObject({ query: z.string().min(1) }),
    z.strictObject({ path: z.literal(true) }),
    z.strictObject({ cookie: z.string().min(1) }),
    z.strictObject({ clientIp: z.literal(true) }),
  ], { error: 'expected one of {header: NAME}, {query: NAME}, {path: true}, {cookie: NAME}, {clientIp: true}' })
  .describe('where the affinity key comes from: {header}, {query}, {path: true}, {cookie} or {clientIp: true}');

export const beta1Options = z
  .strictObject({
    key: beta1KeySource.default({ header: 'X-Key' }),
    loadFactor: z.number().min(1).default(1.25).describe('bounded-load factor c: a backend takes at most ceil(c x average load)'),
    warmupMs: ms('warm-up of a backend that joins or returns').default(60_000),
    cacheHeader: z.string().min(1).default('X-Cache').describe('response header whose HIT/MISS feeds cache_hit_rate'),
    hotKeyShare: z.number().min(0).max(1).default(0.1).describe('a key above this share of recent traffic is spread over its top two backends'),
  })
  .describe('beta1 (cache affinity) options');
