/**
 * What the admin server needs from the running balancer. The composition root (src/app)
 * implements it; tests pass small fakes. The admin server reads through it and never holds
 * on to a config or strategy object, since both change on reload and on strategy switches.
 */
import type { FleetStatus } from '../discovery/types.js';
import type { Config } from '../config/schema.js';
import type { Backend } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { ActiveStrategy } from '../strategies/active.js';
import type { Strategy } from '../strategies/types.js';
import type { Stats } from '../stats/stats.js';

export interface WorkersView {
  count: number;
  up: number;
  restarts: number;
  /** How they share the listen address: 'single' (one event loop), 'reuseport', 'handoff' (dups of one socket). */
  listener: string;
}

/** What a balancer on one event loop reports for its workers. */
export const SINGLE: WorkersView = { count: 1, up: 1, restarts: 0, listener: 'single' };

export type LoadTestKind = 'load_test' | 'stress_test';

/**
 * The load tester behind `POST /api/load-test` and `/api/stress-test` (src/loadtest). `start`
 * validates the body, caps it (400), refuses a second concurrent run (409), runs the test off
 * the main thread and resolves with the reply. `progress` is polled by the dashboard.
 */
export interface LoadTestRunner {
  start(kind: LoadTestKind, body: unknown, targetUrl: string): Promise<{ status: number; body: object }>;
  progress(): object;
}

/** Optional per-backend health-check detail (HealthMonitor.state), shown as `health` in /api/servers. */
export interface HealthView {
  state(b: Backend): object | undefined;
}

/** Where warnings about the admin server go (pino's logger fits). */
export interface AdminLog {
  warn(message: string): void;
  info(message: string): void;
}

export interface AdminContext {
  /** The current config; it changes on reload, so read it on every use. */
  config(): Config;
  pool: Pool;
  /** The running strategy; `switchTo` throws UnknownStrategyError for a name that cannot run. */
  active: Pick<ActiveStrategy, 'name' | 'switchTo'> & { readonly strategy: Pick<Strategy, 'serverMetrics' | 'globalMetrics'> };
  stats: Stats;
  /** Date.now() when the balancer started. */
  startedAt: number;
  /** `http://host:port` of the balancer: where load tests send their requests. */
  proxyUrl: string;
  /** Flips a backend's admin switch: 'stopped' (now disabled), 'started', or undefined when unknown. */
  toggleServer(host: string, port: number): 'stopped' | 'started' | undefined;
  health?: HealthView;
  loadTests: LoadTestRunner;
  log?: AdminLog;
  /** Where the servers come from when not the config file: the discovery source's state. */
  discovery?: (() => FleetStatus) | undefined;
  /** The event loops proxying: how many, how many are up, restarts so far (default: one, never restarted). */
  workers?: () => WorkersView;
  /** Directory holding the built dashboard (index.html, app.js...); default dist/dashboard. */
  dashboardDir?: string;
}
