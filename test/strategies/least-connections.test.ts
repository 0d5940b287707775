import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { Pool } from '../../src/pool/pool.js';
import { parseConfig } from '../../src/config/load.js';
import { leastConnections } from '../../src/strategies/least-connections.js';
import { roundRobin } from '../../src/strategies/round-robin.js';
import { PickContext } from '../../src/strategies/types.js';

function setup(weights: number[]) {
  const clock = new ManualClock();
  const servers = weights.map((weight, i) => ({ host: '127.0.0.1', port: 9000 + i, weight }));
  const config = parseConfig({ servers });
  const pool = new Pool(servers, { clock, startHealthy: true });
  return { clock, pool, config, random: new SeededRandom(7) };
}

test('least_connections rotates ties instead of always taking the first', () => {
  const deps = setup([1, 1, 1]);
  const s = leastConnections.create(deps);
  const ctx = new PickContext();
  const picks = [0, 1, 2, 3, 4, 5].map(() => s.pick(ctx)!.port);
  assert.deepEqual(new Set(picks.slice(0, 3)).size, 3);
  assert.deepEqual(picks.slice(0, 3), picks.slice(3, 6));
});

test('least_connections prefers the backend with fewest in flight per weight', () => {
  const deps = setup([1, 1]);
  const [a, b] = deps.pool.backends;
  for (let i = 0; i < 3; i++) deps.pool.begin(a!, { startedAt: 0, inflightPrev: null, inflightNext: null });
  const s = leastConnections.create(deps);
  const ctx = new PickContext();
  assert.equal(s.pick(ctx), b);
  ctx.tried.push(b!);
  assert.equal(s.pick(ctx), a, 'a tried backend is skipped');
});

test('round_robin with weights 3:1 interleaves smoothly', () => {
  const deps = setup([3, 1]);
  const s = roundRobin.create(deps);
  const ctx = new PickContext();
  const seq = Array.from({ length: 8 }, () => s.pick(ctx)!.port - 9000);
  assert.equal(seq.filter((x) => x === 0).length, 6);
  for (let i = 0; i + 1 < seq.length; i++) assert.ok(!(seq[i] === 1 && seq[i + 1] === 1), 'no burst to the light backend');
});
