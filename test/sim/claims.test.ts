// The claims the README makes about the strategies, checked on seeded simulations of the named
// scenarios with default settings. These need alpha1 and beta1 in the registry: while one is
// missing its tests fail (unknown strategy), on purpose; they are never skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveScenario } from '../../src/sim/scenario.js';
import { Simulation, simulatedConfig, simulateOne, type RunResult } from '../../src/sim/engine.js';
import { availableStrategies } from '../../src/strategies/registry.js';
import type { Backend } from '../../src/pool/backend.js';
import type { PickContext } from '../../src/strategies/types.js';
import type { Pool } from '../../src/pool/pool.js';

const REQUESTS = 40_000;
const SEED = 1;

function run(scenario: string, strategy: string, onAttemptStart?: (b: Backend, ctx: PickContext, pool: Pool) => void): RunResult {
  const sc = resolveScenario(scenario, { values: { requests: REQUESTS } });
  return simulateOne(sc, strategy, onAttemptStart === undefined ? { seed: SEED } : { seed: SEED, onAttemptStart });
}

for (const scenario of ['slow-server', 'stragglers']) {
  test(`${scenario}: alpha1's p99 is below least_connections' and round_robin's, hedging at most maxHedgeRate`, () => {
    const alpha1 = run(scenario, 'alpha1');
    const lc = run(scenario, 'least_connections');
    const rr = run(scenario, 'round_robin');
    const p99 = (r: RunResult) => r.latency.p99.toFixed(1);
    assert.ok(alpha1.latency.p99 < lc.latency.p99, `alpha1 p99 ${p99(alpha1)} ms vs least_connections ${p99(lc)} ms`);
    assert.ok(alpha1.latency.p99 < rr.latency.p99, `alpha1 p99 ${p99(alpha1)} ms vs round_robin ${p99(rr)} ms`);
    const maxHedgeRate = simulatedConfig(resolveScenario(scenario)).alpha1.maxHedgeRate;
    assert.ok(alpha1.hedges / alpha1.requests <= maxHedgeRate, `hedges ${alpha1.hedgePercent.toFixed(2)}% > ${maxHedgeRate * 100}%`);
    assert.equal(alpha1.failed, 0);
  });
}

test("cache: beta1's hit rate is at least twice round_robin's, and its in-flight load bound holds", () => {
  const config = simulatedConfig(resolveScenario('cache')).beta1;
  const c = config.loadFactor;
  const floor = config.boundFloor;
  let checked = 0;
  let violations = 0;
  let worst = '';
  const beta1 = run('cache', 'beta1', (b, ctx, pool) => {
    // A first attempt's backend, counted in flight now, stays within
    // max(floor, ceil(c x (in flight over the ready backends) x w_b / W)): bounded-load.ts's rule
    // evaluated after the start, when the total includes this request.
    if (ctx.attempt !== 0 || ctx.hedge) return;
    let total = 0;
    let weight = 0;
    for (const x of pool.ready) {
      total += x.inflight;
      weight += x.weight;
    }
    const bound = Math.max(floor, Math.ceil((c * total * b.weight) / weight - 1e-9));
    checked++;
    if (b.inflight > bound) {
      violations++;
      worst = `${b.name} had ${b.inflight} in flight, bound ${bound} (total ${total})`;
    }
  });
  const rr = run('cache', 'round_robin');
  assert.ok(checked >= REQUESTS * 0.99);
  assert.equal(violations, 0, worst);
  assert.ok(beta1.cacheHitRate! >= 2 * rr.cacheHitRate!, `beta1 ${beta1.cacheHitRate} vs round_robin ${rr.cacheHitRate}`);
});

test("cache: beta1's own cache_hit_rate follows the backends' X-Cache verdicts (moved from the strategy tests' mini simulator)", () => {
  const sim = new Simulation(resolveScenario('cache', { values: { requests: REQUESTS } }), 'beta1', { seed: SEED });
  const r = sim.run();
  const reported = sim.active.strategy.globalMetrics!().cache_hit_rate as number;
  assert.ok(r.cacheHitRate! > 0.3, `hit rate ${r.cacheHitRate}`);
  assert.ok(Math.abs(reported - r.cacheHitRate! * 100) < 0.1, `beta1 reports ${reported}%, the servers saw ${(r.cacheHitRate! * 100).toFixed(2)}%`);
});

test('failure: no request is lost, whatever the strategy', () => {
  for (const name of availableStrategies()) {
    const r = run('failure', name);
    assert.equal(r.failed, 0, `${name}: ${r.failed} requests lost`);
    assert.equal(r.completed, REQUESTS, name);
    assert.ok(r.resets > 0 || r.refused > 0, `${name}: the failures happened`);
  }
  // The claim covers the strategies the issue names, whether or not they are registered yet.
  for (const name of ['alpha1', 'beta1']) assert.equal(run('failure', name).failed, 0, name);
});
