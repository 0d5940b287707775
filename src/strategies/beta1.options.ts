/**
 * beta1's options (the `beta1:` config key). Kept apart from the algorithm (Envoy's split of
 * config parsing from policy); `.describe()` texts feed the config reference.
 */
import { z } from 'zod';
import { cookieName, headerName } from '../config/fields.js';

const ms = (d: string) => z.number().nonnegative().describe(d);

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
    maxHedgeRate: z.number().min(0).max(1).default(0).describe("hedges at most this share of requests: a request unanswered after the pool's p95 is copied to its key's next rendezvous choice (0: never; off by default: in the cache scenario the copies miss and evict, see docs/strategies/beta1.md)"),
  })
  .describe('beta1 (cache affinity) options');
