/**
 * Strategies compared in the small discrete-event simulation (mini-sim.ts): the orderings the
 * issue asks to show. Seeded, so the numbers are the same on every run; printed with
 * `node --test --test-reporter=spec` for anyone who wants them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StrategyName } from '../../src/config/schema.js';
import { simulate } from './mini-sim.js';

test('simulation: alpha1 has a lower p99 than least_connections and round_robin with one slow backend and random stalls', (t) => {
  // Backend 0 is three times slower; every backend stalls ~0.3 times a second for 300 ms.
  const backends = [
    { workers: 4, serviceMs: 30 },
    { workers: 4, serviceMs: 10 },
    { workers: 4, serviceMs: 10 },
  ];
  const p99 = (strategy: StrategyName, seed: number) =>
    simulate({ strategy, backends, rate: 350, durationMs: 20_000, stallsPerSecond: 0.3, stallMs: 300, seed }).p99;
  const seeds = [1, 2, 3];
  const sum = (strategy: StrategyName) => seeds.reduce((acc, seed) => acc + p99(strategy, seed), 0) / seeds.length;
  const a = sum('alpha1');
  const lc = sum('least_connections');
  const rr = sum('round_robin');
  t.diagnostic(`mean p99 over seeds ${seeds}: alpha1 ${a.toFixed(0)} ms, least_connections ${lc.toFixed(0)} ms, round_robin ${rr.toFixed(0)} ms`);
  assert.ok(a < lc * 0.85, `alpha1 ${a} vs least_connections ${lc}`);
  assert.ok(a < rr, `alpha1 ${a} vs round_robin ${rr}`);
});

test('simulation: beta1 has a higher cache hit rate than round_robin with Zipf keys', (t) => {
  const backends = [
    { workers: 4, serviceMs: 10 },
    { workers: 4, serviceMs: 10 },
    { workers: 4, serviceMs: 10 },
  ];
  const run = (strategy: StrategyName) =>
    simulate({ strategy, backends, rate: 400, durationMs: 15_000, keys: 2_000, zipfS: 1, cacheSize: 200, seed: 1 });
  const b = run('beta1');
  const rr = run('round_robin');
  const g = b.driver.active.strategy.globalMetrics!();
  t.diagnostic(
    `hit rate: beta1 ${(b.hitRate * 100).toFixed(1)}% (its own cache_hit_rate ${g.cache_hit_rate}%, affinity ${g.affinity_rate}%), round_robin ${(rr.hitRate * 100).toFixed(1)}%`,
  );
  assert.ok(b.hitRate > rr.hitRate * 1.2, `beta1 ${b.hitRate} vs round_robin ${rr.hitRate}`);
  assert.ok(Math.abs((g.cache_hit_rate as number) - b.hitRate * 100) < 0.1, 'cache_hit_rate follows the X-Cache verdicts');
});
