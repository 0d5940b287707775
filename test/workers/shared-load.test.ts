/**
 * The shared load (src/workers/shared-load.ts): two pools standing for two workers and one for
 * the main thread, on one SharedArrayBuffer, as the workers have them; and a connection limit
 * raced for by real threads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
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

test('a connection limit raced for by two threads: tryReserve never lets the count pass it', async () => {
  const load = SharedLoad.create(2);
  const slots = new SlotTable();
  const slot = slots.slotOf('127.0.0.1:9000')!;
  // [start, rounds done by thread 0, by thread 1]
  const go = new Int32Array(new SharedArrayBuffer(12));
  // Each thread builds its own Backend on its own row of the shared cells, as a worker does,
  // then takes the backend's last free slot and gives it back, as fast as it can. A check of
  // `inflight` followed by an add lets both take it at once; a reservation does not.
  const code = `
    const { workerData: d, parentPort } = require('node:worker_threads');
    import(d.backend).then(({ Backend }) => {
      const totals = new Int32Array(d.buffer, 0, d.row);
      const mine = new Int32Array(d.buffer, (d.w + 1) * d.row * 4, d.row);
      const b = new Backend(0, { host: '127.0.0.1', port: 9000, weight: 1 }, { latencyTauMs: 1, failureHalfLifeMs: 1 }, true, true, { total: totals, mine, slot: d.slot });
      Atomics.wait(d.go, 0, 0);
      // Until both have done their rounds: the one that woke first keeps contending.
      let taken = 0, over = 0;
      for (let i = 0; i < d.rounds || Atomics.load(d.go, 2 - d.w) < d.rounds; i++) {
        if ((i & 1023) === 0) Atomics.store(d.go, 1 + d.w, i);
        if (!b.tryReserve(d.max)) continue;
        taken++;
        if (Atomics.load(totals, d.slot) > d.max) over++;
        Atomics.sub(totals, d.slot, 1);
        Atomics.sub(mine, d.slot, 1);
      }
      Atomics.store(d.go, 1 + d.w, d.rounds);
      parentPort.postMessage({ taken, over });
    });
  `;
  const backend = new URL('../../src/pool/backend.js', import.meta.url).href;
  const row = load.totals.length;
  const threads = [0, 1].map(
    (w) => new Worker(code, { eval: true, workerData: { backend, buffer: load.buffer, row, w, slot, go, max: 1, rounds: 200_000 } }),
  );
  const results = threads.map((t) => new Promise<{ taken: number; over: number }>((resolve, reject) => {
    t.once('message', resolve);
    t.once('error', reject);
  }));
  // Both are parked on `go`: release them together, so they contend.
  await new Promise((r) => setTimeout(r, 200));
  Atomics.store(go, 0, 1);
  Atomics.notify(go, 0);
  const [a, b] = await Promise.all(results);
  await Promise.all(threads.map((t) => t.terminate()));
  assert.ok(a!.taken > 0 && b!.taken > 0, `both threads got the slot at times (${a!.taken}, ${b!.taken})`);
  assert.equal(a!.over + b!.over, 0, 'never two in flight at a limit of one');
  assert.equal(Atomics.load(load.totals, slot), 0, 'every reservation was given back');
});

test('a reserved attempt is counted once: tryReserve then begin(reserved) adds one, end takes it back', () => {
  const pool = new Pool(servers, { clock: new ManualClock(0), startHealthy: true });
  const b = pool.backends[0]!;
  assert.ok(b.tryReserve(2));
  const entry = { startedAt: 0, inflightPrev: null, inflightNext: null };
  pool.begin(b, entry, true);
  assert.equal(b.inflight, 1);
  assert.ok(b.tryReserve(2));
  pool.begin(b, { startedAt: 0, inflightPrev: null, inflightNext: null }, true);
  assert.equal(b.tryReserve(2), false, 'full at the limit');
  assert.equal(b.inflight, 2);
  pool.end(b, entry, { kind: 'ok', status: 200, latencyMs: 1 }, 1);
  assert.equal(b.inflight, 1);
  assert.equal(pool.totalInflight, 1);
});
