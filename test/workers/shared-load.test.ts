/**
 * The shared load (src/workers/shared-load.ts) without threads: two pools standing for two
 * workers and one for the main thread, on one SharedArrayBuffer, as the workers have them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from '../../src/pool/pool.js';
import { SharedLoad, SlotTable, SLOTS } from '../../src/workers/shared-load.js';
import { Driver, ix, type Setup } from '../strategies/helpers.js';
import { PickContext } from '../../src/strategies/types.js';
import { ManualClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { parseConfig } from '../../src/config/load.js';

const servers = [0, 1].map((i) => ({ host: '127.0.0.1', port: 9000 + i, weight: 1 }));

function worlds() {
  const load = SharedLoad.create(2);
  const slots = new SlotTable();
  const clock = new ManualClock(1_000);
  const config = parseConfig({ servers });
  const overflow: string[] = [];
  const pool = (w: number | null) => new Pool(servers, { clock, startHealthy: true, load: load.poolLoad((a) => slots.slotOf(a), w, (a) => overflow.push(a)) });
  // The main thread's pool first: it assigns the slots, as in src/app/run.ts.
  const main = pool(null);
  const setup = (p: Pool, seed: number): Setup => ({ clock, pool: p, config, random: new SeededRandom(seed) });
  const a = new Driver(setup(pool(0), 1), 'least_connections');
  const b = new Driver(setup(pool(1), 2), 'least_connections');
  return { load, main, a, b, overflow };
}

test('least_connections on one worker sees the requests another worker has in flight', () => {
  const { main, a, b } = worlds();
  const held = [0, 1, 2].map(() => a.startOn(a.s.pool.backends[0]!, new PickContext()));
  assert.deepEqual(
    b.s.pool.backends.map((x) => x.inflight),
    [3, 0],
    'worker b counts worker a\'s requests',
  );
  const picks = [0, 1, 2].map(() => b.start()!);
  assert.deepEqual(
    picks.map((p) => ix(p.b)),
    [1, 1, 1],
    'worker b sends its requests to the backend worker a leaves idle',
  );
  assert.deepEqual(
    main.backends.map((x) => x.inflight),
    [3, 3],
  );
  assert.equal(main.totalInflight, 6, 'the main thread sees the total');
  for (const p of picks) b.end(p);
  for (const h of held) a.end(h);
  assert.deepEqual(
    main.backends.map((x) => x.inflight),
    [0, 0],
  );
  assert.equal(main.totalInflight, 0);
});

test('a dead worker\'s in-flight requests are taken back from the totals, the others\' stay', () => {
  const { load, main, a, b } = worlds();
  a.startOn(a.s.pool.backends[0]!, new PickContext());
  a.startOn(a.s.pool.backends[1]!, new PickContext());
  const kept = b.startOn(b.s.pool.backends[1]!, new PickContext());
  assert.equal(load.held(0), 2);
  assert.equal(load.held(1), 1);
  load.forget(0);
  assert.deepEqual(
    main.backends.map((x) => x.inflight),
    [0, 1],
  );
  assert.equal(main.totalInflight, 1);
  assert.equal(load.held(0), 0, 'the row is clean for the worker that replaces it');
  b.end(kept);
  assert.equal(main.totalInflight, 0);
});

test('client connections count across workers and are taken back with a dead worker', () => {
  const load = SharedLoad.create(2);
  load.addClient(load.row(0), 1);
  load.addClient(load.row(0), 1);
  load.addClient(load.row(1), 1);
  assert.equal(load.clientConnections(), 3);
  load.forget(0);
  assert.equal(load.clientConnections(), 1);
});

test('slots: one per address, stable, never reused; past the cap a backend counts alone', () => {
  const slots = new SlotTable();
  assert.equal(slots.slotOf('a:1'), 0);
  assert.equal(slots.slotOf('b:2'), 1);
  assert.equal(slots.slotOf('a:1'), 0);
  for (let i = 2; i < SLOTS; i++) slots.slotOf(`h:${i}`);
  assert.equal(slots.slotOf('late:1'), undefined);
  assert.equal(slots.entries().length, SLOTS);

  const load = SharedLoad.create(1);
  const overflow: string[] = [];
  const poolLoad = load.poolLoad((a) => slots.slotOf(a), 0, (a) => overflow.push(a));
  const pool = new Pool([{ host: 'late', port: 1, weight: 1 }], { clock: new ManualClock(0), startHealthy: true, load: poolLoad });
  assert.deepEqual(overflow, ['late:1']);
  pool.begin(pool.backends[0]!, { startedAt: 0, inflightPrev: null, inflightNext: null });
  assert.equal(pool.backends[0]!.inflight, 1, 'still counted, in a cell of its own');
  assert.equal(pool.totalInflight, 1);
});
