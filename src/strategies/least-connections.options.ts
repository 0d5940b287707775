/** least_connections' options (the `least_connections:` config key): none. */
import { z } from 'zod';

export const leastConnectionsOptions = z.strictObject({}).describe('least_connections has no options');
