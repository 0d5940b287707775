/**
 * What the main thread changes reaches every worker: a strategy switch and a backend toggle
 * through the admin API, a reload (SIGHUP in a real process), the readiness of a backend added
 * by the reload. Each worker is asked what it runs (WorkerPlane.inspect).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { local } from '../helpers/servers.js';
import { until } from '../helpers/lifecycle.js';
import { spawnBalancer } from '../reliability/helpers.js';
import { get, holdingBackend, startWorkers } from './helpers.js';
import type { WorkerReport } from '../../src/workers/protocol.js';

async function post(url: string, body: unknown): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

/** Polls every worker until `ok` holds for all of them. */
async function everyWorker(plane: { inspect(): Promise<WorkerReport[]> }, ok: (r: WorkerReport) => boolean): Promise<WorkerReport[]> {
  let reports: WorkerReport[] = [];
  const end = Date.now() + 5_000;
  while (Date.now() < end) {
    reports = await plane.inspect();
    if (reports.length === 2 && reports.every(ok)) return reports;
  }
  assert.fail(`not every worker got there: ${JSON.stringify(reports)}`);
}

test('a strategy switch and a server toggle through the admin API reach every worker', async () => {
  const a = await holdingBackend('a');
  const b = await holdingBackend('b');
  const lb = await startWorkers({ servers: [local(a.port), local(b.port)], strategy: 'round_robin' });
  const admin = lb.admin!.url;
  const plane = lb.plane!;
  await everyWorker(plane, (r) => r.strategy === 'round_robin' && r.ready.length === 2);

  assert.equal(await post(`${admin}/api/strategy`, { strategy: 'least_connections' }), 200);
  await everyWorker(plane, (r) => r.strategy === 'least_connections');

  assert.equal(await post(`${admin}/api/servers/toggle`, { host: '127.0.0.1', port: a.port }), 200);
  await everyWorker(plane, (r) => r.ready.join() === `127.0.0.1:${b.port}`);
  const before = a.requests.length;
  for (let i = 0; i < 20; i++) assert.deepEqual(await get(`${lb.ballast.url}/x${i}`), { status: 200, body: 'b' });
  assert.equal(a.requests.length, before, 'no worker sends to the disabled backend');

  assert.equal(await post(`${admin}/api/servers/toggle`, { host: '127.0.0.1', port: a.port }), 200);
  await everyWorker(plane, (r) => r.ready.length === 2);
});

test('a reload reaches every worker: servers added and removed, options, the strategy the file names', async () => {
  const a = await holdingBackend('a');
  const b = await holdingBackend('b');
  const c = await holdingBackend('c');
  const lb = await startWorkers({ servers: [local(a.port), local(b.port)], strategy: 'round_robin' });
  const next = parseConfig({ ...lb.ballast.config, strategy: 'weighted_round_robin', servers: [local(b.port), local(c.port, 3)] });
  lb.ballast.reload(next);
  const reports = await everyWorker(plane(lb), (r) => r.strategy === 'weighted_round_robin' && r.servers.join() === `127.0.0.1:${b.port},127.0.0.1:${c.port}`);
  assert.deepEqual(
    reports.map((r) => r.ready.length),
    [2, 2],
  );
  for (let i = 0; i < 20; i++) assert.notEqual((await get(`${lb.ballast.url}/y${i}`)).body, 'a');
  assert.ok(c.requests.length > 0, 'the added server takes traffic');
});

function plane(lb: Awaited<ReturnType<typeof startWorkers>>) {
  return lb.plane!;
}

test('a server a reload adds is not ready on any worker until the main thread\'s health checks pass it', async () => {
  const a = await holdingBackend('a');
  const lb = await startWorkers({ servers: [local(a.port)], healthCheck: { enabled: true, intervalMs: 60_000, path: '/', rise: 1 } });
  await everyWorker(plane(lb), (r) => r.ready.length === 1);
  const c = await holdingBackend('c');
  lb.ballast.reload(parseConfig({ ...lb.ballast.config, servers: [local(a.port), local(c.port)] }));
  // The new server's first check runs at once; until it passes, no worker sends to it.
  assert.ok(await until(() => lb.ballast.pool.ready.length === 2, 5_000), 'the main thread checked the new server');
  await everyWorker(plane(lb), (r) => r.ready.length === 2);
});

test('SIGHUP in a running `ballast start` with two workers reloads every worker', async () => {
  const a = await holdingBackend('a');
  const b = await holdingBackend('b');
  const config = { workers: 2, strategy: 'round_robin', healthCheck: { enabled: false }, servers: [local(a.port), local(b.port)] };
  const lb = await spawnBalancer(config);
  try {
    lb.writeConfig({ ...config, servers: [local(b.port)] });
    lb.kill('SIGHUP');
    for (const worker of [1, 2]) await lb.waitForLog((l) => l.msg === 'config reloaded' && l.worker === worker, 10_000);
    const before = a.requests.length;
    for (let i = 0; i < 20; i++) assert.deepEqual(await get(`${lb.url}/z${i}`), { status: 200, body: 'b' });
    assert.equal(a.requests.length, before, 'no worker sends to the removed server');
    const status = (await (await fetch(`${lb.adminUrl}/api/servers`)).json()) as { servers: Array<{ port: number }> };
    assert.deepEqual(
      status.servers.map((s) => s.port),
      [b.port],
    );
  } finally {
    await lb.cleanup();
  }
});
