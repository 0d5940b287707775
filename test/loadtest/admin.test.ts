import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestRunner } from '../../src/loadtest/admin.js';
import { parseTestBody } from '../../src/loadtest/api-fields.js';
import { startServer } from './helpers.js';

test('bodies: defaults, caps and bad types', () => {
  assert.deepEqual(parseTestBody('load_test', {}), { ok: true, options: { requests: 50, connections: 10 } });
  assert.deepEqual(parseTestBody('load_test', undefined), { ok: true, options: { requests: 50, connections: 10 } });
  assert.deepEqual(parseTestBody('stress_test', {}), { ok: true, options: { durationS: 30, connections: 50 } });
  assert.deepEqual(parseTestBody('load_test', { requests: 5, concurrent: 20 }), { ok: true, options: { requests: 5, connections: 5 } });
  for (const [kind, body] of [
    ['load_test', { requests: 100_001 }],
    ['load_test', { requests: 0 }],
    ['load_test', { requests: '50' }],
    ['load_test', { requests: 1.5 }],
    ['load_test', { concurrent: 1001 }],
    ['stress_test', { duration: 301 }],
    ['stress_test', { duration: -1 }],
    ['stress_test', { duration: 'long' }],
    ['stress_test', [1, 2]],
    ['stress_test', 'x'],
  ] as const) {
    const r = parseTestBody(kind, body);
    assert.equal(r.ok, false, JSON.stringify(body));
  }
});

test('TestRunner: beyond the caps -> 400 with success false', async () => {
  const runner = new TestRunner();
  for (const [kind, body, field] of [
    ['load_test', { requests: 100_001 }, /requests/],
    ['load_test', { concurrent: 1001 }, /concurrent/],
    ['stress_test', { duration: 301 }, /duration/],
    ['stress_test', { concurrent: 'ten' }, /concurrent/],
  ] as const) {
    const r = await runner.start(kind, body, 'http://127.0.0.1:9/');
    assert.equal(r.status, 400);
    assert.equal((r.body as { success: boolean }).success, false);
    assert.match((r.body as { error: string }).error, field);
  }
  assert.deepEqual(runner.progress(), { running: false });
});

test('TestRunner: a load test runs in a worker and returns the original fields plus percentiles', async () => {
  let n = 0;
  const srv = await startServer((_req, res) => {
    res.statusCode = n++ % 10 === 9 ? 503 : 200;
    res.setHeader('X-Backend', 'demo:1');
    res.end('ok');
  });
  try {
    const runner = new TestRunner();
    const r = await runner.start('load_test', { requests: 200, concurrent: 5 }, srv.url + '/');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const b = r.body as Record<string, unknown>;
    assert.equal(b['test_type'], 'load_test');
    assert.equal(b['total_requests'], 200);
    assert.equal(b['successful'], 180);
    assert.equal(b['failed'], 20);
    for (const f of ['avg_response_time', 'min_response_time', 'max_response_time', 'duration', 'requests_per_second', 'p50_response_time', 'p90_response_time', 'p99_response_time']) {
      assert.equal(typeof b[f], 'number', f);
    }
    assert.ok((b['min_response_time'] as number) <= (b['p50_response_time'] as number));
    assert.ok((b['p99_response_time'] as number) <= (b['max_response_time'] as number));
    const hist = b['latency_histogram'] as Array<{ le_ms: number | null; count: number }>;
    assert.equal(hist.reduce((s, x) => s + x.count, 0), 200);
    assert.equal(hist.at(-1)!.le_ms, null);
    assert.deepEqual(b['server_distribution'], { 'demo:1': 200 });
    assert.deepEqual(runner.progress(), { running: false });
  } finally {
    await srv.close();
  }
});

test('TestRunner: a second test while one runs -> 409; progress is reported; the slot frees after', async () => {
  const srv = await startServer((_req, res) => setTimeout(() => res.end('ok'), 2));
  try {
    const runner = new TestRunner();
    const first = runner.start('stress_test', { duration: 1.5, concurrent: 4 }, srv.url + '/');
    const second = await runner.start('load_test', {}, srv.url + '/');
    assert.equal(second.status, 409);
    assert.deepEqual(second.body, { success: false, error: 'a test is already running' });
    // The worker takes a moment to boot (longer under tsx); poll, bounded.
    let p = runner.progress();
    for (let i = 0; i < 100 && p.running && p.done === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      p = runner.progress();
    }
    assert.equal(p.running, true);
    if (p.running) {
      assert.equal(p.kind, 'stress_test');
      assert.equal(p.total, null);
      assert.ok(p.done > 0, `done ${p.done}`);
      assert.ok(p.fraction > 0 && p.fraction <= 1);
    }
    const r = await first;
    assert.equal(r.status, 200);
    const b = r.body as Record<string, unknown>;
    assert.equal(b['test_type'], 'stress_test');
    assert.equal(b['concurrent_users'], 4);
    assert.equal(b['success_rate'], 100);
    assert.ok(Math.abs((b['duration'] as number) - 1.5) < 0.5);
    assert.equal(b['total_requests'], b['successful']);
    const third = await runner.start('load_test', { requests: 10, concurrent: 2 }, srv.url + '/');
    assert.equal(third.status, 200);
  } finally {
    await srv.close();
  }
});

test('TestRunner.close stops a running test early', async () => {
  const srv = await startServer((_req, res) => setTimeout(() => res.end('ok'), 2));
  try {
    const runner = new TestRunner();
    const started = Date.now();
    const run = runner.start('stress_test', { duration: 60, concurrent: 2 }, srv.url + '/');
    await new Promise((r) => setTimeout(r, 300));
    await runner.close();
    const r = await run;
    assert.equal(r.status, 200);
    assert.ok(Date.now() - started < 10_000);
    assert.deepEqual(runner.progress(), { running: false });
  } finally {
    await srv.close();
  }
});
