/**
 * Chaos under load (issue 4): three demo backends and the balancer run as separate processes;
 * a closed loop of GETs runs through the balancer while one backend is killed (SIGKILL),
 * restarted, or frozen (SIGSTOP). No GET may fail, and the active checks must mark a killed
 * backend down within healthCheck.intervalMs x fall plus one check timeout.
 *
 * The figures (requests sent and failed per scenario) are printed as test diagnostics; the
 * README's Reliability section quotes them.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { closedLoop, getJson, sleep, spawnBackend, spawnBalancer, summary, waitFor, type BackendProcess, type BalancerProcess } from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const CHECK = { intervalMs: 250, timeoutMs: 200, fall: 2, rise: 2, jitter: 0.1 };
/** Polling the admin API and a busy 2-core machine: what a timing bound may be late by. */
const SLACK_MS = 300;

interface ServerView {
  address: string;
  status: string;
  healthy: boolean;
  health?: { consecutiveFails: number; consecutivePasses: number; lastResult: string | null };
}

async function servers(lb: BalancerProcess): Promise<ServerView[]> {
  return ((await getJson(`${lb.adminUrl}/api/servers`)) as { servers: ServerView[] }).servers;
}

async function threeBackends(): Promise<BackendProcess[]> {
  const list = await Promise.all(['b1', 'b2', 'b3'].map((n) => spawnBackend(n, ['--service', 'uniform:2-8'])));
  for (const b of list) cleanups.push(() => b.kill('SIGKILL'));
  return list;
}

async function balancer(backends: BackendProcess[], extra: Record<string, unknown> = {}): Promise<BalancerProcess> {
  const lb = await spawnBalancer({
    strategy: 'round_robin',
    servers: backends.map((b) => ({ host: '127.0.0.1', port: b.port })),
    healthCheck: CHECK,
    timeouts: { connectMs: 500, responseHeadersMs: 2000 },
    // Short ejections, so a restarted backend is not held out by an ejection for the default 10 s.
    outlierDetection: { baseEjectionMs: 500 },
    ...extra,
  });
  cleanups.push(() => lb.cleanup());
  assert.ok(lb.adminUrl, 'admin API address logged');
  // A first check that failed (a backend still warming up on a busy machine) needs `rise` passes.
  let all: ServerView[] = [];
  for (let i = 0; i < 50; i++) {
    all = await servers(lb);
    if (all.every((s) => s.status === 'up')) break;
    await sleep(100);
  }
  assert.deepEqual(
    all.map((s) => s.status),
    ['up', 'up', 'up'],
  );
  return lb;
}

/** Polls the admin API for one backend's state until `stop()`; records when it changed. */
function watch(lb: BalancerProcess, address: string) {
  const seen = { outOfRotationAt: 0, markedDownAt: 0, backUpAt: 0, polls: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = performance.now();
      const s = (await servers(lb)).find((x) => x.address === address);
      seen.polls++;
      if (s !== undefined) {
        if (!s.healthy && seen.outOfRotationAt === 0) seen.outOfRotationAt = at;
        // Marked down by the active checks (an ejection shows as status "ejected" but the check counters tell).
        if (seen.markedDownAt === 0 && (s.status === 'down' || (s.health?.consecutiveFails ?? 0) >= CHECK.fall)) seen.markedDownAt = at;
        if (seen.markedDownAt !== 0 && seen.backUpAt === 0 && s.status === 'up') seen.backUpAt = at;
      }
      await sleep(20);
    }
  })();
  return {
    seen,
    async stop() {
      running = false;
      await loop;
    },
  };
}

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

// With 6 connections all six can be waiting on the frozen backend at once; their timeouts then
// need six retries together, one more than the retry bucket holds today (B8 in the notes).
test('SIGSTOP of a backend under load (accepts, never answers): GETs time out on it and are retried, none fails', async (t) => {
  const backends = await threeBackends();
  const lb = await balancer(backends, { timeouts: { connectMs: 500, responseHeadersMs: 500 } });
  const victim = backends[0]!;
  const address = `127.0.0.1:${victim.port}`;
  const watcher = watch(lb, address);

  const load = closedLoop(lb.url, { connections: 6, durationMs: 3000 });
  await sleep(800);
  const stoppedAt = performance.now();
  victim.kill('SIGSTOP');
  const outSeen = await waitFor(() => watcher.seen.outOfRotationAt !== 0, CHECK.intervalMs * CHECK.fall + CHECK.timeoutMs * CHECK.fall + 2000);
  const result = await load.done;
  await watcher.stop();
  victim.kill('SIGCONT');

  const figures = {
    scenario: 'SIGSTOP one of 3 backends (responseHeadersMs 500)',
    ...summary(result),
    outOfRotationAfterMs: Math.round(watcher.seen.outOfRotationAt - stoppedAt),
    markedDownAfterMs: watcher.seen.markedDownAt === 0 ? null : Math.round(watcher.seen.markedDownAt - stoppedAt),
  };
  t.diagnostic(`figures ${JSON.stringify(figures)}`);
  assert.ok(outSeen, 'the frozen backend was taken out of rotation');
  assert.equal(result.failed, 0, `no GET failed: ${JSON.stringify(figures)}`);
  assert.equal(lb.child.exitCode, null, 'the balancer is still running');
});
