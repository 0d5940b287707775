/**
 * What every client connection and exchange of one HTTP proxy shares: resolved once at
 * start-up (and on reload) so the per-request path reads plain fields.
 */
import type { Config } from '../../config/schema.js';
import type { Pool } from '../../pool/pool.js';
import type { ActiveStrategy } from '../../strategies/active.js';
import type { StatsRecorder } from '../../stats/recorder.js';
import type { Logger } from '../../util/log.js';
import type { AttemptPolicy } from '../../balancer/policy.js';
import type { RaceEnv } from '../../balancer/race.js';
import type { DeadlineSweeper } from '../deadlines.js';
import type { KeySource } from '../key.js';
import type { UpstreamPool } from './upstream.js';
import type { SlotQueue } from './slot-queue.js';
import type { AddressRanges } from '../../util/address.js';
import type { AccessLog } from '../../accesslog/access-log.js';
import type { LoadReportReader } from '../../orca/reported-load.js';

export interface ProxyContext {
  config: Config;
  readonly pool: Pool;
  readonly active: ActiveStrategy;
  readonly policy: AttemptPolicy;
  readonly stats: StatsRecorder;
  readonly now: () => number;
  readonly sweeper: DeadlineSweeper;
  readonly upstreams: UpstreamPool;
  readonly queue: SlotQueue;
  readonly log: Logger;
  /** What every request's attempt race shares (its settings follow reloads). */
  readonly race: RaceEnv;
  /** Key extraction for the running strategy (its definition's `requestKey`); used while `active.needsKey`. */
  keySource: KeySource;
  /** `Name: value\r\n` prefix of the tracing header without the value, or '' when off. */
  backendHeaderName: string;
  /** Lower-case name of the idempotency header a strategy declares (registry `requestPolicy`), or ''. */
  idempotentHeader: string;
  /** Largest request body kept in memory so the request can be retried or hedged. */
  replayLimit: number;
  /** Clients whose forwarding headers are kept (proxy.trustedProxies). */
  trustedProxies: AddressRanges;
  /** One JSON line per request, or null when off (nothing is built per request then). */
  accessLog: AccessLog | null;
  /** Reads backends' ORCA load reports (one reused record). */
  readonly loadReports: LoadReportReader;
  /** True once shutdown began: responses close their connections. */
  draining: boolean;
}
