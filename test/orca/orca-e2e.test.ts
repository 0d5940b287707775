// Load reports end to end: demo backends emitting endpoint-load-metrics (both forms) through the
// real proxy; the header removed from client responses by default and passed on when asked;
// reported_load in the API and the metrics; weighted_round_robin with weightSource orca moving
// traffic off a slow backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend } from '../../src/backend/server.js';
import { startAdmin } from '../../src/app/admin.js';
import { local, request, startBallast } from '../helpers/servers.js';
import { track } from '../helpers/lifecycle.js';

async function getMany(url: string, n: number, concurrency: number): Promise<string[]> {
  const served: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const r = await request(url);
        assert.equal(r.status, 200);
        served.push(String(r.headers['x-backend']).replace(/:\d+$/, ''));
      }
    }),
  );
  return served;
}

test('orca e2e: reports are read and removed from client responses; API and metrics show them', async () => {
  const text = track(await startBackend({ port: 0, name: 'text', serviceTime: { kind: 'fixed', ms: 1 }, workers: 2, loadReports: 'text' }));
  const json = track(await startBackend({ port: 0, name: 'json', serviceTime: { kind: 'fixed', ms: 1 }, workers: 2, loadReports: 'json' }));
  const direct = await request(`http://127.0.0.1:${text.port}/`);
  assert.match(String(direct.headers['endpoint-load-metrics']), /^TEXT cpu_utilization=[\d.e-]+, rps_fractional=[\d.e-]+, eps=0$/);
  const directJson = await request(`http://127.0.0.1:${json.port}/`);
  assert.match(String(directJson.headers['endpoint-load-metrics']), /^JSON \{"cpu_utilization":/);

  const lb = track(await startBallast({ servers: [local(text.port), local(json.port)], strategy: 'round_robin', admin: { host: '127.0.0.1', port: 0 } }));
  const admin = track(await startAdmin(lb));
  for (let i = 0; i < 6; i++) {
    const r = await request(`${lb.url}/`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['endpoint-load-metrics'], undefined, 'stripped by default');
  }
  const status = JSON.parse((await request(`${admin.url}/api/status`)).body.toString()) as { reported_load: Record<string, { reports: number; cpu_utilization: number; rps_fractional: number; age_ms: number } | null> };
  for (const b of [text, json]) {
    const rl = status.reported_load[`127.0.0.1:${b.port}`];
    assert.ok(rl !== null && rl !== undefined, `reported_load for ${b.name}`);
    assert.equal(rl.reports, 3);
    assert.ok(rl.cpu_utilization >= 0 && rl.rps_fractional > 0, JSON.stringify(rl));
  }
  const servers = JSON.parse((await request(`${admin.url}/api/servers`)).body.toString()) as { servers: Array<{ reported_load: { reports: number } | null }> };
  assert.deepEqual(servers.servers.map((s) => s.reported_load?.reports), [3, 3]);
  const metrics = (await request(`${admin.url}/metrics`)).body.toString();
  assert.match(metrics, /ballast_backend_load_reports_total\{backend="127\.0\.0\.1:\d+",result="read"\} 3/);
  assert.match(metrics, /ballast_backend_reported_cpu_utilization\{backend="127\.0\.0\.1:\d+"\} [\d.e-]+/);
  assert.match(metrics, /ballast_backend_reported_rps\{backend="127\.0\.0\.1:\d+"\} [\d.e-]+/);
});

test('orca e2e: proxy.forwardLoadReports passes the header on, and it is still read', async () => {
  const b = track(await startBackend({ port: 0, name: 'fwd', serviceTime: { kind: 'fixed', ms: 0 }, loadReports: 'text' }));
  const lb = track(await startBallast({ servers: [local(b.port)], proxy: { forwardLoadReports: true } }));
  const r = await request(`${lb.url}/`);
  assert.match(String(r.headers['endpoint-load-metrics']), /^TEXT cpu_utilization=/);
  assert.equal(lb.pool.backends[0]!.reported.received, 1);
});

test('orca e2e: weighted_round_robin weightSource orca sends less to the backend whose reports say it is slower', async () => {
  // Same worker slots, one backend far slower: its reports show it busy at a low rate. The gap
  // is wide so that timers running late on a loaded machine (which lengthen every request
  // alike) cannot close it: weight ratio (150 + d) / (1 + d), above 4 for any delay d up to 45 ms.
  const fast = track(await startBackend({ port: 0, name: 'fast', serviceTime: { kind: 'fixed', ms: 1 }, workers: 4, loadReports: 'text' }));
  const slow = track(await startBackend({ port: 0, name: 'slow', serviceTime: { kind: 'fixed', ms: 150 }, workers: 4, loadReports: 'json' }));
  const lb = track(
    await startBallast({
      servers: [local(fast.port), local(slow.port)],
      strategy: 'weighted_round_robin',
      seed: 3,
      weighted_round_robin: { weightSource: 'orca', blackoutMs: 0, weightUpdateMs: 100 },
    }),
  );
  // Both have reported before the measured requests (round robin until two weights are usable).
  await getMany(`${lb.url}/`, 40, 4);
  const served = await getMany(`${lb.url}/`, 120, 4);
  const slowShare = served.filter((n) => n === 'slow').length / served.length;
  // Round robin would give it half; the reported weights well under a fifth.
  assert.ok(slowShare < 0.3, `slow backend's share ${slowShare}`);
  const m = lb.active.strategy.serverMetrics!(lb.pool.backends[1]!) as { reported_weight: number | null };
  const f = lb.active.strategy.serverMetrics!(lb.pool.backends[0]!) as { reported_weight: number | null };
  assert.ok(m.reported_weight !== null && f.reported_weight !== null && f.reported_weight > 3 * m.reported_weight, JSON.stringify({ f, m }));
});
