/** What either data plane (HTTP or TCP) is built from: the composition root hands it over. */
import type { Config } from '../config/schema.js';
import type { Pool } from '../pool/pool.js';
import type { ActiveStrategy } from '../strategies/active.js';
import type { StatsRecorder } from '../stats/recorder.js';
import type { Logger } from '../util/log.js';
import type { AttemptPolicy } from '../balancer/policy.js';

export interface ProxyDeps {
  config: Config;
  pool: Pool;
  active: ActiveStrategy;
  policy: AttemptPolicy;
  stats: StatsRecorder;
  log: Logger;
  now: () => number;
}
