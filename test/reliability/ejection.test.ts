/**
 * Passive ejection (issue 4, Envoy outlier detection): a backend whose connections are reset
 * is ejected after outlierDetection.consecutiveFailures failed attempts, traffic avoids it
 * (and the failed attempts were retried, so clients saw no error); it returns after its
 * backoff and a passing active check, and a repeat ejection lasts twice as long. Never more
 * than maxEjectedPercent of the pool is ejected at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { local, namedBackend, request, resetOnRequestServer, startBallast } from '../helpers/servers.js';
import { sleep, waitFor } from './helpers.js';
import { cleanups } from '../helpers/lifecycle.js';

async function resetter() {
  const server = await resetOnRequestServer();
  cleanups.push(() => server.close());
  return server;
}

async function good(name: string) {
  const g = await namedBackend(name);
  cleanups.push(() => g.close());
  return g;
}

const FAILURES = 3;
const BASE_MS = 2000;

test('a resetting backend is ejected after consecutiveFailures, traffic avoids it, clients see no error; it returns and a repeat ejection is longer', async (t) => {
  const bad = await resetter();
  const g1 = await good('g1');
  const g2 = await good('g2');
  const lb = await startBallast({
    strategy: 'round_robin',
    servers: [local(bad.port), local(g1.port), local(g2.port)],
    // TCP checks pass on the resetter: only the passive detector can see it is broken.
    healthCheck: { enabled: true, type: 'tcp', intervalMs: 100, timeoutMs: 500, rise: 1, fall: 2, jitter: 0 },
    outlierDetection: { consecutiveFailures: FAILURES, baseEjectionMs: BASE_MS, maxEjectionMs: 10_000 },
  });
  cleanups.push(() => lb.stop(50));
  const b = lb.pool.find('127.0.0.1', bad.port)!;
  const status = (): string => b.status;

  const statuses: number[] = [];
  for (let i = 0; i < 30 && status() !== 'ejected'; i++) statuses.push((await request(`${lb.url}/`)).status);
  assert.equal(status(), 'ejected');
  assert.equal(bad.counts.requests, FAILURES, `exactly ${FAILURES} requests reached it before the ejection`);
  // While ejected, traffic avoids it.
  for (let i = 0; i < 10; i++) statuses.push((await request(`${lb.url}/`)).status);
  assert.ok(b.ejectedUntil > lb.clock.now(), 'still within the ejection');
  assert.equal(bad.counts.requests, FAILURES, 'no request to it while ejected');
  assert.deepEqual(statuses, Array(statuses.length).fill(200), 'failed attempts were retried on the good backends');
  const firstUntil = b.ejectedUntil;
  const firstAt = lb.outlier.state(b).lastEjectedAt!;
  assert.ok(Math.abs(firstUntil - firstAt - BASE_MS) < 1, 'first ejection lasts baseEjectionMs');

  // Back after the backoff and a passing check; it fails again and is ejected for twice as long.
  assert.ok(await waitFor(() => status() === 'up', BASE_MS + 2000), 'returned after its backoff');
  let more = 0;
  for (; more < 30 && status() === 'up'; more++) assert.equal((await request(`${lb.url}/`)).status, 200);
  assert.equal(status(), 'ejected', 'ejected again');
  assert.equal(bad.counts.requests, 2 * FAILURES);
  const second = lb.outlier.state(b);
  assert.equal(second.ejections, 2);
  assert.ok(Math.abs(second.ejectedUntil - second.lastEjectedAt! - 2 * BASE_MS) < 1, 'the repeat ejection lasts twice as long');
  t.diagnostic(`figures ${JSON.stringify({ requests: statuses.length + more, badRequests: bad.counts.requests, counters: lb.outlier.counters })}`);
});

test('never more than maxEjectedPercent of the pool is ejected at once', async () => {
  const bad1 = await resetter();
  const bad2 = await resetter();
  const g = await good('g');
  const lb = await startBallast({
    strategy: 'round_robin',
    servers: [local(bad1.port), local(bad2.port), local(g.port)],
    retries: { budgetPercent: 100 },
    outlierDetection: { consecutiveFailures: FAILURES, baseEjectionMs: 5000, maxEjectedPercent: 50 },
  });
  cleanups.push(() => lb.stop(50));
  let maxEjected = 0;
  for (let i = 0; i < 40; i++) {
    await request(`${lb.url}/`);
    maxEjected = Math.max(maxEjected, lb.outlier.currentlyEjected());
  }
  assert.equal(maxEjected, 1, '3 members at 50%: one ejected at most');
  assert.ok(lb.outlier.counters.skippedByLimit > 0, 'the second resetter was refused an ejection by the limit');
  assert.equal(lb.pool.ready.length, 2);
  await sleep(10);
});
