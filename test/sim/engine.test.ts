// The engine's own guarantees: a seed replays a run bit for bit, every attempt started is ended
// exactly once (the pool ends empty), hedges and failures are accounted for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveScenario, type Scenario } from '../../src/sim/scenario.js';
import { simulateOne, type RunResult } from '../../src/sim/engine.js';
import { availableStrategies } from '../../src/strategies/registry.js';
import type { Pool } from '../../src/pool/pool.js';

/** Everything at once: bursts, stalls, pauses, keys and caches, a death, a revival, a join, a leave, a slowdown. */
function kitchenSink(requests: number): Scenario {
  return resolveScenario('cache', {
    values: {
      requests,
      servers: 5,
      arrivals: { kind: 'bursty', factor: 4, burstMs: 150, share: 0.1 },
      stall: { probability: 0.02, ms: 80 },
      pause: { probability: 0.001, ms: 50 },
      overrides: [{ server: 0, factor: 2 }],
      events: [
        { at: 0.2, action: 'die', server: 1, detectMs: 500 },
        { at: 0.4, action: 'join', count: 1 },
        { at: 0.5, action: 'revive', server: 1, detectMs: 500 },
        { at: 0.6, action: 'slow', server: 2, factor: 3 },
        { at: 0.7, action: 'leave', server: 3 },
        { at: 0.8, action: 'die', server: 4, detectMs: 800 },
      ],
      proxy: { idempotentShare: 0.9 },
    },
  });
}

/** Runs and checks that the pool is empty at the end: every started attempt was ended once. */
function runChecked(scenario: Scenario, strategy: string, seed: number): RunResult {
  let pool: Pool | undefined;
  const r = simulateOne(scenario, strategy, { seed, onAttemptStart: (_b, _ctx, p) => (pool = p) });
  assert.ok(pool !== undefined);
  assert.equal(pool.totalInflight, 0, `${strategy}: attempts left in flight`);
  for (const b of pool.backends) assert.equal(b.inflight, 0, `${strategy}: ${b.name} in flight`);
  return r;
}

test('the same seed gives the same result, bit for bit, for every registered strategy', () => {
  const sc = kitchenSink(8_000);
  for (const name of availableStrategies()) {
    const a = runChecked(sc, name, 42);
    const b = runChecked(sc, name, 42);
    assert.deepEqual(a, b, name);
    const c = runChecked(sc, name, 43);
    assert.notDeepEqual(a.latency, c.latency, `${name}: another seed gives another run`);
  }
});

test('every strategy ends every attempt exactly once, and accounts for every request', () => {
  for (const name of availableStrategies()) {
    const r = runChecked(kitchenSink(6_000), name, 7);
    assert.equal(r.completed + r.failed, r.requests, name);
    // Each attempt beyond the first of its request is a hedge, a retry or a failover.
    const extra = r.hedges + r.retries + r.failovers;
    assert.ok(Math.abs((r.extraLoadPercent * r.requests) / 100 - extra) < 1e-6, name);
    assert.ok(r.attempts - extra <= r.requests, name);
    const shares = r.servers.reduce((sum, s) => sum + s.share, 0);
    assert.ok(Math.abs(shares - 1) < 1e-9, `${name}: shares sum to ${shares}`);
    assert.ok(r.refused + r.resets > 0, `${name}: the deaths were felt`);
  }
});

test('hedged requests: each hedge cancels exactly one loser when nothing fails', () => {
  const names = availableStrategies();
  const hedging = names.filter((n) => {
    const r = simulateOne(resolveScenario('stragglers', { values: { requests: 3_000 } }), n, { seed: 1 });
    return r.hedges > 0;
  });
  for (const name of hedging) {
    const r = runChecked(resolveScenario('stragglers', { values: { requests: 20_000 } }), name, 3);
    assert.ok(r.hedges > 0, name);
    assert.equal(r.cancelled, r.hedges, `${name}: one cancelled attempt per hedge`);
    assert.ok(r.hedgesWon > 0 && r.hedgesWon <= r.hedges, name);
    assert.equal(r.failed, 0);
  }
  // Strategies without hedging hooks never hedge.
  for (const name of ['round_robin', 'least_connections']) {
    const r = simulateOne(resolveScenario('stragglers', { values: { requests: 5_000 } }), name, { seed: 1 });
    assert.equal(r.hedges + r.cancelled, 0, name);
  }
});

test('a dead server: connections refused fail over, in-flight resets are retried within the budget', () => {
  const sc = resolveScenario('failure', { values: { requests: 20_000 } });
  const r = runChecked(sc, 'round_robin', 1);
  assert.ok(r.refused > 0 && r.failovers === r.refused, 'every refused connection failed over');
  assert.ok(r.resets >= 0 && r.retries <= r.resets);
  // Non-idempotent requests are not retried after a reset.
  const post = resolveScenario('failure', { values: { requests: 20_000, proxy: { idempotentShare: 0 } } });
  const p = runChecked(post, 'round_robin', 1);
  assert.equal(p.retries, 0);
  assert.equal(p.failed, p.resets, 'each reset of a non-idempotent request is lost, nothing else');
});

test('response timeouts end attempts; the slow work is retried elsewhere', () => {
  const sc = resolveScenario('slow-server', {
    values: { requests: 5_000, overrides: [{ server: 0, factor: 20 }] },
    settings: ['config.timeouts.responseHeadersMs=150', 'config.retries.budgetPercent=100'],
  });
  const r = runChecked(sc, 'round_robin', 1);
  assert.ok(r.timeouts > 0);
  assert.ok(r.retries > 0);
  // At most maxAttempts (3) timeouts, then a normal service elsewhere.
  assert.ok(r.latency.max < 150 * 3 + 500, `max ${r.latency.max}`);
});
