import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/util/clock.js';
import { Pool } from '../../src/pool/pool.js';
import { Stats } from '../../src/stats/stats.js';

function setup(n = 3, opts: { recentSize?: number; historySeconds?: number } = {}) {
  const clock = new ManualClock(1_000_000);
  const pool = new Pool(
    Array.from({ length: n }, (_, i) => ({ host: '127.0.0.1', port: 8081 + i, weight: 1 })),
    { clock, startHealthy: true },
  );
  let wall = 1_700_000_000_000;
  const stats = new Stats({ clock, wallClock: () => wall, ...opts });
  return { clock, pool, stats, backends: pool.backends, setWall: (ms: number) => (wall = ms) };
}

function near(actual: number, expected: number, relTol: number, msg?: string) {
  assert.ok(Math.abs(actual - expected) <= Math.abs(expected) * relTol, `${msg ?? ''} expected ~${expected}, got ${actual}`);
}

test('status below 500 is a success; 5xx and no status are failures', () => {
  const { stats, backends } = setup();
  const b = backends[0]!;
  for (const status of [200, 204, 301, 404, 499]) stats.requestFinished(b, status, 10, '127.0.0.1');
  for (const status of [500, 502, 503, 504]) stats.requestFinished(b, status, 10, '127.0.0.1');
  stats.requestFinished(undefined, 0, 1, '127.0.0.1');
  const t = stats.totals();
  assert.equal(t.total, 10);
  assert.equal(t.successful, 5);
  assert.equal(t.failed, 5);
  assert.deepEqual(t.statusClasses, { none: 1, '1xx': 0, '2xx': 2, '3xx': 1, '4xx': 2, '5xx': 4 });
  const f = stats.backend(b);
  assert.equal(f.total, 9);
  assert.equal(f.failed, 4);
  assert.deepEqual(stats.serverRequestCounts(), { '127.0.0.1:8081': 9 });
});

test('percentiles come from the HDR histograms, within 1%', () => {
  const { stats, backends, clock } = setup();
  for (let ms = 1; ms <= 100; ms++) stats.requestFinished(backends[ms % 2]!, 200, ms, 'c');
  // Part of the data in a closed second, part in the current one: reads must see both.
  clock.advance(1500);
  for (let ms = 101; ms <= 200; ms++) stats.requestFinished(backends[0]!, 200, ms, 'c');
  const l = stats.latency();
  near(l.p50_ms, 100, 0.02, 'p50');
  near(l.p90_ms, 180, 0.02, 'p90');
  near(l.p99_ms, 198, 0.02, 'p99');
  near(l.avg_ms, 100.5, 1e-9, 'avg');
  near(l.max_ms, 200, 0.01, 'max');
  const b1 = stats.backend(backends[1]!);
  assert.equal(b1.total, 50);
  near(b1.latency.p50_ms, 50, 0.04, 'p50 of odd values 1..99');
  assert.equal(stats.backend(backends[2]!).total, 0);
  assert.equal(stats.backend(backends[2]!).latency.p99_ms, 0);
});

test('requests per second is a rolling rate, not total over uptime', () => {
  const { stats, backends, clock } = setup();
  // 20 requests/s for 30 s...
  for (let s = 0; s < 30; s++) {
    for (let i = 0; i < 20; i++) {
      stats.requestFinished(backends[0]!, 200, 5, 'c');
      clock.advance(50);
    }
  }
  near(stats.requestsPerSecond(), 20, 0.1, 'steady rate');
  near(stats.requestsPerMinute(), 1200, 0.1, 'per minute scaled while uptime < 60 s');
  // ...then silence: the rate falls to 0 within the window, the totals stay.
  clock.advance(15_000);
  assert.equal(stats.requestsPerSecond(), 0);
  near(stats.requestsPerMinute(), (600 / 45) * 60, 0.1, 'the last minute (45 s so far) holds the burst');
  clock.advance(61_000);
  assert.equal(stats.requestsPerMinute(), 0);
  assert.equal(stats.totals().total, 600);
  assert.equal(stats.backend(backends[0]!).requestsPerSecond, 0);
});

test('requests per minute counts the last 60 seconds once the balancer ran a minute', () => {
  const { stats, backends, clock } = setup();
  for (let s = 0; s < 120; s++) {
    for (let i = 0; i < 5; i++) stats.requestFinished(backends[1]!, 200, 5, 'c');
    clock.advance(1000);
  }
  near(stats.requestsPerMinute(), 300, 0.05);
  near(stats.requestsPerSecond(), 5, 0.05);
});

