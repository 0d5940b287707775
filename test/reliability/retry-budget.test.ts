/**
 * Retry budget (issue 4, Envoy's retry budgets): when every backend resets every request,
 * retries stay within budgetPercent of requests plus minPerSecond (plus the bucket's small
 * burst), counted where it matters, as connections the backends accepted. Non-idempotent
 * requests are never retried after a reset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { local, resetOnRequestServer, startBallast } from '../helpers/servers.js';
import { cleanups } from '../helpers/lifecycle.js';

async function resetter() {
  const server = await resetOnRequestServer();
  cleanups.push(() => server.close());
  return server;
}

/** `total` requests from `concurrency` workers; returns statuses and elapsed ms. */
async function run(url: string, total: number, concurrency: number, method = 'GET') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses = new Map<number, number>();
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < total) {
      next++;
      const status = await new Promise<number>((resolve) => {
        const req = http.request(url, { method, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', () => resolve(0));
        req.end(method === 'POST' ? 'x' : undefined);
      });
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { statuses, ms: performance.now() - start };
}

const RETRIES = { enabled: true, maxAttempts: 3, budgetPercent: 20, minPerSecond: 3 };
/** The bucket's capacity: max(5, minPerSecond), full at start. */
const BURST = 5;

test('every backend resets: retries stay within 20% of requests plus the floor', async (t) => {
  const backends = [await resetter(), await resetter(), await resetter()];
  const lb = await startBallast({
    strategy: 'round_robin',
    servers: backends.map((b) => local(b.port)),
    retries: RETRIES,
    outlierDetection: { enabled: false },
  });
  cleanups.push(() => lb.stop(50));
  const N = 300;
  const { statuses, ms } = await run(`${lb.url}/`, N, 4);
  const attempts = backends.reduce((n, b) => n + b.counts.requests, 0);
  const connections = backends.reduce((n, b) => n + b.counts.connections, 0);
  const retries = attempts - N;
  const bound = BURST + (RETRIES.budgetPercent / 100) * N + RETRIES.minPerSecond * (ms / 1000);
  t.diagnostic(
    `figures ${JSON.stringify({ requests: N, statuses: Object.fromEntries(statuses), backendRequests: attempts, backendConnections: connections, retries, bound: Math.round(bound * 10) / 10, ms: Math.round(ms), counted: { retries: lb.stats.counters().retries, denied: lb.policy.retriesDenied } })}`,
  );
  assert.deepEqual([...statuses.keys()], [502], 'all fail (nothing answers)');
  assert.equal(connections, attempts, 'one request per backend connection (no reuse after a reset)');
  assert.equal(retries, lb.stats.counters().retries, 'the retry counter (admin API, /metrics) counted what the backends saw');
  assert.ok(retries <= bound, `${retries} retries for ${N} requests; budget ${bound.toFixed(1)}`);
  assert.ok(retries >= 0.15 * N, `the budget is used (${retries} retries), not just refused`);
  assert.ok(attempts <= N * RETRIES.maxAttempts);
});

test('POST reset by the backend: never retried, one backend request each', async () => {
  const backends = [await resetter(), await resetter()];
  const lb = await startBallast({ strategy: 'round_robin', servers: backends.map((b) => local(b.port)), retries: RETRIES, outlierDetection: { enabled: false } });
  cleanups.push(() => lb.stop(50));
  const N = 40;
  const { statuses } = await run(`${lb.url}/submit`, N, 2, 'POST');
  assert.deepEqual([...statuses.entries()], [[502, N]]);
  assert.equal(
    backends.reduce((n, b) => n + b.counts.requests, 0),
    N,
  );
  assert.equal(lb.stats.counters().retries, 0);
});

test('one backend of three resets: retries fix what the budget allows, and never multiply the load', async (t) => {
  const bad = await resetter();
  const { namedBackend } = await import('../helpers/servers.js');
  const good = [await namedBackend('g1'), await namedBackend('g2')];
  for (const g of good) cleanups.push(() => g.close());
  const lb = await startBallast({
    strategy: 'round_robin',
    servers: [local(bad.port), ...good.map((g) => local(g.port))],
    retries: RETRIES,
    outlierDetection: { enabled: false },
  });
  cleanups.push(() => lb.stop(50));
  const N = 300;
  const { statuses, ms } = await run(`${lb.url}/`, N, 4);
  const goodRequests = good.reduce((n, g) => n + g.requests.length, 0);
  const attempts = bad.counts.requests + goodRequests;
  const retries = attempts - N;
  const bound = BURST + (RETRIES.budgetPercent / 100) * N + RETRIES.minPerSecond * (ms / 1000);
  t.diagnostic(`figures ${JSON.stringify({ requests: N, statuses: Object.fromEntries(statuses), toBad: bad.counts.requests, toGood: goodRequests, retries, bound: Math.round(bound * 10) / 10, ms: Math.round(ms) })}`);
  assert.ok(retries <= bound, `${retries} retries within ${bound.toFixed(1)}`);
  assert.equal(statuses.get(200) ?? 0, goodRequests, 'every good backend request is a success');
  assert.equal((statuses.get(200) ?? 0) + (statuses.get(502) ?? 0), N);
});
