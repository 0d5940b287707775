// The simulator's servers report their load as the demo backend does, and weighted_round_robin
// with weightSource orca uses those reports: the slow-server claim of its docs page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveScenario } from '../../src/sim/scenario.js';
import { simulateOne } from '../../src/sim/engine.js';

const orca = 'config.weighted_round_robin.weightSource=orca';
const run = (settings: string[]) => simulateOne(resolveScenario('slow-server', { values: { requests: 40_000 }, settings }), 'weighted_round_robin', { seed: 1 });

test('slow-server: weighted_round_robin from load reports cuts p99 by a quarter and sends the slow server about a third of a fast one\'s share', () => {
  const config = run([]);
  const reported = run([orca]);
  assert.ok(reported.latency.p99 < 0.75 * config.latency.p99, `p99 ${reported.latency.p99.toFixed(1)} vs ${config.latency.p99.toFixed(1)} ms`);
  const slow = reported.servers[0]!.share;
  const fast = reported.servers[1]!.share;
  // Three times slower at equal slots: a third of the weight (plus the blackout's even split).
  assert.ok(slow > fast / 3.5 && slow < fast / 2.5, `slow ${slow}, fast ${fast}`);
  assert.equal(reported.failed, 0);
});

test('slow-server: with the servers\' reports off, weightSource orca falls back to the configured weights', () => {
  const config = run([]);
  const silent = run([orca, 'loadReports="off"']);
  assert.deepEqual(silent.servers.map((s) => s.share), config.servers.map((s) => s.share));
  assert.equal(silent.latency.p99, config.latency.p99);
});
