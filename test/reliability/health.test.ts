/**
 * Active checks end to end (issue 4): no request reaches a backend before its first check
 * passed, a backend failing its checks is marked down within intervalMs x fall (+ the
 * failing checks' timeouts), and that bound holds for the config in force after a reload that
 * shortened the interval, not only from the check after next.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { parseConfig } from '../../src/config/load.js';
import { httpServer, local, request, startBallast } from '../helpers/servers.js';
import { waitFor } from './helpers.js';
import { cleanups } from '../helpers/lifecycle.js';

/** A backend whose /health answers `healthStatus` (settable), and which counts proxied requests. */
async function checkedBackend() {
  const state = { healthStatus: 200, served: 0, checks: [] as number[] };
  const server = await httpServer((req, res) => {
    req.resume();
    if (req.url === '/health') {
      state.checks.push(performance.now());
      res.writeHead(state.healthStatus).end();
      return;
    }
    state.served++;
    res.end('ok');
  });
  cleanups.push(() => server.close());
  return Object.assign(server, { state });
}

test('a backend failing its first check gets no traffic; once its checks pass (rise) it does', async () => {
  const a = await checkedBackend();
  const b = await checkedBackend();
  b.state.healthStatus = 503;
  const lb = await startBallast({
    strategy: 'round_robin',
    servers: [local(a.port), local(b.port)],
    // A generous timeout: a first probe in a fresh process on a busy machine can be slow.
    healthCheck: { enabled: true, intervalMs: 100, timeoutMs: 1000, rise: 2, fall: 2, jitter: 0 },
  });
  cleanups.push(() => lb.stop(50));
  for (let i = 0; i < 10; i++) {
    const r = await request(`${lb.url}/`);
    assert.equal(r.status, 200, `${r.body} ${lb.pool.backends.map((x) => x.status).join(",")}`);
  }
  assert.equal(b.state.served, 0, 'no request to a backend whose checks fail');
  b.state.healthStatus = 200;
  const bb = lb.pool.find('127.0.0.1', b.port)!;
  assert.ok(await waitFor(() => bb.status === 'up', 1000), 'up after rise passes');
  for (let i = 0; i < 10; i++) await request(`${lb.url}/`);
  assert.ok(b.state.served >= 4, `then it takes its share (${b.state.served} of 10)`);
});

test('after a reload that shortens intervalMs, a failing backend is marked down within the new interval x fall', async (t) => {
  const a = await checkedBackend();
  const b = await checkedBackend();
  const base = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { enabled: false },
    strategy: 'round_robin',
    servers: [local(a.port), local(b.port)],
  };
  const lb = await startBallast({ ...base, healthCheck: { enabled: true, intervalMs: 30_000, timeoutMs: 100, fall: 2, jitter: 0 } } as never);
  cleanups.push(() => lb.stop(50));
  const NEW = { enabled: true, intervalMs: 100, timeoutMs: 100, fall: 2, jitter: 0 };
  lb.reload(parseConfig({ ...base, healthCheck: NEW }));
  const failingFrom = performance.now();
  b.state.healthStatus = 503;
  const bb = lb.pool.find('127.0.0.1', b.port)!;
  const down = await waitFor(() => !bb.healthy, 3000);
  const ms = performance.now() - failingFrom;
  t.diagnostic(`marked down ${Math.round(ms)} ms after its checks began failing (new interval ${NEW.intervalMs} x fall ${NEW.fall})`);
  assert.ok(down, 'marked down at all within 3 s (the old interval was 30 s)');
  assert.ok(ms <= NEW.intervalMs * NEW.fall + NEW.timeoutMs + 300, `within the new bound (${Math.round(ms)} ms)`);
});
