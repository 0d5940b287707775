/** What either data plane (HTTP or TCP) is built from: the composition root hands it over. */
import type { Config } from '../config/schema.js';
import type { Pool } from '../pool/pool.js';
import type { ActiveStrategy } from '../strategies/active.js';
import type { StatsRecorder } from '../stats/recorder.js';
import type { Logger } from '../util/log.js';
import type { AttemptPolicy } from '../balancer/policy.js';
import type { AccessLineSink } from '../accesslog/access-log.js';

export interface ProxyDeps {
  config: Config;
  pool: Pool;
  active: ActiveStrategy;
  policy: AttemptPolicy;
  stats: StatsRecorder;
  log: Logger;
  now: () => number;
  /** A worker's access-log lines go here instead of a file (the main thread writes them); absent: the proxy writes its own. */
  accessLogSink?: AccessLineSink;
}
