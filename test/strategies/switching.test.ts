/**
 * Every strategy under the run-time switch: requests started under one strategy end under
 * another, the pool's state carries over, and every strategy's metrics stay plain JSON
 * (numbers, no NaN or Infinity) for backends that are ready, down, removed or never used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STRATEGY_NAMES } from '../../src/config/schema.js';
import { availableStrategies } from '../../src/strategies/registry.js';
import { PickContext } from '../../src/strategies/types.js';
import { type Attempt, Driver, setup } from './helpers.js';

function assertPlainJson(value: unknown, where: string): void {
  const text = JSON.stringify(value);
  assert.deepEqual(JSON.parse(text), value, `${where}: not plain JSON: ${text}`);
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'number') assert.ok(Number.isFinite(v), `${where}${path} is ${v}`);
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
  };
  walk(value, '');
}

test('all seven strategies are registered, in documentation order', () => {
  assert.deepEqual(availableStrategies(), [...STRATEGY_NAMES]);
});

test('switching between every pair of strategies keeps in-flight requests and pool state', () => {
  for (const from of STRATEGY_NAMES) {
    for (const to of STRATEGY_NAMES) {
      const s = setup([1, 2, 1], { beta1: { warmupMs: 1_000 } });
      const d = new Driver(s, from);
      const open: Attempt[] = [];
      for (let i = 0; i < 30; i++) {
        s.clock.advance(3);
        const ctx = new PickContext();
        ctx.key = i % 3 === 0 ? undefined : `k${i % 7}`;
        open.push(d.start(ctx)!);
        if (i % 2 === 1) d.end(open.shift()!, i % 5 === 0 ? 'reset' : 'ok');
      }
      const inflight = s.pool.totalInflight;
      d.active.switchTo(to);
      assert.equal(d.active.name, to);
      assert.equal(s.pool.totalInflight, inflight, 'in-flight requests survive the switch');
      // A backend leaves and one joins while requests from the old strategy are still open.
      s.pool.setHealthy(s.pool.backends[2]!, false);
      s.pool.add({ host: '127.0.0.1', port: 9500, weight: 1 });
      for (let i = 0; i < 30; i++) {
        s.clock.advance(3);
        const ctx = new PickContext();
        ctx.key = `k${i % 5}`;
        const a = d.start(ctx);
        assert.ok(a !== undefined, `${from} -> ${to}: pick after the switch`);
        assert.ok(a.b.ready);
        open.push(a);
        d.end(open.shift()!, 'ok');
      }
      while (open.length > 0) d.end(open.shift()!, 'cancelled');
      assert.equal(s.pool.totalInflight, 0);
      const gone = s.pool.backends[0]!;
      s.pool.remove(gone);
      const strat = d.active.strategy;
      for (const b of [...s.pool.backends, gone]) {
        if (strat.serverMetrics) assertPlainJson(strat.serverMetrics(b), `${to} server metrics`);
      }
      if (strat.globalMetrics) assertPlainJson(strat.globalMetrics(), `${to} global metrics`);
    }
  }
});

test('a fresh strategy reports sane metrics before any traffic', () => {
  for (const name of STRATEGY_NAMES) {
    const s = setup([1, 1]);
    const d = new Driver(s, name);
    const strat = d.active.strategy;
    for (const b of s.pool.backends) if (strat.serverMetrics) assertPlainJson(strat.serverMetrics(b), `${name} server metrics`);
    if (strat.globalMetrics) assertPlainJson(strat.globalMetrics(), `${name} global metrics`);
  }
});
