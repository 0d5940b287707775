import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/util/random.js';
import { EventQueue } from '../../src/sim/event-queue.js';
import { ZipfSampler } from '../../src/sim/zipf.js';
import { LruCache } from '../../src/sim/lru.js';
import { makeSampler } from '../../src/sim/distributions.js';
import { makeArrivals } from '../../src/sim/arrivals.js';
import { SimServer } from '../../src/sim/server.js';
import { ScenarioError, mergeScenario, parseSetting, resolveScenario, NAMED_SCENARIOS } from '../../src/sim/scenario.js';
import { Pool } from '../../src/pool/pool.js';
import { ManualClock } from '../../src/util/clock.js';

test('event queue pops in time order, equal times in insertion order', () => {
  const q = new EventQueue(16); // small, so it grows several times
  const random = new SeededRandom(3);
  const pushed: { time: number; ref: number }[] = [];
  for (let i = 0; i < 5000; i++) {
    // Coarse times so many are equal.
    const time = Math.floor(random.next() * 200);
    q.push(time, i % 7, i, i * 3);
    pushed.push({ time, ref: i });
  }
  const expected = [...pushed].sort((a, b) => a.time - b.time || a.ref - b.ref);
  for (const e of expected) {
    assert.equal(q.pop(), true);
    assert.equal(q.time, e.time);
    assert.equal(q.ref, e.ref);
    assert.equal(q.kind, e.ref % 7);
    assert.equal(q.gen, e.ref * 3);
  }
  assert.equal(q.pop(), false);
  assert.equal(q.peekTime(), Infinity);
});

test('event queue interleaves pushes and pops (slots are reused)', () => {
  const q = new EventQueue(16);
  const random = new SeededRandom(9);
  let now = 0;
  let popped = 0;
  for (let i = 0; i < 20_000; i++) {
    q.push(now + random.next() * 50, 1, i, 0);
    if (random.next() < 0.5 && q.pop()) {
      assert.ok(q.time >= now, 'never goes back in time');
      now = q.time;
      popped++;
    }
  }
  while (q.pop()) {
    assert.ok(q.time >= now);
    now = q.time;
    popped++;
  }
  assert.equal(popped, 20_000);
});

test('Zipf sampler matches the exact probabilities', () => {
  for (const s of [0, 0.7, 1, 1.3]) {
    const zipf = new ZipfSampler(50, s);
    const random = new SeededRandom(11);
    const n = 200_000;
    const counts = new Float64Array(50);
    for (let i = 0; i < n; i++) counts[zipf.sample(random)]!++;
    for (const k of [0, 1, 4, 20, 49]) {
      const p = zipf.probability(k);
      const sd = Math.sqrt((p * (1 - p)) / n);
      assert.ok(Math.abs(counts[k]! / n - p) < 5 * sd + 1e-4, `s=${s} k=${k}: ${counts[k]! / n} vs ${p}`);
    }
  }
});

test('Zipf sampler stays in range for a large key space', () => {
  const zipf = new ZipfSampler(10_000_000, 0.9);
  const random = new SeededRandom(5);
  for (let i = 0; i < 10_000; i++) {
    const k = zipf.sample(random);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 10_000_000);
  }
});

test('LRU cache evicts the least recently used key', () => {
  const c = new LruCache(3);
  assert.equal(c.access(1), false);
  assert.equal(c.access(2), false);
  assert.equal(c.access(3), false);
  assert.equal(c.access(1), true); // 1 most recent; 2 is now the oldest
  assert.equal(c.access(4), false); // evicts 2
  assert.equal(c.has(2), false);
  assert.equal(c.has(1) && c.has(3) && c.has(4), true);
  assert.equal(c.size, 3);
  c.clear();
  assert.equal(c.size, 0);
  assert.equal(c.access(1), false);
  assert.equal(new LruCache(0).access(1), false);
});

test('service-time samplers have their stated means', () => {
  const cases = [
    { kind: 'fixed', ms: 7 },
    { kind: 'exponential', mean: 10 },
    { kind: 'lognormal', median: 20, sigma: 0.5 },
    { kind: 'pareto', scale: 5, alpha: 2.5, cap: 500 },
    { kind: 'bimodal', fastMs: 5, slowMs: 100, slowShare: 0.1 },
  ] as const;
  for (const spec of cases) {
    const sampler = makeSampler(spec);
    const random = new SeededRandom(21);
    let sum = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) sum += sampler.sample(random);
    const mean = sum / n;
    assert.ok(Math.abs(mean - sampler.mean) / sampler.mean < 0.02, `${spec.kind}: ${mean} vs ${sampler.mean}`);
  }
  const logn = makeSampler({ kind: 'lognormal', median: 20, sigma: 0.5 });
  const random = new SeededRandom(2);
  const xs = Array.from({ length: 20_001 }, () => logn.sample(random)).sort((a, b) => a - b);
  assert.ok(Math.abs(xs[10_000]! - 20) < 0.5, `median ${xs[10_000]}`);
});

