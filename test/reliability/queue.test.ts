/**
 * Per-backend connection limits with a bounded queue (issue 4, HAProxy maxconn / maxqueue):
 * a backend never sees more than limits.maxConnectionsPerBackend requests at once; requests
 * over the limit wait in the queue and go through when a slot frees; a full queue answers 503
 * at once, and a wait longer than limits.queueTimeoutMs answers 503 when it expires.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { httpServer, local, request, startBallast } from '../helpers/servers.js';
import { cleanups } from '../helpers/lifecycle.js';

/** A backend answering after `delayMs`, recording the most requests it had at once. */
async function limitedBackend(name: string, delayMs: number) {
  const seen = { now: 0, max: 0 };
  const server = await httpServer((req, res) => {
    req.resume();
    seen.now++;
    seen.max = Math.max(seen.max, seen.now);
    setTimeout(() => {
      seen.now--;
      res.end(name);
    }, delayMs);
  });
  cleanups.push(() => server.close());
  return { ...server, seen };
}

async function timed(url: string) {
  const t0 = performance.now();
  const r = await request(url);
  return { status: r.status, body: r.body.toString(), ms: performance.now() - t0 };
}

test('over the limit: two in flight, two queued until the queue timeout (503), two refused at once (queue full)', async (t) => {
  const DELAY = 800;
  const QUEUE_MS = 300;
  const be = await limitedBackend('a', DELAY);
  const lb = await startBallast({
    servers: [local(be.port)],
    limits: { maxConnectionsPerBackend: 2, maxQueuePerBackend: 2, queueTimeoutMs: QUEUE_MS },
  });
  cleanups.push(() => lb.stop(50));
  const results = await Promise.all(Array.from({ length: 6 }, () => timed(`${lb.url}/`)));
  results.sort((x, y) => x.ms - y.ms);
  t.diagnostic(JSON.stringify(results.map((r) => ({ status: r.status, ms: Math.round(r.ms), body: r.body.trim().slice(0, 60) }))));
  const ok = results.filter((r) => r.status === 200);
  const full = results.filter((r) => r.status === 503 && /queue is full/.test(r.body));
  const expired = results.filter((r) => r.status === 503 && /queue wait expired/.test(r.body));
  assert.equal(ok.length, 2, 'two served');
  assert.equal(full.length, 2, 'two refused: queue full');
  assert.equal(expired.length, 2, 'two queued until the queue timeout');
  // Timings relative to each other (the machine may be busy): refusals first, then expiries, then answers.
  for (const r of full) assert.ok(r.ms < Math.min(...expired.map((e) => e.ms)), `queue full answered before any queue wait expired (${Math.round(r.ms)} ms)`);
  for (const r of expired) {
    assert.ok(r.ms >= QUEUE_MS * 0.9, `queue timeout not before ${QUEUE_MS} ms (${Math.round(r.ms)} ms)`);
    assert.ok(r.ms < Math.min(...ok.map((o) => o.ms)), `queue timeout before the backend answered (${Math.round(r.ms)} ms)`);
  }
  for (const r of ok) assert.ok(r.ms >= DELAY * 0.9);
  assert.equal(be.seen.max, 2, 'never more than maxConnectionsPerBackend at the backend');
  assert.equal(be.requests.length, 2, 'queued requests that expired never reached the backend');
  assert.equal((await timed(`${lb.url}/`)).status, 200, 'served again once the load is gone');
});

test('queued requests go through when a slot frees, within the queue timeout', async () => {
  const DELAY = 200;
  const be = await limitedBackend('a', DELAY);
  const lb = await startBallast({
    servers: [local(be.port)],
    limits: { maxConnectionsPerBackend: 2, maxQueuePerBackend: 10, queueTimeoutMs: 3000 },
  });
  cleanups.push(() => lb.stop(50));
  const results = await Promise.all(Array.from({ length: 8 }, () => timed(`${lb.url}/`)));
  assert.deepEqual(
    results.map((r) => r.status),
    Array(8).fill(200),
  );
  assert.equal(be.seen.max, 2);
  // 8 requests, 2 at a time, 200 ms each: the last finishes after about 4 rounds.
  const slowest = Math.max(...results.map((r) => r.ms));
  assert.ok(slowest >= DELAY * 4 * 0.9, `the queue really held them (${Math.round(slowest)} ms)`);
});

test('with two backends the queue spills to whichever frees first; each stays within its limit', async () => {
  const a = await limitedBackend('a', 150);
  const b = await limitedBackend('b', 300);
  const lb = await startBallast({
    strategy: 'least_connections',
    servers: [local(a.port), local(b.port)],
    limits: { maxConnectionsPerBackend: 1, maxQueuePerBackend: 5, queueTimeoutMs: 3000 },
  });
  cleanups.push(() => lb.stop(50));
  const results = await Promise.all(Array.from({ length: 8 }, () => timed(`${lb.url}/`)));
  assert.deepEqual(
    results.map((r) => r.status),
    Array(8).fill(200),
  );
  assert.equal(a.seen.max, 1);
  assert.equal(b.seen.max, 1);
  assert.ok(a.requests.length > b.requests.length, 'the faster backend took more of the queue');
});

test('a graceful stop lets queued requests through before closing', async () => {
  const be = await limitedBackend('a', 300);
  const lb = await startBallast({ servers: [local(be.port)], limits: { maxConnectionsPerBackend: 1, queueTimeoutMs: 5000 } });
  await timed(`${lb.url}/warm`);
  const results = Array.from({ length: 3 }, () => timed(`${lb.url}/`));
  const { waitFor } = await import('./helpers.js');
  assert.ok(await waitFor(() => be.requests.length === 2, 2000), 'one in flight, two queued');
  await lb.stop(3000);
  assert.deepEqual(
    (await Promise.all(results)).map((r) => r.status),
    [200, 200, 200],
  );
  assert.equal(be.seen.max, 1);
});
