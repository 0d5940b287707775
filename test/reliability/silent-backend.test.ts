/**
 * A backend that accepts connections and never answers (issue 4): requests still succeed via
 * the others, after the response-headers timeout and a retry within the budget; when it is the
 * only backend the client gets a 504 once the timeout passes, not a hang; the balancer stays up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type net from 'node:net';
import { local, namedBackend, request, startBallast, tcpServer } from '../helpers/servers.js';
import { track } from '../helpers/lifecycle.js';

/** Accepts, reads, never writes. Counts connections. */
async function silentServer() {
  const accepted: net.Socket[] = [];
  const server = await tcpServer((s) => {
    accepted.push(s);
    s.resume();
  });
  return { ...server, accepted };
}

const TIMEOUT = 300;

test('GETs succeed via the other backends while one never answers', async (t) => {
  const silent = track(await silentServer());
  const a = track(await namedBackend('a'));
  const b = track(await namedBackend('b'));
  const lb = track(
    await startBallast({
      strategy: 'round_robin',
      servers: [local(silent.port), local(a.port), local(b.port)],
      timeouts: { responseHeadersMs: TIMEOUT },
    }),
  );
  const N = 30;
  const statuses: number[] = [];
  let slow = 0;
  const started = performance.now();
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const r = await request(`${lb.url}/item/${i}`);
    statuses.push(r.status);
    if (performance.now() - t0 >= TIMEOUT * 0.8) slow++;
    assert.match(r.body.toString(), /^[ab]$/);
  }
  t.diagnostic(`figures ${JSON.stringify({ sent: N, failed: statuses.filter((s) => s !== 200).length, waitedForTimeout: slow, silentConnections: silent.accepted.length, ms: Math.round(performance.now() - started) })}`);
  assert.deepEqual(statuses, Array(N).fill(200), 'every GET answered 200');
  assert.ok(silent.accepted.length >= 1, 'the silent backend was tried');
  // Outlier detection takes it out after consecutiveFailures (5) timeouts: only those requests paid the timeout.
  assert.ok(silent.accepted.length <= 5, `${silent.accepted.length} requests were sent to it`);
  assert.equal(lb.pool.find('127.0.0.1', silent.port)!.status, 'ejected');
});

test('when the silent backend is the only one: 504 after responseHeadersMs (GET and POST), and the balancer stays up', async () => {
  const silent = track(await silentServer());
  const lb = track(await startBallast({ servers: [local(silent.port)], timeouts: { responseHeadersMs: TIMEOUT } }));
  for (const method of ['GET', 'POST']) {
    const t0 = performance.now();
    const r = await request(`${lb.url}/`, { method, ...(method === 'POST' ? { body: 'x' } : {}) });
    const ms = performance.now() - t0;
    assert.equal(r.status, 504, method);
    assert.ok(ms >= TIMEOUT * 0.9, `${method}: not before the timeout (${Math.round(ms)} ms)`);
    // One attempt only: the single backend is not retried against itself.
    assert.ok(ms < TIMEOUT * 2, `${method}: one timeout, not several (${Math.round(ms)} ms)`);
  }
  // Many at once: each gets its 504, none hangs.
  const burst = await Promise.all(Array.from({ length: 20 }, () => request(`${lb.url}/`)));
  assert.deepEqual(
    burst.map((r) => r.status),
    Array(20).fill(504),
  );

  // The balancer still serves once a working backend is there.
  const good = track(await namedBackend('good'));
  const cfg = { ...lb.config, servers: [...lb.config.servers, local(good.port)] };
  lb.reload(cfg);
  lb.toggleServer('127.0.0.1', silent.port);
  const r = await request(`${lb.url}/`);
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'good');
});

test('a backend that sends the head and part of the body, then stalls: the client is cut after upstreamIdleMs and the in-flight count returns to 0', async (t) => {
  // Defaults keep backendKeepAliveMs (15 s) below upstreamIdleMs (60 s); the same ratio here, scaled down.
  const IDLE = 600;
  const staller = track(
    await tcpServer((s) => {
      s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'));
    }),
  );
  const lb = track(await startBallast({ servers: [local(staller.port)], timeouts: { upstreamIdleMs: IDLE, backendKeepAliveMs: 300 } }));
  const { rawRequest } = await import('../helpers/servers.js');
  const t0 = performance.now();
  // rawRequest gives up after 4 s of silence; the balancer must close well before.
  const out = await rawRequest(lb.address.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 4000);
  const ms = performance.now() - t0;
  t.diagnostic(`connection ended after ${Math.round(ms)} ms`);
  assert.match(out, /^HTTP\/1\.1 200 OK/);
  assert.ok(ms < IDLE + 1500, `the stalled response was cut after ${Math.round(ms)} ms (upstreamIdleMs ${IDLE}), not left hanging`);
  assert.equal(lb.pool.backends[0]!.inflight, 0, 'the attempt ended');
});
