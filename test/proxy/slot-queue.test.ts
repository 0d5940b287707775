/**
 * The slot queue (HAProxy maxqueue): FIFO wake-up order against a model under any sequence of
 * joins, leaves and freed slots (fast-check), its capacity, and that a waiter that leaves is
 * forgotten at once (issue 12: abandoned waiters, and their requests, were kept until a slot
 * freed up, which under a stuck backend could be never).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { SlotQueue, type SlotWaiter } from '../../src/proxy/http/slot-queue.js';

class Waiter implements SlotWaiter {
  queued = false;
  queuePrev: SlotWaiter | null = null;
  queueNext: SlotWaiter | null = null;
  constructor(
    readonly id: number,
    private readonly woken: number[],
  ) {}
  wake(): void {
    this.woken.push(this.id);
  }
}

test('wakes waiters in arrival order, skipping those that left, within its capacity (model check)', () => {
  const op = fc.oneof(fc.constant({ kind: 'push' as const }), fc.record({ kind: fc.constant('leave' as const), pick: fc.nat() }), fc.constant({ kind: 'free' as const }));
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 200 }), (capacity, ops) => {
      const woken: number[] = [];
      const q = new SlotQueue(capacity);
      const model: Waiter[] = [];
      const all: Waiter[] = [];
      for (const o of ops) {
        if (o.kind === 'push') {
          const w = new Waiter(all.length, woken);
          all.push(w);
          const ok = q.push(w);
          assert.equal(ok, model.length < capacity);
          if (ok) model.push(w);
        } else if (o.kind === 'leave') {
          if (all.length === 0) continue;
          const w = all[o.pick % all.length]!;
          q.leave(w);
          const i = model.indexOf(w);
          if (i >= 0) model.splice(i, 1);
        } else {
          const before = woken.length;
          q.slotFreed();
          const expected = model.shift();
          assert.deepEqual(woken.slice(before), expected === undefined ? [] : [expected.id]);
        }
        assert.equal(q.length, model.length);
        for (const w of all) assert.equal(w.queued, model.includes(w));
      }
    }),
  );
});

test('a waiter that leaves is unlinked at once: nothing in the queue keeps it alive', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const q = new SlotQueue(100_000);
  const woken: number[] = [];
  const keeper = new Waiter(-1, woken);
  q.push(keeper);
  const refs: WeakRef<Waiter>[] = [];
  (() => {
    for (let i = 0; i < 1000; i++) {
      const w = new Waiter(i, woken);
      q.push(w);
      refs.push(new WeakRef(w));
      q.leave(w);
    }
  })();
  // WeakRefs are cleared only after the current job: let it end, then collect.
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setImmediate(r));
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  assert.equal(alive, 0, `${alive} of 1000 abandoned waiters still reachable`);
  assert.equal(q.length, 1);
  q.slotFreed();
  assert.deepEqual(woken, [-1]);
});
