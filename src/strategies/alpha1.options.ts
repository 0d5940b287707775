/**
 * alpha1's options (the `alpha1:` config key). Kept apart from the algorithm (Envoy's split of
 * config parsing from policy); `.describe()` texts feed the config reference.
 */
import { z } from 'zod';
import { headerName } from '../config/fields.js';

const ms = (d: string) => z.number().nonnegative().describe(d);

export const alpha1Options = z
  .strictObject({
    targetP99Ms: z.number().positive().default(90).describe('p99 the feedback loop aims for'),
    sloMs: z.number().positive().default(100).describe('latency SLO: a hedge is never sent later than this; a failure counts as a sample of at least this'),
    maxHedgeRate: z.number().min(0).max(1).default(0.05).describe('hedges at most this share of requests (token bucket)'),
    choices: z.number().int().min(2).max(16).default(3).describe('backends drawn at random per pick; the lowest score wins'),
    beta: z.number().min(0).default(0).describe('initial weight of the interference term; feedback keeps a non-zero one in [0.1, 1] (or around the value given)'),
    gamma: z.number().min(0).default(0).describe('initial weight of the head-age term; feedback keeps a non-zero one in [0.1, 1] (or around the value given)'),
    ewmaAlpha: z.number().gt(0).max(1).default(0.05).describe("weight of each new sample in a server's speed (its latency against the pool's at the same load) and interference EWMAs"),
    minHedgeDelayMs: ms('floor of the hedge delay').default(5),
    minHedgeSamples: z.number().int().min(1).default(20).describe('no hedging until the pool has this many recent latency samples'),
    windowMs: z.number().positive().default(1_000).describe('feedback window'),
    // Off unless configured: a client must not be able to make its own POST retried or hedged
    // (sent twice) just by adding a header; only an operator who knows the backends can.
    idempotentHeader: headerName.nullable().default(null).describe('a request with this header set to "true" may be retried and hedged whatever its method (e.g. X-Idempotent); null: off, only GET, HEAD, OPTIONS, PUT, DELETE and TRACE are'),
    maxHedgeBodyBytes: z.number().int().nonnegative().default(64 * 1024).describe('largest request body buffered so it can be hedged'),
  })
  .describe('alpha1 (tail latency) options');
