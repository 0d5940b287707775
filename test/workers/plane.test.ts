/**
 * Balancers on two workers, end to end on 127.0.0.1, on both ways of sharing the listen
 * address: they serve, the admin API and /metrics count the whole balancer, and a worker that
 * dies is restarted while the listener keeps accepting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { local } from '../helpers/servers.js';
import { until } from '../helpers/lifecycle.js';
import { eventually, get, getJson, holdingBackend, LISTEN_PATHS, startWorkers } from './helpers.js';

for (const path of LISTEN_PATHS) {
  test(`${path.name}: two workers serve, and the admin API and /metrics count both`, async () => {
    const a = await holdingBackend('a');
    const b = await holdingBackend('b');
    const lb = await startWorkers({ servers: [local(a.port), local(b.port)], strategy: 'round_robin' }, path.forceHandoff);
    const admin = lb.admin!.url;
    const status = await getJson<{ workers: unknown }>(`${admin}/api/status`);
    assert.deepEqual(status.workers, { count: 2, up: 2, restarts: 0, listener: path.expected() });

    const n = 40;
    const replies = [];
    for (let i = 0; i < n; i++) replies.push(await get(`${lb.ballast.url}/r${i}`));
    assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([200]));
    assert.equal(a.requests.length + b.requests.length, n);

    // Statistics arrive in batches every ~50 ms.
    let perf: { total_requests: number; successful_requests: number } = { total_requests: 0, successful_requests: 0 };
    assert.ok(
      await eventually(async () => {
        perf = await getJson<typeof perf>(`${admin}/api/performance`);
        return perf.total_requests === n;
      }),
      `total_requests ${perf.total_requests}, sent ${n}`,
    );
    assert.equal(perf.successful_requests, n);
    const servers = await getJson<{ servers: Array<{ port: number; requests: number }> }>(`${admin}/api/servers`);
    assert.deepEqual(
      servers.servers.map((s) => [s.port, s.requests]),
      [
        [a.port, a.requests.length],
        [b.port, b.requests.length],
      ],
      'per-backend counts of every worker',
    );
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    assert.match(metrics, /^ballast_workers_up 2$/m);
    assert.match(metrics, /^ballast_worker_restarts_total 0$/m);
    const counted = [...metrics.matchAll(/^ballast_requests_total\{backend="[^"]+",code="2xx"\} (\d+)$/gm)].reduce((s, m) => s + Number(m[1]), 0);
    assert.equal(counted, n, 'ballast_requests_total sums every worker');
    // Round robin runs per worker: every backend got traffic.
    assert.ok(a.requests.length > 0 && b.requests.length > 0);
  });

  test(`${path.name}: a worker that dies is restarted; the listener keeps accepting and the other worker's requests finish`, async () => {
    const a = await holdingBackend('a');
    const lb = await startWorkers({ servers: [local(a.port)] }, path.forceHandoff);
    const plane = lb.plane!;
    const parked = get(`${lb.ballast.url}/hold`);
    assert.ok(await until(() => a.held === 1, 5_000), 'the request reached the backend');
    const reports = await plane.inspect();
    const holder = reports.find((r) => r.inflight === 1)!;
    assert.ok(holder !== undefined, `a worker holds the request: ${JSON.stringify(reports)}`);
    const victim = plane.threads()[1 - holder.index]!;
    await victim.terminate();

    // While the dead one is down and restarted, every new connection is served.
    for (let i = 0; i < 20; i++) assert.equal((await get(`${lb.ballast.url}/after${i}`)).status, 200, `request ${i} after the worker died`);
    a.release();
    assert.deepEqual(await parked, { status: 200, body: 'a' }, 'the request in flight on the other worker finished');
    assert.ok(await until(() => plane.status().up === 2, 10_000), 'the dead worker is back');
    assert.equal(plane.status().restarts, 1);
    assert.equal(lb.ballast.pool.totalInflight, 0);
    for (let i = 0; i < 10; i++) assert.equal((await get(`${lb.ballast.url}/later${i}`)).status, 200);
  });
}

test('the in-flight requests of a worker that dies leave the shared counts with it', async () => {
  const a = await holdingBackend('a');
  const lb = await startWorkers({ servers: [local(a.port)] });
  const plane = lb.plane!;
  const parked = get(`${lb.ballast.url}/hold`).catch((err: Error) => err);
  assert.ok(await until(() => a.held === 1, 5_000));
  assert.equal(lb.ballast.pool.totalInflight, 1);
  assert.equal(lb.ballast.pool.backends[0]!.inflight, 1);
  const holder = (await plane.inspect()).find((r) => r.inflight === 1)!;
  await plane.threads()[holder.index]!.terminate();
  assert.ok(await until(() => lb.ballast.pool.totalInflight === 0, 5_000), `in flight after the death: ${lb.ballast.pool.totalInflight}`);
  assert.equal(lb.ballast.pool.backends[0]!.inflight, 0);
  assert.ok((await parked) instanceof Error, 'its client saw the connection die');
  a.release();
});

test('least_connections balances by the in-flight requests of both workers', async () => {
  const backends = await Promise.all(['a', 'b', 'c'].map((n) => holdingBackend(n)));
  const lb = await startWorkers({ servers: backends.map((b) => local(b.port)), strategy: 'least_connections' });
  const parked = [];
  for (let i = 0; i < 9; i++) {
    parked.push(get(`${lb.ballast.url}/hold${i}`));
    // One at a time, so each pick sees every request before it in flight.
    assert.ok(await until(() => lb.ballast.pool.totalInflight === i + 1 && backends.reduce((n, b) => n + b.held, 0) === i + 1, 5_000), `request ${i} in flight`);
  }
  const reports = await lb.plane!.inspect();
  assert.deepEqual(
    backends.map((b) => b.held),
    [3, 3, 3],
    `each pick went to the least loaded backend of the whole balancer (workers held ${reports.map((r) => r.inflight).join(' and ')})`,
  );
  for (const b of backends) b.release();
  await Promise.all(parked);
});

test('limits.maxConnectionsPerBackend holds across workers, and requests queued on one worker get the slots another frees', async () => {
  const a = await holdingBackend('a');
  const lb = await startWorkers({ servers: [local(a.port)], limits: { maxConnectionsPerBackend: 2, queueTimeoutMs: 20_000 } });
  const replies = Array.from({ length: 6 }, (_, i) => get(`${lb.ballast.url}/hold${i}`));
  assert.ok(await until(() => a.held === 2, 5_000), 'two reach the backend');
  const reports = await lb.plane!.inspect();
  assert.equal(a.held, 2, `never more than the limit in flight (workers hold ${reports.map((r) => r.inflight).join(' and ')})`);
  assert.equal(lb.ballast.pool.totalInflight, 2);
  let served = 0;
  while (served < 6) {
    assert.ok(await until(() => a.held > 0, 10_000), `queued requests reached the backend (${served} served)`);
    assert.ok(a.held <= 2, `held ${a.held}`);
    served += a.held;
    a.release();
  }
  assert.deepEqual(
    (await Promise.all(replies)).map((r) => r.status),
    Array(6).fill(200),
  );
});
