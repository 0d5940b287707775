/**
 * GET /metrics: well-formed Prometheus text with the metrics the issue lists, values that
 * match what the proxy reported, and histogram buckets that add up.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { call, startFixture, type Fixture } from './fixture.js';

let f: Fixture;
before(async () => {
  f = await startFixture({ servers: [{ host: '127.0.0.1', port: 8081, name: 'alpha' }, { host: '127.0.0.1', port: 8082 }] });
  const [a, b] = f.pool.backends;
  for (let i = 0; i < 10; i++) f.stats.requestFinished(a, 200, 3 + i, 'c');
  f.stats.requestFinished(a, 404, 2, 'c');
  f.stats.requestFinished(b, 503, 200, 'c');
  f.stats.requestFinished(undefined, 503, 0.5, 'c');
  f.stats.retried(b, 'failover');
  f.stats.retried(a, 'retry');
  f.stats.hedgeSent();
  f.stats.hedgeWon();
  f.stats.rejected('header_too_large');
  f.pool.setEjectedUntil(b!, f.pool.clock.now() + 10_000);
  f.pool.begin(a!, { startedAt: f.pool.clock.now(), inflightPrev: null, inflightNext: null });
});
after(() => f.close());

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      if (m[1] === 'TYPE') types.set(m[2]!, m[3]!);
      else helps.add(m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `malformed line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      for (const part of m[2].match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? []) {
        const eq = part.indexOf('=');
        labels[part.slice(0, eq)] = part.slice(eq + 2, -1);
      }
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    // Go's ParseFloat (Prometheus) reads NaN case-insensitively; prom-client writes "Nan".
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(m[3]!), `bad value in: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  for (const name of types.keys()) assert.ok(helps.has(name), `HELP for ${name}`);
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

test('/metrics is Prometheus text with every metric the issue asks for', async () => {
  const r = await call(f.port, 'GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const { samples, types } = parse(r.text);
  const expected: Record<string, string> = {
    ballast_requests_total: 'counter',
    ballast_request_duration_seconds: 'histogram',
    ballast_backend_inflight: 'gauge',
    ballast_backend_up: 'gauge',
    ballast_backend_ejected: 'gauge',
    ballast_retries_total: 'counter',
    ballast_hedges_sent_total: 'counter',
    ballast_hedges_won_total: 'counter',
    ballast_bounded_load_redirects_total: 'counter',
    ballast_cache_hits_total: 'counter',
    ballast_cache_misses_total: 'counter',
    ballast_strategy_info: 'gauge',
    ballast_rejected_total: 'counter',
    process_cpu_user_seconds_total: 'counter',
  };
  for (const [name, type] of Object.entries(expected)) assert.equal(types.get(name), type, name);

  assert.equal(value(samples, 'ballast_requests_total', { backend: 'alpha', code: '2xx' }), 10);
  assert.equal(value(samples, 'ballast_requests_total', { backend: 'alpha', code: '4xx' }), 1);
  assert.equal(value(samples, 'ballast_requests_total', { backend: '127.0.0.1:8082', code: '5xx' }), 1);
  assert.equal(value(samples, 'ballast_requests_total', { backend: 'none', code: '5xx' }), 1);
  assert.equal(value(samples, 'ballast_backend_inflight', { backend: 'alpha' }), 1);
  assert.equal(value(samples, 'ballast_backend_up', { backend: 'alpha' }), 1);
  assert.equal(value(samples, 'ballast_backend_up', { backend: '127.0.0.1:8082' }), 0);
  assert.equal(value(samples, 'ballast_backend_ejected', { backend: '127.0.0.1:8082' }), 1);
  assert.equal(value(samples, 'ballast_retries_total', { kind: 'failover' }), 1);
  assert.equal(value(samples, 'ballast_retries_total', { kind: 'retry' }), 1);
  assert.equal(value(samples, 'ballast_hedges_sent_total'), 1);
  assert.equal(value(samples, 'ballast_hedges_won_total'), 1);
  assert.equal(value(samples, 'ballast_rejected_total', { reason: 'header_too_large' }), 1);
  assert.equal(value(samples, 'ballast_strategy_info', { strategy: 'round_robin' }), 1);
});

test('latency histogram buckets are cumulative and end at the count', async () => {
  const { samples } = parse((await call(f.port, 'GET', '/metrics')).text);
  const buckets = samples.filter((s) => s.name === 'ballast_request_duration_seconds_bucket' && s.labels.backend === 'alpha');
  assert.ok(buckets.length > 5);
  const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
  assert.deepEqual(les, [...les].sort((x, y) => x - y), 'le ascending');
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, 'cumulative');
  assert.equal(buckets.at(-1)!.labels.le, '+Inf');
  assert.equal(buckets.at(-1)!.value, 11);
  assert.equal(value(samples, 'ballast_request_duration_seconds_count', { backend: 'alpha' }), 11);
  // 3..12 ms and 2 ms: sum 77 ms.
  assert.ok(Math.abs(value(samples, 'ballast_request_duration_seconds_sum', { backend: 'alpha' })! - 0.077) < 1e-9);
  assert.equal(value(samples, 'ballast_request_duration_seconds_bucket', { backend: 'alpha', le: '0.005' }), 4);
});

test('a strategy switch shows in the info metric', async () => {
  await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'least_connections' } });
  const { samples } = parse((await call(f.port, 'GET', '/metrics')).text);
  const info = samples.filter((s) => s.name === 'ballast_strategy_info');
  assert.deepEqual(info.map((s) => s.labels.strategy), ['least_connections']);
});
