/**
 * Chaos under load: a backend process frozen with SIGSTOP keeps its listening socket, so the
 * kernel still accepts connections, but nothing answers (the worst kind of failure to detect).
 * GETs stuck on it time out (responseHeadersMs) and are retried on the others; none may fail.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { closedLoop, sleep, summary, waitFor } from './helpers.js';
import { CHECK, balancer, cleanups, threeBackends, watch } from './chaos-support.js';

after(async () => {
  for (const c of cleanups.reverse()) await c();
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
