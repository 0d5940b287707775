/**
 * Every strategy survives a backend dying under load: the failover, retry and ejection paths
 * are shared, but each strategy keeps its own view of the backends (latency estimates, hash
 * orders, health scores), and none may keep sending clients to a dead backend. In-process:
 * three backends, one closed with all its connections mid-run, 6 connections of GETs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { STRATEGY_NAMES } from '../../src/config/schema.js';
import { local, startBallast } from '../helpers/servers.js';
import { closedLoop, sleep, summary } from './helpers.js';
import { cleanups } from '../helpers/lifecycle.js';

async function backend(name: string) {
  const server = http.createServer((req, res) => {
    req.resume();
    setTimeout(() => res.writeHead(200, { 'x-backend': name }).end(name), 5);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const stop = () => {
    server.close();
    server.closeAllConnections();
  };
  cleanups.push(stop);
  return { port: (server.address() as AddressInfo).port, stop };
}

for (const strategy of STRATEGY_NAMES) {
  test(`${strategy}: a backend dying under load costs no GET`, async (t) => {
    const backends = await Promise.all(['a', 'b', 'c'].map(backend));
    const lb = await startBallast({
      strategy,
      servers: backends.map((b) => local(b.port)),
      healthCheck: { enabled: true, intervalMs: 200, timeoutMs: 500, fall: 2 },
      beta1: { key: { path: true } },
    });
    cleanups.push(() => lb.stop(50));
    let i = 0;
    const load = closedLoop(lb.url, { connections: 6, durationMs: 1200, path: () => `/item/${i++ % 50}` });
    await sleep(400);
    backends[1]!.stop();
    const result = await load.done;
    const afterDeath = result.byBackend.get('b') ?? 0;
    t.diagnostic(`figures ${JSON.stringify({ strategy, ...summary(result), retries: lb.stats.counters().retries, failovers: lb.stats.counters().failovers })}`);
    assert.equal(result.failed, 0, JSON.stringify(summary(result)));
    assert.ok(afterDeath > 0, 'the backend served before it died');
    assert.ok((result.byBackend.get('a') ?? 0) > afterDeath && (result.byBackend.get('c') ?? 0) > afterDeath, 'the survivors took over');
  });
}
