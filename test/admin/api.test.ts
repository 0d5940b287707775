/**
 * The admin API's contract: every endpoint's fields (the original project's names plus ours)
 * and every error case, against a real admin server on 127.0.0.1:0.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, startFixture, type Fixture } from './fixture.js';
import type { Strategy } from '../../src/strategies/types.js';
import { UnknownStrategyError } from '../../src/strategies/active.js';

function assertError(r: { status: number; json: any; headers: Record<string, unknown> }, status: number, pattern?: RegExp) {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.match(String(r.headers['content-type']), /application\/json/);
  assert.equal(r.json.success, false);
  assert.equal(typeof r.json.error, 'string');
  if (pattern) assert.match(r.json.error, pattern);
}

describe('admin API without a token', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
    const [a, b] = f.pool.backends;
    f.stats.requestFinished(a, 200, 12, '10.0.0.1');
    f.stats.requestFinished(a, 200, 30, '10.0.0.2');
    f.stats.requestFinished(b, 502, 100, '10.0.0.3');
    f.stats.requestFinished(undefined, 503, 1, '10.0.0.4');
    b!.totalFailures = 4;
  });
  after(() => f.close());

  test('GET /api/status', async () => {
    const r = await call(f.port, 'GET', '/api/status');
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.equal(r.json.running, true);
    assert.equal(r.json.strategy, 'round_robin');
    assert.equal(r.json.total_servers, 3);
    assert.equal(r.json.healthy_servers, 3);
    assert.equal(r.json.available_servers, 3);
    assert.ok(r.json.uptime_seconds >= 5);
    assert.ok(r.json.strategies.includes('least_connections'));
  });

  test('GET /api/servers has the original fields and ours', async () => {
    const r = await call(f.port, 'GET', '/api/servers');
    assert.equal(r.status, 200);
    assert.equal(r.json.servers.length, 3);
    const s = r.json.servers[1];
    for (const k of ['host', 'port', 'healthy', 'connections', 'failures', 'manually_disabled', 'status', 'weight', 'inflight', 'p50_ms', 'p99_ms']) {
      assert.ok(k in s, `servers[].${k}`);
    }
    assert.equal(s.host, '127.0.0.1');
    assert.equal(s.port, 8082);
    assert.equal(s.healthy, true);
    assert.equal(s.failures, 4);
    assert.equal(s.manually_disabled, false);
    assert.equal(s.status, 'up');
    assert.equal(s.requests, 1);
    assert.ok(Math.abs(s.p99_ms - 100) <= 1);
    assert.equal(r.json.servers[0].requests, 2);
  });

  test('GET /api/performance has the original fields, HDR percentiles and a rolling rate', async () => {
    const r = await call(f.port, 'GET', '/api/performance');
    assert.equal(r.status, 200);
    const p = r.json;
    assert.equal(p.total_requests, 4);
    assert.equal(p.successful_requests, 2);
    assert.equal(p.failed_requests, 2);
    assert.equal(p.success_rate, 50);
    assert.equal(p.active_connections, 0);
    assert.ok(p.uptime_seconds >= 5);
    assert.ok(Math.abs(p.avg_response_time_ms - 143 / 4) < 0.01);
    assert.ok(p.requests_per_minute > 0);
    assert.ok(p.requests_per_second > 0);
    for (const k of ['p50_ms', 'p90_ms', 'p99_ms']) assert.equal(typeof p[k], 'number');
    assert.deepEqual(p.server_request_counts, { '127.0.0.1:8081': 2, '127.0.0.1:8082': 1 });
    assert.equal(p.recent_requests.length, 4);
    const last = p.recent_requests[3];
    assert.deepEqual(Object.keys(last).sort(), ['client', 'duration_ms', 'duration_s', 'server', 'status', 'success', 'timestamp']);
    assert.equal(last.server, null);
    assert.equal(last.success, false);
    assert.ok(Math.abs(last.timestamp - Date.now() / 1000) < 60);
  });

  test('GET /api/realtime and /api/requests', async () => {
    const rt = await call(f.port, 'GET', '/api/realtime');
    assert.equal(rt.status, 200);
    assert.deepEqual(Object.keys(rt.json).sort(), ['performance', 'servers', 'status', 'timestamp']);
    assert.equal(rt.json.servers.length, 3);
    assert.equal(rt.json.status.running, true);
    const rq = await call(f.port, 'GET', '/api/requests?limit=2');
    assert.equal(rq.status, 200);
    assert.equal(rq.json.recent_requests.length, 2);
    assert.equal(rq.json.recent_requests[1].client, '10.0.0.4');
    assert.ok('server_request_counts' in rq.json && 'timestamp' in rq.json);
    assertError(await call(f.port, 'GET', '/api/requests?limit=-1'), 400, /limit/);
    assertError(await call(f.port, 'GET', '/api/requests?limit=abc'), 400, /limit/);
  });

  test('GET /api/history gives per-second series for the charts', async () => {
    const r = await call(f.port, 'GET', '/api/history?seconds=60');
    assert.equal(r.status, 200);
    assert.equal(r.json.step_s, 1);
    assert.ok(Array.isArray(r.json.t));
    assert.deepEqual(Object.keys(r.json.servers), ['127.0.0.1:8081', '127.0.0.1:8082', '127.0.0.1:8083']);
    assert.equal(r.json.servers['127.0.0.1:8081'].rps.length, r.json.t.length);
    assertError(await call(f.port, 'GET', '/api/history?seconds=0'), 400);
  });

  test('GET /api/algorithm-metrics for a strategy without extra metrics', async () => {
    const r = await call(f.port, 'GET', '/api/algorithm-metrics');
    assert.equal(r.status, 200);
    assert.equal(r.json.strategy, 'round_robin');
    assert.equal(r.json.servers.length, 3);
    assert.deepEqual(Object.keys(r.json.servers[0]).slice(0, 5), ['host', 'port', 'healthy', 'connections', 'failures']);
    assert.equal(Object.keys(r.json).filter((k) => k.endsWith('_global')).length, 0);
  });

  test('POST /api/strategy switches at run time; GET /api/status shows it', async () => {
    const r = await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'least_connections' } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { success: true, strategy: 'least_connections', previous: 'round_robin' });
    assert.equal((await call(f.port, 'GET', '/api/status')).json.strategy, 'least_connections');
    assert.equal((await call(f.port, 'GET', '/api/strategy')).json.strategy, 'least_connections');
    await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'round_robin' } });
  });

  test('POST /api/strategy errors: unknown name, bad JSON, wrong shape', async () => {
    assertError(await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'nope' } }), 400, /Invalid strategy/);
    assertError(await call(f.port, 'POST', '/api/strategy', { body: '{"strategy": ' }), 400, /invalid JSON/);
    assertError(await call(f.port, 'POST', '/api/strategy', { body: '[1,2]' }), 400, /JSON object/);
    assertError(await call(f.port, 'POST', '/api/strategy', { body: { strategy: 7 } }), 400, /Invalid strategy/);
    assertError(await call(f.port, 'POST', '/api/strategy'), 400, /Invalid strategy/);
    assert.equal((await call(f.port, 'GET', '/api/status')).json.strategy, 'round_robin');
  });

  test('POST /api/servers/toggle stops and starts a backend', async () => {
    const r = await call(f.port, 'POST', '/api/servers/toggle', { body: { host: '127.0.0.1', port: 8082 } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { success: true, action: 'stopped', server: '127.0.0.1:8082' });
    const s = (await call(f.port, 'GET', '/api/servers')).json.servers[1];
    assert.equal(s.manually_disabled, true);
    assert.equal(s.status, 'disabled');
    assert.equal((await call(f.port, 'GET', '/api/status')).json.available_servers, 2);
    const back = await call(f.port, 'POST', '/api/servers/toggle', { body: { host: '127.0.0.1', port: '8082' } });
    assert.deepEqual(back.json, { success: true, action: 'started', server: '127.0.0.1:8082' });
    assert.equal(f.pool.backends[1]!.enabled, true);
  });

  test('POST /api/servers/toggle errors: unknown server, missing fields, bad JSON', async () => {
    assertError(await call(f.port, 'POST', '/api/servers/toggle', { body: { host: '127.0.0.1', port: 9999 } }), 400, /unknown server 127\.0\.0\.1:9999/);
    assertError(await call(f.port, 'POST', '/api/servers/toggle', { body: { host: '127.0.0.1' } }), 400);
    assertError(await call(f.port, 'POST', '/api/servers/toggle', { body: { port: 8081 } }), 400);
    assertError(await call(f.port, 'POST', '/api/servers/toggle', { body: { host: '127.0.0.1', port: 80.5 } }), 400);
    assertError(await call(f.port, 'POST', '/api/servers/toggle', { body: 'host=x' }), 400, /invalid JSON/);
  });

  test('POST /api/load-test and /api/stress-test hand the body and the proxy URL to the runner', async () => {
    const r = await call(f.port, 'POST', '/api/load-test', { body: { requests: 5, concurrent: 2 } });
    assert.equal(r.status, 200);
    assert.equal(r.json.test_type, 'load_test');
    assert.deepEqual(f.runner.calls.at(-1), { kind: 'load_test', body: { requests: 5, concurrent: 2 }, targetUrl: 'http://127.0.0.1:8080' });
    const s = await call(f.port, 'POST', '/api/stress-test', { body: { duration: 1, concurrent: 2 } });
    assert.equal(s.status, 200);
    assert.equal(s.json.test_type, 'stress_test');
    assert.equal(f.runner.calls.at(-1)!.kind, 'stress_test');
    const p = await call(f.port, 'GET', '/api/load-test/progress');
    assert.equal(p.status, 200);
    assert.equal(p.json.running, false);
  });

  test('load test errors: refused while one runs (409), over the cap (400), bad body', async () => {
    f.runner.busy = true;
    try {
      assertError(await call(f.port, 'POST', '/api/load-test', { body: { requests: 5 } }), 409, /already running/);
    } finally {
      f.runner.busy = false;
    }
    // The runner's error without a `success` field still comes out in the error shape.
    assertError(await call(f.port, 'POST', '/api/load-test', { body: { requests: 5000 } }), 400, /cap/);
    assertError(await call(f.port, 'POST', '/api/load-test', { body: '{' }), 400, /invalid JSON/);
    assertError(await call(f.port, 'POST', '/api/stress-test', { body: '"x"' }), 400, /JSON object/);
  });

  test('404 for unknown paths, 405 for wrong methods (with Allow)', async () => {
    assertError(await call(f.port, 'GET', '/api/nope'), 404);
    assertError(await call(f.port, 'GET', '/../../etc/passwd'), 404);
    assertError(await call(f.port, 'GET', '/app.ts'), 404);
    const r = await call(f.port, 'POST', '/api/status', { body: {} });
    assertError(r, 405);
    assert.equal(r.headers.allow, 'GET, HEAD');
    const t = await call(f.port, 'GET', '/api/servers/toggle');
    assertError(t, 405);
    assert.equal(t.headers.allow, 'POST');
    assertError(await call(f.port, 'DELETE', '/api/strategy'), 405);
    assertError(await call(f.port, 'PUT', '/metrics'), 405);
    assertError(await call(f.port, 'POST', '/', { body: {} }), 405);
  });

  test('a body over 64 KB gets 413', async () => {
    const big = JSON.stringify({ strategy: 'x'.repeat(70_000) });
    assertError(await call(f.port, 'POST', '/api/strategy', { body: big }), 413);
  });

  test('cross-origin and DNS-rebinding POSTs are refused, same-origin ones pass', async () => {
    const host = `127.0.0.1:${f.port}`;
    assertError(await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'round_robin' }, headers: { Origin: 'http://evil.example' } }), 403, /cross-origin/);
    assertError(await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'round_robin' }, headers: { Origin: 'null' } }), 403);
    assertError(await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'round_robin' }, headers: { Host: 'evil.example', Origin: 'http://evil.example' } }), 403, /Host header is not an IP address or localhost/);
    const ok = await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'round_robin' }, headers: { Origin: `http://${host}` } });
    assert.equal(ok.status, 200);
    const viaLocalhost = await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'round_robin' }, headers: { Host: `localhost:${f.port}` } });
    assert.equal(viaLocalhost.status, 200);
  });

  test('OPTIONS lists the methods and grants no CORS preflight', async () => {
    const r = await call(f.port, 'OPTIONS', '/api/status', { headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'GET' } });
    assert.equal(r.status, 204);
    assert.equal(r.headers.allow, 'GET, HEAD');
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.equal(r.headers['access-control-allow-methods'], undefined);
  });

  test('HEAD works like GET without a body', async () => {
    const r = await call(f.port, 'HEAD', '/api/status');
    assert.equal(r.status, 200);
    assert.equal(r.text, '');
  });
});

describe('admin API with a token', () => {
  let f: Fixture;
  const token = 's3cret-token-123';
  before(async () => {
    f = await startFixture({ admin: { host: '127.0.0.1', port: 0, token } });
  });
  after(() => f.close());

  test('every POST needs the bearer token: missing or wrong is 401', async () => {
    for (const [path, body] of [
      ['/api/strategy', { strategy: 'least_connections' }],
      ['/api/servers/toggle', { host: '127.0.0.1', port: 8081 }],
      ['/api/load-test', { requests: 1 }],
      ['/api/stress-test', { duration: 1 }],
    ] as const) {
      const missing = await call(f.port, 'POST', path, { body });
      assertError(missing, 401, /token/);
      assert.match(String(missing.headers['www-authenticate']), /^Bearer/);
      assertError(await call(f.port, 'POST', path, { body, headers: { Authorization: 'Bearer wrong-token-123' } }), 401);
      assertError(await call(f.port, 'POST', path, { body, headers: { Authorization: `Basic ${token}` } }), 401);
      assertError(await call(f.port, 'POST', path, { body, headers: { Authorization: `Bearer ${token}x` } }), 401);
    }
    assert.equal(f.pool.backends[0]!.enabled, true);
    assert.equal(f.active.name, 'round_robin');
    assert.equal(f.runner.calls.length, 0);
  });

  test('the right token passes; reads stay open', async () => {
    const r = await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'least_connections' }, headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    assert.equal(f.active.name, 'least_connections');
    assert.equal((await call(f.port, 'GET', '/api/status')).status, 200);
    assert.equal((await call(f.port, 'GET', '/metrics')).status, 200);
  });

  test('with a token, other Host names are allowed (a reverse proxy in front)', async () => {
    const r = await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'round_robin' }, headers: { Authorization: `Bearer ${token}`, Host: 'ballast.internal' } });
    assert.equal(r.status, 200);
  });
});

describe('algorithm metrics of a strategy that has them', () => {
  let f: Fixture;
  before(async () => {
    // A stand-in for alpha1: per-server fields and a global block, as the original showed them.
    const fake: Strategy = {
      name: 'alpha1',
      pick: () => undefined,
      serverMetrics: (b) => ({ work_queue_ewma: b.port - 8080, interference_signal: 0.1, head_request_age: 0, server_p99_ms: 42, is_warming_up: b.port === 8083 }),
      globalMetrics: () => ({ beta: 0.3, gamma: 0.4, hedge_rate: 0.01, total_requests: 10, current_p99_ms: 80, target_p99_ms: 90, slo_threshold_ms: 100, bounded_load_redirects: 7, cache_hits: 3, cache_misses: 1 }),
    };
    const active = {
      name: 'alpha1' as const,
      strategy: fake,
      switchTo(name: string) {
        throw new UnknownStrategyError(`unknown strategy "${name}"`);
      },
    };
    f = await startFixture({}, { active });
  });
  after(() => f.close());

  test('servers carry the strategy fields and <strategy>_global is present', async () => {
    const r = await call(f.port, 'GET', '/api/algorithm-metrics');
    assert.equal(r.status, 200);
    assert.equal(r.json.strategy, 'alpha1');
    assert.equal(r.json.servers[0].work_queue_ewma, 1);
    assert.equal(r.json.servers[2].server_p99_ms, 42);
    assert.equal(r.json.alpha1_global.target_p99_ms, 90);
    const servers = (await call(f.port, 'GET', '/api/servers')).json.servers;
    assert.equal(servers[2].state, 'warming');
    assert.equal(servers[2].status, 'up');
    assert.equal(servers[0].state, 'up');
  });

  test('/metrics exposes the strategy counters', async () => {
    const text = (await call(f.port, 'GET', '/metrics')).text;
    assert.match(text, /^ballast_bounded_load_redirects_total 7$/m);
    assert.match(text, /^ballast_cache_hits_total 3$/m);
    assert.match(text, /^ballast_cache_misses_total 1$/m);
    assert.match(text, /^ballast_strategy_info\{strategy="alpha1"\} 1$/m);
  });

  test('a switch the balancer refuses is a 400', async () => {
    const r = await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'beta1' } });
    assertError(r, 400, /Invalid strategy/);
  });
});

describe('dashboard files', () => {
  let f: Fixture;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ballast-dash-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(dir, 'app.js'), 'console.log(1)');
    f = await startFixture({}, { dashboardDir: dir });
  });
  after(async () => {
    await f.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/ serves index.html with a strict content security policy', async () => {
    const r = await call(f.port, 'GET', '/');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.match(String(r.headers['content-security-policy']), /script-src 'self'/);
    assert.equal(r.text, '<!doctype html><title>t</title>');
    const js = await call(f.port, 'GET', '/app.js');
    assert.match(String(js.headers['content-type']), /javascript/);
  });

  test('a listed file that was not built is a 404', async () => {
    assertError(await call(f.port, 'GET', '/style.css'), 404);
  });
});
