// The churn scenario: a server leaves and another joins under keyed load. No request may be lost
// (the leaving server's in-flight requests finish), and the hit rate is reported by phase.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveScenario } from '../../src/sim/scenario.js';
import { simulateOne, type RunResult } from '../../src/sim/engine.js';
import { availableStrategies } from '../../src/strategies/registry.js';

const REQUESTS = 40_000;
const run = (strategy: string, requests = REQUESTS): RunResult => simulateOne(resolveScenario('churn', { values: { requests } }), strategy, { seed: 1 });

test('churn: no request is lost, whatever the strategy; phases cover every request', () => {
  for (const name of availableStrategies()) {
    const r = run(name);
    assert.equal(r.failed, 0, `${name}: ${r.failed} lost`);
    assert.equal(r.completed, REQUESTS, name);
    assert.deepEqual(r.phases.map((p) => p.phase), ['before', 'during', 'after'], name);
    assert.deepEqual(r.phases.map((p) => p.failed), [0, 0, 0], name);
    assert.equal(r.phases.reduce((n, p) => n + p.requests, 0), REQUESTS, `${name}: every request in one phase`);
    // The leaving server s1 took nothing after the leave; the new one (s5) took its part after the join.
    assert.ok(r.servers.find((s) => s.name === 's5')!.attempts > 0, `${name}: the joined server served`);
    const [before, during, after] = r.phases;
    assert.ok(before!.toMs === during!.fromMs && during!.toMs === after!.fromMs, `${name}: phases are contiguous`);
  }
});

test("churn: beta1 keeps its hit-rate lead in every phase; the leave costs it hits, the join gives them back", () => {
  // The scenario's full length: on a shorter run the caches' cold start dominates "before".
  const beta1 = run('beta1', 100_000);
  const rr = run('round_robin', 100_000);
  for (let i = 0; i < 3; i++) {
    const b = beta1.phases[i]!;
    const r = rr.phases[i]!;
    assert.ok(b.hitRate! >= 1.25 * r.hitRate!, `${b.phase}: beta1 ${b.hitRate} vs round_robin ${r.hitRate}`);
  }
  const [before, during, after] = beta1.phases.map((p) => p.hitRate!);
  assert.ok(during! < before!, `the leaving server's keys start cold elsewhere: ${before} -> ${during}`);
  assert.ok(after! > during!, `the join spreads keys again: ${during} -> ${after}`);
});

test('phases: one event gives before and after; no events, none', () => {
  const scaleOut = simulateOne(resolveScenario('scale-out', { values: { requests: 5_000 } }), 'round_robin', { seed: 1 });
  assert.deepEqual(scaleOut.phases.map((p) => p.phase), ['before', 'after']);
  const plain = simulateOne(resolveScenario('homogeneous', { values: { requests: 2_000 } }), 'round_robin', { seed: 1 });
  assert.deepEqual(plain.phases, []);
});
