/**
 * Wires the admin server (src/admin) to a running Ballast: the AdminContext is a thin view
 * over the balancer's parts, read on every call so reloads and strategy switches show.
 */
import { createAdminServer } from '../admin/server.js';
import { ConfigError } from '../config/load.js';
import type { AdminContext } from '../admin/context.js';
import { TestRunner } from '../loadtest/admin.js';
import type { Ballast } from './ballast.js';
import type { DiscoveryRunner } from './discovery.js';
import type { WorkerPlane } from '../workers/plane.js';
import type { Strategy } from '../strategies/types.js';

export interface RunningAdmin {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * The strategy's figures as the API shows them. On several workers the main thread's strategy
 * picks nothing, so the figures are a worker's (each learns on its own traffic; see plane.ts).
 */
function strategyView(ballast: Ballast, plane: WorkerPlane | undefined): Pick<Strategy, 'serverMetrics' | 'globalMetrics'> {
  const own = ballast.active.strategy;
  if (plane === undefined) return own;
  return {
    serverMetrics: own.serverMetrics === undefined ? undefined : (b) => plane.strategyFigures()?.servers[b.address] ?? {},
    globalMetrics: own.globalMetrics === undefined ? undefined : () => plane.strategyFigures()?.global ?? {},
  };
}

export async function startAdmin(ballast: Ballast, discovery?: DiscoveryRunner, plane?: WorkerPlane): Promise<RunningAdmin> {
  const log = ballast.log;
  const loadTests = new TestRunner();
  const ctx: AdminContext = {
    config: () => ballast.config,
    pool: ballast.pool,
    active: {
      get name() {
        return ballast.active.name;
      },
      get strategy() {
        return strategyView(ballast, plane);
      },
      switchTo: (name) => ballast.switchStrategy(name),
    },
    stats: ballast.stats,
    startedAt: ballast.startedAt,
    proxyUrl: ballast.url,
    toggleServer: (host, port) => ballast.toggleServer(host, port),
    health: { state: (b) => ballast.health.state(b) },
    loadTests,
    log: { warn: (m) => log.warn(m), info: (m) => log.info(m) },
    discovery: discovery === undefined ? undefined : () => discovery.status(),
    workers: plane === undefined ? undefined : () => plane.status(),
  };
  const server = createAdminServer(ctx);
  let address: { host: string; port: number };
  try {
    address = await server.listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const { host, port } = ballast.config.admin;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new ConfigError(`admin: cannot listen on ${host}:${port}: ${code}`);
    }
    throw err;
  }
  return {
    ...address,
    url: `http://${address.host}:${address.port}`,
    close: async () => {
      loadTests.close();
      await server.close();
    },
  };
}
