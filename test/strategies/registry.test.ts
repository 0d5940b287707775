/**
 * The registry is the one place a strategy is listed: the config's names and per-strategy keys
 * come from it, and so does what the data plane does for a strategy (its request key, the
 * hedging settings), so no code outside a strategy reads `config.alpha1` or `config.beta1`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { parseConfig } from '../../src/config/load.js';
import { configSchema, STRATEGY_NAMES } from '../../src/config/schema.js';
import { ActiveStrategy } from '../../src/strategies/active.js';
import { beta1 } from '../../src/strategies/beta1.js';
import { requestPolicy, STRATEGIES } from '../../src/strategies/registry.js';
import type { StrategyDefinition } from '../../src/strategies/types.js';
import { setup } from './helpers.js';

const servers = [{ host: '127.0.0.1', port: 8081 }];
const definitions: readonly StrategyDefinition[] = STRATEGIES;

test("the config's strategy names are the registry's, in its order", () => {
  assert.deepEqual([...STRATEGY_NAMES], definitions.map((d) => d.name));
  assert.deepEqual((configSchema.shape.strategy.unwrap() as z.ZodEnum).options, definitions.map((d) => d.name));
  // The per-strategy keys sit together, in registry order (the config reference lists them so).
  const shapeKeys = Object.keys(configSchema.shape);
  assert.deepEqual(shapeKeys.filter((k) => STRATEGY_NAMES.includes(k as never)), [...STRATEGY_NAMES]);
});

test("each strategy's config key is its definition's option schema, defaulted", () => {
  const config = parseConfig({ servers }) as unknown as Record<string, unknown>;
  const shape = configSchema.shape as unknown as Record<string, z.ZodPrefault>;
  for (const d of definitions) {
    assert.equal(shape[d.name]!.unwrap(), d.options, `${d.name}: the key holds the definition's schema`);
    assert.deepEqual(config[d.name], d.options.parse({}), `${d.name}: defaults from its own schema`);
    // Strict like every config object: a typo under the strategy's key names its path.
    assert.throws(() => parseConfig({ servers, [d.name]: { bogus: 1 } }), new RegExp(`${d.name}\\.bogus: unknown key`));
  }
  assert.deepEqual(parseConfig({ servers, beta1: { key: { query: 'k' } } }).beta1.key, { query: 'k' });
});

test('a strategy that needs a key declares where it comes from; beta1 takes its key option', () => {
  for (const key of [{ header: 'X-Key' }, { query: 'k' }, { path: true }, { cookie: 'sid' }, { clientIp: true }] as const) {
    const config = parseConfig({ servers, beta1: { key } });
    for (const d of definitions) {
      if (d.needs(config) === 'none') continue;
      assert.ok(d.requestKey !== undefined, `${d.name} needs a key but declares none`);
    }
    assert.deepEqual(beta1.requestKey!(config), key);
  }
});

test('requestPolicy: the hedging settings apply whichever strategy is configured', () => {
  for (const strategy of STRATEGY_NAMES) {
    assert.deepEqual(requestPolicy(parseConfig({ servers, strategy })), { idempotentHeader: null, maxHedgeBodyBytes: 64 * 1024 }, strategy);
    const config = parseConfig({ servers, strategy, alpha1: { idempotentHeader: 'X-Idempotent', maxHedgeBodyBytes: 1_000 } });
    assert.deepEqual(requestPolicy(config), { idempotentHeader: 'X-Idempotent', maxHedgeBodyBytes: 1_000 }, strategy);
  }
});

test("ActiveStrategy's request key is the running definition's, through switches and reconfigures, and listeners hear of each", () => {
  const s = setup([1, 1], { beta1: { key: { query: 'k' } } });
  const active = new ActiveStrategy(s.pool, s.clock, s.random, s.config, 'round_robin');
  const seen: unknown[] = [];
  active.onChange(() => seen.push(active.needsKey ? active.requestKey : null));
  assert.equal(active.needsKey, false);
  assert.equal(active.requestKey, undefined);

  active.switchTo('beta1');
  assert.deepEqual(seen, [{ query: 'k' }]);
  // A reload that changes the key source rebuilds beta1 with it.
  active.reconfigure(parseConfig({ servers: s.config.servers, beta1: { key: { cookie: 'sid' } } }));
  assert.equal(active.name, 'beta1');
  assert.deepEqual(active.requestKey, { cookie: 'sid' });
  // A reload that keeps the strategy still tells the listeners (the key is unchanged).
  active.reconfigure(parseConfig({ servers: s.config.servers, beta1: { key: { cookie: 'sid' } }, retries: { maxAttempts: 2 } }));
  active.switchTo('alpha1');
  assert.equal(active.requestKey, undefined);
  assert.deepEqual(seen, [{ query: 'k' }, { cookie: 'sid' }, { cookie: 'sid' }, null]);
});
