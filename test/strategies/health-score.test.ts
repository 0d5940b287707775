import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { healthScore } from '../../src/strategies/health-score.js';
import { PickContext } from '../../src/strategies/types.js';
import { Driver, ix, setup, tally } from './helpers.js';

test('health_score: score stays in [0, 1] and the pick is within the tie band of the highest', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          ok: fc.nat(50),
          fail: fc.nat(50),
          inflight: fc.nat(20),
          latency: fc.option(fc.double({ min: 0, max: 5_000, noNaN: true })),
          weight: fc.integer({ min: 1, max: 10 }),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      fc.nat(120_000),
      (specs, later) => {
        const s = setup(specs.map((x) => x.weight));
        const now = s.clock.now();
        specs.forEach((x, i) => {
          const b = s.pool.backends[i]!;
          b.successes.add(x.ok, now);
          b.failures.add(x.fail, now);
          if (x.latency !== null) b.latency.observe(x.latency, now);
          for (let k = 0; k < x.inflight; k++) s.pool.begin(b, { startedAt: now, inflightPrev: null, inflightNext: null });
        });
        s.clock.advance(later);
        const strat = healthScore.create(s);
        const scores = s.pool.backends.map((b) => strat.serverMetrics!(b).health_score as number);
        for (const v of scores) assert.ok(v >= 0 && v <= 1, `score ${v} out of range`);
        const picked = strat.pick(new PickContext());
        assert.ok(picked !== undefined);
        // Within the tie band (0.01) of the best, plus the metric's rounding.
        assert.ok(scores[ix(picked)]! >= Math.max(...scores) - 0.011, 'picks the best score');
      },
    ),
    { numRuns: 200, seed: 42 },
  );
});

test('health_score: ties rotate over equal backends', () => {
  const s = setup([1, 1, 1, 1]);
  const strat = healthScore.create(s);
  const ctx = new PickContext();
  const picks = Array.from({ length: 8 }, () => ix(strat.pick(ctx)));
  assert.equal(new Set(picks.slice(0, 4)).size, 4);
  assert.deepEqual(picks.slice(0, 4), picks.slice(4));
});

test('health_score: a failing backend loses traffic and wins it back as the failures fade', () => {
  const s = setup([1, 1, 1]);
  const d = new Driver(s, 'health_score');
  const bad = s.pool.backends[1]!;
  // Backend 1 fails its health checks and some requests; the others are fine.
  for (let i = 0; i < 10; i++) s.pool.recordCheck(bad, false, s.clock.now());
  const before = tally(Array.from({ length: 300 }, () => d.request(10)), 3);
  assert.equal(before[1], 0, `no traffic while failing: ${before}`);
  const score0 = d.active.strategy.serverMetrics!(bad).health_score as number;
  // Five half-lives later the failures weigh ~1/32 of what they did, and successes came in.
  for (let t = 0; t < 150; t++) {
    s.clock.advance(1_000);
    s.pool.recordCheck(bad, true, s.clock.now());
  }
  const score1 = d.active.strategy.serverMetrics!(bad).health_score as number;
  assert.ok(score1 > score0, `score recovers: ${score0} -> ${score1}`);
  const after = tally(Array.from({ length: 300 }, () => d.request(10)), 3);
  assert.ok(after[1]! >= 80, `traffic back: ${after}`);
});

test('health_score: in-flight load spreads concurrent requests, a tried backend is skipped', () => {
  const s = setup([1, 1]);
  const d = new Driver(s, 'health_score');
  const a = d.start()!;
  const b = d.start()!;
  assert.notEqual(a.b, b.b, 'second concurrent request goes to the idle backend');
  const ctx = new PickContext();
  ctx.tried.push(s.pool.backends[0]!);
  assert.equal(d.active.pick(ctx), s.pool.backends[1]);
  ctx.tried.push(s.pool.backends[1]!);
  assert.equal(d.active.pick(ctx), undefined);
});

test('health_score: a slower backend gets less of a sequential load', () => {
  const s = setup([1, 1]);
  const d = new Driver(s, 'health_score');
  const counts = [0, 0];
  for (let i = 0; i < 400; i++) {
    s.clock.advance(5);
    const a = d.start()!;
    counts[ix(a.b)]!++;
    d.end(a, 'ok', ix(a.b) === 0 ? 200 : 10);
  }
  assert.ok(counts[1]! > counts[0]! * 5, `fast backend preferred: ${counts}`);
});
