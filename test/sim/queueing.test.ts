// The simulator against closed-form queueing results: if these hold, its servers, queues and
// clock are right, and what it says about the strategies rests on a sound model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveScenario, type ScenarioInput } from '../../src/sim/scenario.js';
import { simulateOne } from '../../src/sim/engine.js';

function single(service: ScenarioInput['service'], rate: number, requests: number) {
  return resolveScenario(undefined, { file: { name: 'single', rate, servers: 1, slots: 1, service, requests } });
}

test('M/M/1 at utilisation 0.5: mean wait and mean time in system within 4% of theory', () => {
  // lambda = 50/s, mu = 100/s: Wq = rho / (mu - lambda) = 10 ms, W = 1 / (mu - lambda) = 20 ms.
  const r = simulateOne(single({ kind: 'exponential', mean: 10 }, 50, 200_000), 'round_robin', { seed: 1 });
  assert.equal(r.completed, 200_000);
  assert.ok(Math.abs(r.meanQueueWaitMs - 10) / 10 < 0.04, `Wq ${r.meanQueueWaitMs}`);
  assert.ok(Math.abs(r.latency.mean - 20) / 20 < 0.04, `W ${r.latency.mean}`);
  // Time in system is exponential with mean 20 ms: median 20 ln 2, p99 20 ln 100.
  assert.ok(Math.abs(r.latency.p50 - 20 * Math.LN2) / (20 * Math.LN2) < 0.05, `p50 ${r.latency.p50}`);
  assert.ok(Math.abs(r.latency.p99 - 20 * Math.log(100)) / (20 * Math.log(100)) < 0.06, `p99 ${r.latency.p99}`);
});

test('M/D/1 at utilisation 0.5: mean wait within 4% of Pollaczek-Khinchine', () => {
  // Wq = rho / (2 mu (1 - rho)) = 0.5 / (2 x 0.1/ms x 0.5) = 5 ms.
  const r = simulateOne(single({ kind: 'fixed', ms: 10 }, 50, 150_000), 'round_robin', { seed: 2 });
  assert.ok(Math.abs(r.meanQueueWaitMs - 5) / 5 < 0.04, `Wq ${r.meanQueueWaitMs}`);
});

test('M/M/2 (one server, two slots) at utilisation 0.5: mean wait within 5% of Erlang C', () => {
  // c = 2, a = lambda/mu = 1, rho = 0.5: P(wait) = 1/3, Wq = P(wait) / (c mu - lambda) = (1/3) / (0.2 - 0.1) ms = 3.33 ms.
  const sc = resolveScenario(undefined, {
    file: { name: 'mm2', rate: 100, servers: 1, slots: 2, service: { kind: 'exponential', mean: 10 }, requests: 200_000 },
  });
  const r = simulateOne(sc, 'round_robin', { seed: 3 });
  assert.ok(Math.abs(r.meanQueueWaitMs - 10 / 3) / (10 / 3) < 0.05, `Wq ${r.meanQueueWaitMs}`);
});

test("round robin's share is exactly equal", () => {
  const sc = resolveScenario('homogeneous', { values: { requests: 20_000 } });
  const r = simulateOne(sc, 'round_robin', { seed: 4 });
  assert.equal(r.servers.length, 4);
  for (const s of r.servers) assert.equal(s.attempts, 5_000);
  assert.equal(r.maxAvgLoad, 1);
});

test('Poisson arrivals: the run lasts requests / rate', () => {
  const sc = resolveScenario('homogeneous', { values: { requests: 42_000 } });
  const r = simulateOne(sc, 'least_connections', { seed: 5 });
  const expected = (42_000 / sc.rate) * 1000;
  assert.ok(Math.abs(r.simulatedMs - expected) / expected < 0.02, `${r.simulatedMs} ms`);
});
