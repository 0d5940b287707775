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

export interface RunningAdmin {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startAdmin(ballast: Ballast, discovery?: DiscoveryRunner): Promise<RunningAdmin> {
  const log = ballast.log;
  const loadTests = new TestRunner();
  const ctx: AdminContext = {
    config: () => ballast.config,
    pool: ballast.pool,
    active: ballast.active,
    stats: ballast.stats,
    startedAt: ballast.startedAt,
    proxyUrl: ballast.url,
    toggleServer: (host, port) => ballast.toggleServer(host, port),
    health: { state: (b) => ballast.health.state(b) },
    loadTests,
    log: { warn: (m) => log.warn(m), info: (m) => log.info(m) },
    discovery: discovery === undefined ? undefined : () => discovery.status(),
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
