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
    weightSource: z
      .enum(['config', 'orca'])
      .default('config')
      .describe('config: servers[].weight; orca: from the backends\' load reports (endpoint-load-metrics), qps / (utilization + errorUtilizationPenalty x eps / qps), as gRPC\'s weighted_round_robin'),
    blackoutMs: ms('orca: a backend must report this long before its reported weight is used (again after an expiry or a return)').default(10_000),
    weightExpirationMs: ms('orca: a reported weight older than this is dropped').min(1).default(180_000),
    weightUpdateMs: ms('orca: how often the weights are recomputed from the latest reports').min(100).default(1_000),
    errorUtilizationPenalty: z.number().nonnegative().default(1).describe('orca: how much a backend\'s error share (eps / qps) adds to its utilization'),
  })
  .describe('weighted_round_robin (HF-WRR) options; the failure history decays with the pool\'s half-life');
