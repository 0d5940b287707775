/** round_robin's options (the `round_robin:` config key): none. */
import { z } from 'zod';

export const roundRobinOptions = z.strictObject({}).describe('round_robin has no options');
