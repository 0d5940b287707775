/**
 * A config reload that leaves the running strategy and its options alone keeps the running
 * strategy: what it learned (alpha1's EWMAs, feedback weights and hedge budget, beta1's
 * per-backend counts and hot keys, smooth WRR's cycle) survives. Changing the strategy's own
 * options builds a fresh one. Regression: every reload used to rebuild it, so an unrelated
 * change (a timeout) reset every learned value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { STRATEGY_NAMES, type Config, type StrategyName } from '../../src/config/schema.js';
import { PickContext } from '../../src/strategies/types.js';
import { Driver, ix, setup, type Setup } from './helpers.js';

/** The setup's servers and `extra`, as a reload would parse them from a new file. */
function reloaded(s: Setup, extra: Record<string, unknown>): Config {
  return parseConfig({ servers: s.config.servers, ...extra });
}

function traffic(d: Driver, n: number): void {
  for (let i = 0; i < n; i++) {
    d.s.clock.advance(5);
    const ctx = new PickContext();
    ctx.key = `k${i % 9}`;
    d.request(10 + (i % 4) * 5, i % 10 === 0 ? 'reset' : 'ok', ctx);
  }
}

/** One option per strategy that has options, changed from its default. */
const ownChange: Partial<Record<StrategyName, Record<string, unknown>>> = {
  health_score: { health_score: { loadWeight: 0.5 } },
  weighted_round_robin: { weighted_round_robin: { recoveryMs: 5_000 } },
  response_time: { response_time: { defaultLatencyMs: 80 } },
  alpha1: { alpha1: { targetP99Ms: 70 } },
  beta1: { beta1: { loadFactor: 1.5 } },
};

test('a reload changing only unrelated settings keeps every strategy instance and its metrics', () => {
  for (const name of STRATEGY_NAMES) {
    const s = setup([1, 2, 1]);
    const d = new Driver(s, name);
    traffic(d, 60);
    const before = d.active.strategy;
    const metrics = JSON.stringify(before.globalMetrics?.() ?? null);
    const perServer = JSON.stringify(s.pool.backends.map((b) => before.serverMetrics?.(b) ?? null));
    d.active.reconfigure(reloaded(s, { timeouts: { connectMs: 1_234 }, retries: { maxAttempts: 2 } }));
    assert.equal(d.active.strategy, before, `${name}: the running strategy is kept`);
    assert.equal(JSON.stringify(d.active.strategy.globalMetrics?.() ?? null), metrics, `${name}: global metrics intact`);
    assert.equal(JSON.stringify(s.pool.backends.map((b) => d.active.strategy.serverMetrics?.(b) ?? null)), perServer, `${name}: server metrics intact`);
  }
});

test('alpha1 and beta1 keep their request counts across a reload that changes a timeout; a change of their own options starts afresh', () => {
  for (const name of ['alpha1', 'beta1'] as const) {
    const s = setup([1, 1, 1]);
    const d = new Driver(s, name);
    traffic(d, 40);
    const total = () => d.active.strategy.globalMetrics!()['total_requests'];
    assert.equal(total(), 40);
    d.active.reconfigure(reloaded(s, { timeouts: { responseHeadersMs: 5_000 } }));
    assert.equal(total(), 40, `${name}: total_requests not reset by an unrelated change`);
    traffic(d, 5);
    assert.equal(total(), 45);
    const kept = d.active.strategy;
    d.active.reconfigure(reloaded(s, ownChange[name]!));
    assert.notEqual(d.active.strategy, kept, `${name}: new options build a new strategy`);
    assert.equal(total(), 0, `${name}: the rebuilt strategy starts afresh`);
    assert.equal(d.active.name, name);
  }
});

test('every strategy with options is rebuilt when they change, and reads the new values', () => {
  for (const [name, change] of Object.entries(ownChange) as Array<[StrategyName, Record<string, unknown>]>) {
    const s = setup([1, 1]);
    const d = new Driver(s, name);
    traffic(d, 10);
    const before = d.active.strategy;
    d.active.reconfigure(reloaded(s, change));
    assert.notEqual(d.active.strategy, before, name);
  }
  // beta1's options decide what it needs from a request: a kept instance must not leave that stale.
  const s = setup([1, 1]);
  const d = new Driver(s, 'beta1');
  assert.equal(d.active.needs, 'httpRequest');
  d.active.reconfigure(reloaded(s, { beta1: { key: { clientIp: true } } }));
  assert.equal(d.active.needs, 'clientAddress');
});

test('a kept strategy sees servers the reload adds and removes', () => {
  const s = setup([1, 1]);
  const d = new Driver(s, 'weighted_round_robin');
  traffic(d, 20);
  const kept = d.active.strategy;
  const gone = s.pool.backends[0]!;
  // What Ballast.reload does to the pool around reconfigure.
  s.pool.remove(gone);
  const joined = s.pool.add({ host: '127.0.0.1', port: 9002, weight: 1 });
  d.active.reconfigure(reloaded(s, { timeouts: { connectMs: 999 } }));
  assert.equal(d.active.strategy, kept);
  const picks = new Set<number>();
  for (let i = 0; i < 20; i++) {
    s.clock.advance(500);
    picks.add(ix(d.request(10)));
  }
  assert.ok(picks.has(ix(joined)), 'the added server takes traffic');
  assert.ok(!picks.has(ix(gone)), 'the removed server gets none');
});