test('arrival processes keep their mean rate', () => {
  for (const spec of [{ kind: 'poisson' as const }, { kind: 'bursty' as const, factor: 8, burstMs: 200, share: 0.1 }]) {
    const arrivals = makeArrivals(spec, 500, new SeededRandom(4));
    let t = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) t = arrivals.next(t);
    const rate = n / (t / 1000);
    assert.ok(Math.abs(rate - 500) / 500 < 0.05, `${spec.kind}: ${rate}/s`);
  }
});

test('bursty arrivals are burstier than Poisson (higher variance of counts per 100 ms)', () => {
  const dispersion = (spec: Parameters<typeof makeArrivals>[0]) => {
    const arrivals = makeArrivals(spec, 500, new SeededRandom(8));
    const bins = new Float64Array(2000);
    for (let t = arrivals.next(0); t < 200_000; t = arrivals.next(t)) bins[Math.floor(t / 100)]!++;
    const mean = bins.reduce((a, b) => a + b, 0) / bins.length;
    const variance = bins.reduce((a, b) => a + (b - mean) ** 2, 0) / bins.length;
    return variance / mean;
  };
  const poisson = dispersion({ kind: 'poisson' });
  assert.ok(Math.abs(poisson - 1) < 0.15, `Poisson index of dispersion ${poisson}`);
  assert.ok(dispersion({ kind: 'bursty', factor: 8, burstMs: 200, share: 0.1 }) > 3 * poisson);
});

test('a paused server delays work in progress by the pause', () => {
  const pool = new Pool([{ host: 'sim', port: 1, weight: 1 }], { clock: new ManualClock(), startHealthy: true });
  const s = new SimServer(pool.backends[0]!, 1, 1, null);
  const work = s.workAt(100) + 50; // a request started at 100 needing 50 ms
  assert.equal(s.completionTime(work, 100), 150);
  s.pause(120, 30); // paused 120..150
  assert.equal(s.workAt(130), 120);
  assert.equal(s.completionTime(work, 150), 180);
  s.pause(140, 20); // overlapping: extends to 160
  assert.equal(s.completionTime(work, 150), 190);
  s.pause(200, 10);
  assert.equal(s.workAt(300), 300 - 40 - 10);
});

test('scenario overrides: merge, --set paths, kind switches replace, and clear errors', () => {
  const s = resolveScenario('cache', { values: { requests: 1234 }, settings: ['cache.capacity=77', 'service={"kind":"pareto","scale":3,"alpha":2}'] });
  assert.equal(s.requests, 1234);
  assert.equal(s.cache?.capacity, 77);
  assert.equal(s.cache?.missPenaltyMs, NAMED_SCENARIOS.cache!.cache!.missPenaltyMs);
  assert.deepEqual(s.service, { kind: 'pareto', scale: 3, alpha: 2 });
  assert.deepEqual(mergeScenario({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } }), { a: { b: 1, c: [3] } });
  assert.deepEqual(parseSetting('a.b=x'), { a: { b: 'x' } });
  assert.throws(() => resolveScenario('nope'), ScenarioError);
  assert.throws(() => resolveScenario('homogeneous', { settings: ['servers=0'] }), /servers/);
  assert.throws(() => resolveScenario('homogeneous', { settings: ['sevrers=3'] }), /unknown key "sevrers"/);
  assert.throws(() => resolveScenario('homogeneous', { settings: ['cache={"capacity":5,"missPenaltyMs":1}'] }), /needs keys/);
  assert.throws(() => resolveScenario('homogeneous', { settings: ['overrides=[{"server":9,"factor":2}]'] }), /overrides\[0\]\.server/);
  assert.throws(() => resolveScenario('homogeneous', { settings: ['events=[{"at":0.5,"action":"die"}]'] }), /events\[0\]\.server/);
  assert.throws(() => resolveScenario('homogeneous', { settings: ['noequals'] }), /path=value/);
  for (const name of Object.keys(NAMED_SCENARIOS)) assert.equal(resolveScenario(name).name, name);
});
