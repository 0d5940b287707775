/**
 * Chaos in TCP (L4) mode: the same SIGKILL of one of three demo backend processes under a
 * closed loop of GETs, each on its own connection, through a balancer process in `mode: tcp`.
 * At L4 a request whose connection was already relayed to the killed backend cannot be saved
 * (its bytes went to a dead process): at most the connections open at that instant fail.
 * Every connection opened after the kill must succeed (a refused connect fails over to another
 * backend), and the TCP check must mark the backend down within interval x fall + timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { getJson, sleep, spawnBackend, spawnBalancer, type BackendProcess } from './helpers.js';
import { cleanups } from '../helpers/lifecycle.js';

const CHECK = { intervalMs: 250, timeoutMs: 200, fall: 2, rise: 2, jitter: 0.1 };
const SLACK_MS = 300;
const CONNECTIONS = 6;

test('TCP mode, SIGKILL of a backend under load: only connections already on it fail, it is marked down within interval x fall', async (t) => {
  const backends: BackendProcess[] = await Promise.all(['t1', 't2', 't3'].map((n) => spawnBackend(n, ['--service', 'uniform:2-8'])));
  for (const b of backends) cleanups.push(() => b.kill('SIGKILL'));
  const lb = await spawnBalancer({
    mode: 'tcp',
    strategy: 'round_robin',
    servers: backends.map((b) => ({ host: '127.0.0.1', port: b.port })),
    healthCheck: CHECK,
    timeouts: { connectMs: 500 },
  });
  cleanups.push(() => lb.cleanup());
  const victim = backends[2]!;
  const address = `127.0.0.1:${victim.port}`;
  const status = async () =>
    ((await getJson(`${lb.adminUrl}/api/servers`)) as { servers: Array<{ address: string; status: string; healthy: boolean }> }).servers.find((s) => s.address === address)!;
  for (let i = 0; i < 50 && (await status()).status !== 'up'; i++) await sleep(100);

  let killedAt = Infinity;
  const counts = { sent: 0, ok: 0, failed: 0, failedStartedAfterKill: 0 };
  const end = performance.now() + 3500;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const startedAt = performance.now();
      counts.sent++;
      const fail = () => {
        counts.failed++;
        if (startedAt > killedAt) counts.failedStartedAfterKill++;
        resolve();
      };
      const req = http.get(`${lb.url}/`, { agent: false, timeout: 5000 }, (res) => {
        res.resume();
        res.on('error', fail);
        res.on('end', () => {
          if (res.statusCode === 200) counts.ok++;
          else counts.failed++;
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', fail);
    });
  const load = Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  await sleep(1000);
  const signalledAt = performance.now();
  victim.kill('SIGKILL');
  // From the moment the process is gone; a connection started between the signal and the
  // death may still have been relayed to it.
  killedAt = (await victim.exited).at;
  let downAt = 0;
  while (performance.now() < signalledAt + 3000) {
    const s = await status();
    if (!s.healthy) {
      downAt = performance.now();
      break;
    }
    await sleep(20);
  }
  await load;
  const figures = { scenario: 'TCP mode: SIGKILL one of 3 backends', ...counts, deathAfterSignalMs: Math.round(killedAt - signalledAt), outOfRotationAfterMs: downAt ? Math.round(downAt - signalledAt) : null, outOfRotationAfterDeathMs: downAt ? Math.round(downAt - killedAt) : null };
  t.diagnostic(`figures ${JSON.stringify(figures)}`);
  assert.ok(counts.sent > 50, `a real load ran (${counts.sent})`);
  assert.ok(counts.failed <= 2 * CONNECTIONS, `only connections open around the kill fail (${counts.failed})`);
  assert.equal(counts.failedStartedAfterKill, 0, 'no connection opened after the backend died failed');
  assert.ok(downAt > 0, 'taken out of rotation');
  // Counted from the process's death as this test saw it (on a loaded machine SIGKILL itself can take a few hundred ms).
  assert.ok(downAt - killedAt <= CHECK.intervalMs * CHECK.fall + CHECK.timeoutMs + SLACK_MS, `out of rotation ${Math.round(downAt - killedAt)} ms after the backend died`);
  assert.equal(lb.child.exitCode, null);
});
