/**
 * weighted_round_robin's options (the `weighted_round_robin:` config key). Kept apart from the
 * algorithm (Envoy's split of config parsing from policy); `.describe()` texts feed the config
 * reference.
 */
import { z } from 'zod';

const ms = (d: string) => z.number().nonnegative().describe(d);

export const weightedRoundRobinOptions = z
  .strictObject({
    minWeightFactor: z.number().min(0).max(1).default(0.05).describe('floor of the effective weight, as a share of the configured weight'),
    recoveryMs: ms('time a backend needs to climb from its floor back to its full weight (after failures, or on returning)').default(20_000),
  })
  .describe('weighted_round_robin (HF-WRR) options; the failure history decays with the pool\'s half-life');
