/**
 * Chaos under load (issue 4): three demo backends and the balancer run as separate processes;
 * a closed loop of GETs runs through the balancer while one backend is killed (SIGKILL) and
 * later restarted. No GET may fail, the active checks must mark the backend down within
 * healthCheck.intervalMs x fall plus one check timeout, and the restarted one must rejoin.
 *
 * The figures (requests sent and failed) are printed as test diagnostics; the README's
 * Reliability section quotes them.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { closedLoop, sleep, spawnBackend, summary, waitFor } from './helpers.js';
import { CHECK, SLACK_MS, balancer, cleanups, threeBackends, watch } from './chaos-support.js';

after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('SIGKILL of a backend under load: no GET fails, it is marked down within interval x fall, and a restart rejoins', async (t) => {
  const backends = await threeBackends();
  const lb = await balancer(backends);
  const victim = backends[1]!;
  const address = `127.0.0.1:${victim.port}`;
  const watcher = watch(lb, address);

  // Runs until stopped below (at most 15 s): through the kill, the restart and the rejoin.
  const load = closedLoop(lb.url, { connections: 6, durationMs: 15_000 });
  await sleep(1000);
  const servedBeforeKill = load.result.byBackend.get(`b2:${victim.port}`) ?? 0;
  const killedAt = performance.now();
  victim.kill('SIGKILL');
  await victim.exited;

  const downSeen = await waitFor(() => watcher.seen.markedDownAt !== 0, CHECK.intervalMs * CHECK.fall + CHECK.timeoutMs + 2000);
  assert.ok(downSeen, 'the killed backend was marked down');
  const downAfterMs = watcher.seen.markedDownAt - killedAt;
  const outAfterMs = watcher.seen.outOfRotationAt - killedAt;

  // Restart on the same port: it must come back after `rise` passing checks and take traffic.
  const restarted = await spawnBackend('b2', ['--service', 'uniform:2-8'], victim.port);
  cleanups.push(() => restarted.kill('SIGKILL'));
  const upSeen = await waitFor(() => watcher.seen.backUpAt !== 0, CHECK.intervalMs * (CHECK.rise + 1) + 3000);
  const victimKey = `b2:${victim.port}`;
  const servedBeforeRejoin = load.result.byBackend.get(victimKey) ?? 0;
  await waitFor(() => (load.result.byBackend.get(victimKey) ?? 0) > servedBeforeRejoin + 20, 3000);
  load.stop();
  const result = await load.done;
  await watcher.stop();

  const figures = {
    scenario: 'SIGKILL one of 3 backends, restart it',
    ...summary(result),
    servedByVictimBeforeKill: servedBeforeKill,
    markedDownAfterMs: Math.round(downAfterMs),
    outOfRotationAfterMs: Math.round(outAfterMs),
    bound: CHECK.intervalMs * CHECK.fall + CHECK.timeoutMs,
  };
  t.diagnostic(`figures ${JSON.stringify(figures)}`);

  assert.ok(servedBeforeKill > 0, 'the victim served traffic before it was killed');
  assert.equal(result.failed, 0, `no GET failed: ${JSON.stringify(figures)}`);
  assert.ok(result.sent > 100, `a real load ran: ${result.sent} requests`);
  assert.ok(
    downAfterMs <= CHECK.intervalMs * CHECK.fall + CHECK.timeoutMs + SLACK_MS,
    `marked down ${Math.round(downAfterMs)} ms after the kill; bound ${CHECK.intervalMs} x ${CHECK.fall} + ${CHECK.timeoutMs} (+${SLACK_MS} polling slack)`,
  );
  assert.ok(upSeen, 'the restarted backend was marked up again');
  assert.ok((result.byBackend.get(victimKey) ?? 0) > servedBeforeRejoin + 20, 'the restarted backend took traffic again');
  assert.equal(lb.child.exitCode, null, 'the balancer is still running');
});
