/**
 * Chaos at a higher concurrency: the SIGKILL scenario of chaos.test.ts with 48 connections and
 * 100 ms requests, so the killed backend holds about 16 GETs in flight when it dies. Each is
 * reset before any response byte and must be retried on another backend: 16 retries among
 * ~450 requests per second is well within "extra attempts at most 20% of requests", so none
 * may fail. Retries overall must still stay within the budget.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { local, startBallast } from '../helpers/servers.js';
import { closedLoop, sleep, spawnBackend, summary } from './helpers.js';
import { cleanups } from '../helpers/lifecycle.js';

test('SIGKILL of a backend holding ~16 GETs in flight (48 connections): every GET is retried elsewhere, none fails', async (t) => {
  const backends = await Promise.all(['k1', 'k2', 'k3'].map((n) => spawnBackend(n, ['--service', 'fixed:100'])));
  for (const b of backends) cleanups.push(() => b.kill('SIGKILL'));
  const lb = await startBallast({
    strategy: 'round_robin',
    servers: backends.map((b) => local(b.port)),
    healthCheck: { enabled: true, intervalMs: 250, timeoutMs: 500, fall: 2, rise: 2 },
  });
  cleanups.push(() => lb.stop(50));
  const load = closedLoop(lb.url, { connections: 48, durationMs: 2500 });
  await sleep(1000);
  const victim = lb.pool.find('127.0.0.1', backends[1]!.port)!;
  const inflightAtKill = victim.inflight;
  backends[1]!.kill('SIGKILL');
  const result = await load.done;
  const figures = {
    scenario: 'SIGKILL one of 3 backends, 48 connections, 100 ms requests',
    ...summary(result),
    inflightOnVictimAtKill: inflightAtKill,
    retries: lb.stats.counters().retries,
    retriesDenied: lb.policy.retriesDenied,
    failovers: lb.stats.counters().failovers,
  };
  t.diagnostic(`figures ${JSON.stringify(figures)}`);
  assert.ok(inflightAtKill >= 4, `the victim had requests in flight (${inflightAtKill})`);
  assert.equal(result.failed, 0, `no GET failed: ${JSON.stringify(figures)}`);
  assert.ok(lb.stats.counters().retries <= 0.2 * result.sent + 5 + 3 * (result.durationMs / 1000), 'retries within the budget');
});