test('history gives one point per completed second with that second\'s p50/p99', () => {
  const { stats, backends, clock } = setup(2);
  const start = clock.now();
  // second 0: 10 ms requests; second 1: none; second 2: 100 ms requests on backend 1.
  for (let i = 0; i < 10; i++) stats.requestFinished(backends[0]!, 200, 10, 'c');
  clock.set(start + 2000);
  for (let i = 0; i < 4; i++) stats.requestFinished(backends[1]!, 503, 100, 'c');
  clock.set(start + 3000);
  const h = stats.history();
  assert.equal(h.t.length, 3);
  assert.deepEqual(h.t.map((x) => x - h.t[0]!), [0, 1, 2]);
  assert.deepEqual(h.global.rps, [10, 0, 4]);
  assert.deepEqual(h.global.errors, [0, 0, 4]);
  near(h.global.p50[0]!, 10, 0.01);
  assert.equal(h.global.p50[1], null);
  near(h.global.p99[2]!, 100, 0.01);
  const b0 = stats.backendHistory(backends[0]!);
  assert.deepEqual(b0.rps, [10, 0, 0]);
  assert.equal(b0.p99[2], null);
  assert.deepEqual(stats.history(2).global.rps, [0, 4]);
});

test('history is bounded and survives a long idle gap', () => {
  const { stats, backends, clock } = setup(1, { historySeconds: 60 });
  for (let s = 0; s < 200; s++) {
    stats.requestFinished(backends[0]!, 200, 1, 'c');
    clock.advance(1000);
  }
  const h = stats.history();
  assert.equal(h.t.length, 60);
  assert.ok(h.global.rps.every((x) => x === 1));
  clock.advance(1_000_000);
  const after = stats.history();
  assert.equal(after.t.length, 60);
  assert.ok(after.global.rps.every((x) => x === 0));
  stats.requestFinished(backends[0]!, 200, 1, 'c');
  clock.advance(1000);
  assert.equal(stats.history().global.rps.at(-1), 1);
});

test('recent requests keep the last N, oldest first, with wall timestamps', () => {
  const { stats, backends, setWall } = setup(1, { recentSize: 5 });
  for (let i = 0; i < 7; i++) {
    setWall(1_700_000_000_000 + i * 1000);
    stats.requestFinished(i === 6 ? undefined : backends[0]!, i === 5 ? 502 : 200, i, `10.0.0.${i}`);
  }
  const r = stats.recentRequests(10);
  assert.equal(r.length, 5);
  assert.deepEqual(r.map((x) => x.client), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  assert.equal(r[0]!.timestamp, 1_700_000_002);
  assert.equal(r[3]!.success, false);
  assert.equal(r[3]!.status, 502);
  assert.equal(r[4]!.server, null);
  assert.equal(r[1]!.server, '127.0.0.1:8081');
  assert.equal(r[1]!.duration_s, 0.003);
  assert.deepEqual(stats.recentRequests(2).map((x) => x.client), ['10.0.0.5', '10.0.0.6']);
});

test('retries, hedges, rejections and TCP connections are counted', () => {
  const { stats, backends } = setup();
  stats.retried(backends[0]!, 'retry');
  stats.retried(backends[0]!, 'failover');
  stats.retried(backends[1]!, 'failover');
  stats.hedgeSent();
  stats.hedgeSent();
  stats.hedgeWon();
  stats.rejected('queue_full');
  stats.rejected('bad_request');
  stats.rejected('bad_request');
  stats.connectionFinished(backends[2]!, true, 100, 10, 2000);
  stats.connectionFinished(backends[2]!, false, 5, 0, 0);
  const c = stats.counters();
  assert.equal(c.retries, 1);
  assert.equal(c.failovers, 2);
  assert.equal(c.hedgesSent, 2);
  assert.equal(c.hedgesWon, 1);
  assert.equal(c.rejected.bad_request, 2);
  assert.equal(c.rejected.queue_full, 1);
  assert.equal(c.connections, 2);
  const b2 = stats.backend(backends[2]!);
  assert.equal(b2.total, 2);
  assert.equal(b2.failed, 1);
  assert.equal(b2.bytesOut, 2000);
  assert.equal(stats.backend(backends[0]!).failovers, 1);
});

test('prometheus buckets count each request once', () => {
  const { stats, backends } = setup();
  for (const ms of [0.5, 1, 3, 80, 400, 120_000]) stats.requestFinished(backends[0]!, 200, ms, 'c');
  const b = stats.buckets(backends[0]!);
  assert.equal(b.count, 6);
  assert.equal(b.counts.reduce((a, x) => a + x, 0), 6);
  assert.equal(b.counts[0], 2, '0.5 and 1 ms fall in le=1ms');
  assert.equal(b.counts.at(-1), 1, '2 minutes falls in +Inf');
});

test('a removed backend is forgotten once out of the history, totals stay', () => {
  const { stats, pool, backends, clock } = setup(2, { historySeconds: 60 });
  const gone = backends[1]!;
  stats.requestFinished(gone, 200, 5, 'c');
  pool.remove(gone);
  clock.advance(30_000);
  stats.requestFinished(backends[0]!, 200, 5, 'c');
  assert.equal(stats.serverRequestCounts()['127.0.0.1:8082'], 1);
  clock.advance(100_000);
  stats.requestFinished(backends[0]!, 200, 5, 'c');
  assert.equal(stats.serverRequestCounts()['127.0.0.1:8082'], undefined);
  assert.equal(stats.totals().total, 3);
  assert.equal(stats.latency().p50_ms > 0, true);
});
