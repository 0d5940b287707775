/**
 * response_time's options (the `response_time:` config key). Kept apart from the algorithm
 * (Envoy's split of config parsing from policy); `.describe()` texts feed the config reference.
 */
import { z } from 'zod';

const ms = (d: string) => z.number().nonnegative().describe(d);

export const responseTimeOptions = z
  .strictObject({
    defaultLatencyMs: ms('latency assumed while no backend has a sample yet (then an unmeasured backend is priced like the best measured one)').default(50),
    exploreAfterMs: ms('an idle backend with no sample for this long is sent one probe request (0: never)').default(5_000),
  })
  .describe('response_time (RRT-BS) options; the peak-EWMA time constant is the pool\'s (10 s)');
