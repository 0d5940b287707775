/**
 * Options of each strategy, under a config key named after the strategy (`alpha1:`,
 * `beta1:`, `response_time:` ...). Kept apart from the algorithms (Envoy's split of config
 * parsing from policy) so the config can be validated, and documented, without building one.
 */
import { z } from 'zod';
import { cookieName, headerName } from './fields.js';

const ms = (d: string) => z.number().nonnegative().describe(d);

export const roundRobinOptions = z.strictObject({}).describe('round_robin has no options');

export const leastConnectionsOptions = z.strictObject({}).describe('least_connections has no options');

export const healthScoreOptions = z
  .strictObject({
    successWeight: z.number().min(0).default(0.5).describe('weight of the decaying success rate (proxy outcomes and health checks, half-life of the pool) in the score'),
    loadWeight: z.number().min(0).default(0.3).describe('weight of in-flight load relative to the least loaded backend'),
    latencyWeight: z.number().min(0).default(0.2).describe('weight of peak-EWMA latency relative to the fastest backend'),
  })
  .refine((o) => o.successWeight + o.loadWeight + o.latencyWeight > 0, 'at least one weight must be above 0')
  .describe('health_score (HS-BS) options');

export const weightedRoundRobinOptions = z
  .strictObject({
    minWeightFactor: z.number().min(0).max(1).default(0.05).describe('floor of the effective weight, as a share of the configured weight'),
    recoveryMs: ms('time a backend needs to climb from its floor back to its full weight (after failures, or on returning)').default(20_000),
  })
  .describe('weighted_round_robin (HF-WRR) options; the failure history decays with the pool\'s half-life');

export const responseTimeOptions = z
  .strictObject({
    defaultLatencyMs: ms('latency assumed while no backend has a sample yet (then an unmeasured backend is priced like the best measured one)').default(50),
    exploreAfterMs: ms('an idle backend with no sample for this long is sent one probe request (0: never)').default(5_000),
  })
  .describe('response_time (RRT-BS) options; the peak-EWMA time constant is the pool\'s (10 s)');

export const alpha1Options = z
  .strictObject({
    targetP99Ms: z.number().positive().default(90).describe('p99 the feedback loop aims for'),
    sloMs: z.number().positive().default(100).describe('latency SLO: a hedge is never sent later than this'),
    maxHedgeRate: z.number().min(0).max(1).default(0.05).describe('hedges at most this share of requests (token bucket)'),
    beta: z.number().min(0).default(0.3).describe('initial weight of the interference term; feedback keeps it in [0.1, 1] (or around the value given)'),
    gamma: z.number().min(0).default(0.4).describe('initial weight of the head-age term; feedback keeps it in [0.1, 1] (or around the value given)'),
    ewmaAlpha: z.number().gt(0).max(1).default(0.3).describe("weight of each new sample in a server's latency and interference EWMAs"),
    minHedgeDelayMs: ms('floor of the hedge delay').default(5),
    minHedgeSamples: z.number().int().min(1).default(20).describe('no hedging until the pool has this many recent latency samples'),
    windowMs: z.number().positive().default(1_000).describe('feedback window'),
    // Off unless configured: a client must not be able to make its own POST retried or hedged
    // (sent twice) just by adding a header; only an operator who knows the backends can.
    idempotentHeader: headerName.nullable().default(null).describe('a request with this header set to "true" may be retried and hedged whatever its method (e.g. X-Idempotent); null: off, only GET, HEAD, OPTIONS, PUT, DELETE and TRACE are'),
    maxHedgeBodyBytes: z.number().int().nonnegative().default(64 * 1024).describe('largest request body buffered so it can be hedged'),
  })
  .describe('alpha1 (tail latency) options');

export const beta1KeySource = z
  .union([
    z.strictObject({ header: headerName }),
    z.strictObject({ query: z.string().min(1) }),
    z.strictObject({ path: z.literal(true) }),
    z.strictObject({ cookie: cookieName }),
    z.strictObject({ clientIp: z.literal(true) }),
  ], { error: 'expected one of {header: NAME}, {query: NAME}, {path: true}, {cookie: NAME}, {clientIp: true}' })
  .describe('where the affinity key comes from: {header}, {query}, {path: true}, {cookie} or {clientIp: true}');

export const beta1Options = z
  .strictObject({
    key: beta1KeySource.default({ header: 'X-Key' }),
    loadFactor: z.number().min(1).default(1.25).describe('bounded-load factor c: a backend takes at most ceil(c x average load), weighted'),
    boundFloor: z.number().int().min(1).default(4).describe('a backend with fewer requests in flight than this is never skipped for load, so light load keeps affinity'),
    warmupMs: ms('warm-up of a backend that joins or returns (0: none)').default(60_000),
    cacheHeader: headerName.default('X-Cache').describe('response header whose HIT/MISS feeds cache_hit_rate'),
    hotKeyShare: z.number().gt(0).max(1).default(0.1).describe('a key above this share of recent keyed traffic is spread over its top two backends (1: never)'),
  })
  .describe('beta1 (cache affinity) options');
