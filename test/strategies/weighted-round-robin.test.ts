import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Driver, setup, tally } from './helpers.js';

const weightOf = (d: Driver, i: number): number => d.active.strategy.serverMetrics!(d.s.pool.backends[i]!).weight as number;

test('weighted_round_robin: failures cut the weight at once; recovery climbs gradually, then reaches full', () => {
  const s = setup([2, 2, 2], { weighted_round_robin: { recoveryMs: 20_000, minWeightFactor: 0.05 } });
  const d = new Driver(s, 'weighted_round_robin');
  assert.equal(weightOf(d, 1), 2);
  // Backend 1 fails 20 requests in a row (the others answer).
  let failures = 0;
  for (let i = 0; failures < 20 && i < 200; i++) {
    s.clock.advance(1);
    const a = d.start()!;
    if (a.b === s.pool.backends[1]) {
      d.end(a, 'reset', 1);
      failures++;
    } else d.end(a, 'ok', 5);
  }
  const low = weightOf(d, 1);
  assert.ok(low < 0.3, `weight dropped: ${low}`);
  const share = tally(Array.from({ length: 300 }, () => d.request(5)), 3)[1]!;
  assert.ok(share < 300 * 0.06, `little traffic while penalised: ${share}`);
  // From now on backend 1 answers. Sample its weight every second.
  const trace: number[] = [];
  for (let t = 0; t < 120; t++) {
    s.clock.advance(1_000);
    for (let k = 0; k < 20; k++) d.request(5);
    trace.push(weightOf(d, 1));
  }
  for (let i = 1; i < trace.length; i++) assert.ok(trace[i]! >= trace[i - 1]! - 1e-9, `monotone recovery at ${i}s: ${trace.slice(0, i + 1)}`);
  // Not in one step: the weight needs several seconds to get from the floor to half of full.
  assert.ok(trace[0]! < 0.6, `first second ${trace[0]}`);
  const half = trace.findIndex((w) => w >= 1);
  assert.ok(half >= 4, `half weight after ${half + 1} s: ${trace.slice(0, 10)}`);
  assert.ok(trace[trace.length - 1]! > 1.9, `back to (nearly) full: ${trace[trace.length - 1]}`);
  const after = tally(Array.from({ length: 600 }, () => d.request(5)), 3);
  assert.ok(after[1]! >= 180, `share restored: ${after}`);
});

test('weighted_round_robin: a backend returning after being down ramps up from the floor', () => {
  const s = setup([1, 1], { weighted_round_robin: { recoveryMs: 10_000, minWeightFactor: 0.1 } });
  const d = new Driver(s, 'weighted_round_robin');
  const b = s.pool.backends[1]!;
  for (let i = 0; i < 10; i++) d.request(5);
  s.pool.setHealthy(b, false);
  s.clock.advance(120_000);
  s.pool.setHealthy(b, true);
  assert.ok(Math.abs(weightOf(d, 1) - 0.1) < 1e-9, `starts at the floor: ${weightOf(d, 1)}`);
  s.clock.advance(5_000);
  assert.ok(Math.abs(weightOf(d, 1) - 0.55) < 0.01, `halfway: ${weightOf(d, 1)}`);
  s.clock.advance(5_000);
  assert.equal(weightOf(d, 1), 1);
  // Start-up backends do not ramp.
  assert.equal(weightOf(d, 0), 1);
});

test('weighted_round_robin: a tried backend is skipped; no ready backend gives undefined', () => {
  const s = setup([1, 1]);
  const d = new Driver(s, 'weighted_round_robin');
  const a = d.start()!;
  const ctx = a.ctx; // a.b is in ctx.tried now
  const other = d.active.pick(ctx);
  assert.ok(other !== undefined && other !== a.b);
  for (const b of s.pool.backends) s.pool.setEnabled(b, false);
  assert.equal(d.active.pick(ctx), undefined);
});
