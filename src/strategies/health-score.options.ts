/**
 * health_score's options (the `health_score:` config key). Kept apart from the algorithm
 * (Envoy's split of config parsing from policy); `.describe()` texts feed the config reference.
 */
import { z } from 'zod';

export const healthScoreOptions = z
  .strictObject({
    successWeight: z.number().min(0).default(0.5).describe('weight of the decaying success rate (proxy outcomes and health checks, half-life of the pool) in the score'),
    loadWeight: z.number().min(0).default(0.3).describe('weight of in-flight load relative to the least loaded backend'),
    latencyWeight: z.number().min(0).default(0.2).describe('weight of peak-EWMA latency relative to the fastest backend'),
  })
  .refine((o) => o.successWeight + o.loadWeight + o.latencyWeight > 0, 'at least one weight must be above 0')
  .describe('health_score (HS-BS) options');
