// The churn scenario live: a server leaves (the balancer stops using it, its in-flight requests
// finish) and another joins, under keyed load. No request may be lost, with Ballast or HAProxy;
// the hit rate is split by phase from the load tester's running counts. Short and light: counts,
// never speeds (the machine is shared).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findHaproxy } from '../../src/bench/haproxy.js';
import { livePhases, runBench } from '../../src/bench/run.js';
import { planLive } from '../../src/bench/live-scenario.js';
import { resolveScenario } from '../../src/sim/scenario.js';
import type { LoadProgress } from '../../src/loadtest/index.js';

const mark = (done: number, failed: number, cacheHits: number, cacheMisses: number): LoadProgress => ({
  done,
  succeeded: done - failed,
  failed,
  inflight: 0,
  elapsedS: 0,
  total: null,
  durationS: 1,
  fraction: 0,
  cacheHits,
  cacheMisses,
});

test('live phases: counts between the marks taken at the events, and after the last', () => {
  const plan = planLive(resolveScenario('churn'), 1);
  const failed = { total: 1, http4xx: 0, http5xx: 1, timeout: 0, connection: 0, otherStatus: 0 };
  const phases = livePhases(plan, [mark(100, 0, 60, 40), mark(160, 1, 90, 69)], { succeeded: 259, failed, cache: { hits: 160, misses: 99, hitRate: 0 } });
  assert.deepEqual(phases, [
    { phase: 'before', done: 100, failed: 0, hits: 60, misses: 40, hitRate: 0.6 },
    { phase: 'during', done: 60, failed: 1, hits: 30, misses: 29, hitRate: 0.5085 },
    { phase: 'after', done: 100, failed: 0, hits: 70, misses: 30, hitRate: 0.7 },
  ]);
  assert.deepEqual(livePhases(planLive(resolveScenario('cache'), 1), [], { succeeded: 1, failed, cache: null }), []);
});

test('churn live: a server leaves and one joins; nothing is lost; hit rates by phase', { timeout: 60_000 }, async () => {
  const haproxy = findHaproxy();
  if (haproxy === null) assert.notEqual(process.env.CI, 'true', 'CI=true but haproxy is not installed (.ci/run installs it)');
  const report = await runBench({
    // No warm-up ramp for the joining server: in a 6 s run beta1's would keep it nearly idle.
    scenarios: [resolveScenario('churn', { values: { servers: 3 }, settings: ['config.beta1.warmupMs=0'] })],
    strategies: ['beta1'],
    haproxy,
    haproxyModes: ['hash'],
    durationS: 6,
    warmupS: 0,
    rate: 100,
    arrivals: 'constant',
    seed: 5,
  });
  const s = report.scenarios[0]!;
  assert.equal(s.skipped, null);
  assert.deepEqual(s.results.map((r) => r.target), haproxy === null ? ['beta1'] : ['beta1', 'haproxy hash']);
  for (const r of s.results) {
    assert.equal(r.warnings.filter((w) => /event/.test(w)).length, 0, `${r.target}: events ran: ${r.warnings.join('; ')}`);
    assert.equal(r.failed.total, 0, `${r.target}: requests lost`);
    assert.deepEqual(r.phases.map((p) => p.phase), ['before', 'during', 'after']);
    assert.deepEqual(r.phases.map((p) => p.failed), [0, 0, 0]);
    assert.equal(r.phases.reduce((n, p) => n + p.done, 0), r.sent, `${r.target}: every request in one phase`);
    for (const p of r.phases) assert.ok(p.hits + p.misses > 0 && p.hitRate !== null, `${r.target} ${p.phase}: cache verdicts`);
    assert.ok(r.servers.find((sv) => sv.name === 's3')!.count > 0, `${r.target}: the joined server answered`);
  }
});
