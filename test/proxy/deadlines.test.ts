/**
 * The deadline sweeper (src/proxy/deadlines.ts) on a manual clock: sweep() is called by hand
 * with the time set by the test, so each case says exactly when an item fires. One case lets
 * the sweeper's own interval run, to show add() arms it. tickFor's bounds, as a table and as a
 * property.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DeadlineSweeper, tickFor, type HasDeadline } from '../../src/proxy/deadlines.js';

class Clock {
  t = 1_000;
  readonly now = (): number => this.t;
}

/** Records the time of each onDeadline call; `then` runs inside the call. */
class Item implements HasDeadline {
  readonly fired: number[] = [];
  constructor(
    public deadline: number,
    private readonly then: (now: number, self: Item) => void = () => {},
  ) {}
  onDeadline(now: number): void {
    this.fired.push(now);
    this.then(now, this);
  }
}

/** A sweeper whose own interval never fires during a test: every sweep is the test's. */
function manual(clock: Clock): DeadlineSweeper {
  return new DeadlineSweeper(clock.now, 3_600_000);
}

test('an item fires once, at its deadline, with the time of the sweep; later sweeps leave it alone', () => {
  const clock = new Clock();
  const s = manual(clock);
  const item = new Item(1_100);
  s.add(item);
  for (const t of [1_000, 1_050, 1_099]) {
    clock.t = t;
    s.sweep();
  }
  assert.deepEqual(item.fired, [], 'not before the deadline');
  clock.t = 1_100;
  s.sweep();
  assert.deepEqual(item.fired, [1_100], 'at the deadline exactly');
  assert.equal(item.deadline, 0, 'disarmed before its callback');
  for (const t of [1_100, 1_200, 10_000]) {
    clock.t = t;
    s.sweep();
  }
  assert.deepEqual(item.fired, [1_100], 'once');
  assert.equal(s.size, 1, 'still registered: the owner deletes it');
  s.stop();
});

test('a sweep late by any amount fires every overdue item once, and none that is not due', () => {
  const clock = new Clock();
  const s = manual(clock);
  const items = [1_010, 1_500, 2_000, 2_001, 5_000].map((d) => new Item(d));
  for (const i of items) s.add(i);
  clock.t = 2_000;
  s.sweep();
  assert.deepEqual(items.map((i) => i.fired), [[2_000], [2_000], [2_000], [], []]);
  clock.t = 4_000;
  s.sweep();
  assert.deepEqual(items.map((i) => i.fired.length), [1, 1, 1, 1, 0]);
  s.stop();
});

test('deadline 0 means none: never fires, also once time is far past', () => {
  const clock = new Clock();
  const s = manual(clock);
  const none = new Item(0);
  s.add(none);
  clock.t = Number.MAX_SAFE_INTEGER;
  s.sweep();
  assert.deepEqual(none.fired, []);
  // Armed later, by its owner setting a deadline: then it fires.
  none.deadline = clock.t;
  s.sweep();
  assert.deepEqual(none.fired, [Number.MAX_SAFE_INTEGER]);
  s.stop();
});

test('a deleted item never fires, also when deleted by another item\'s callback in the same sweep', () => {
  const clock = new Clock();
  const s = manual(clock);
  const gone = new Item(1_100);
  s.add(gone);
  s.delete(gone);
  assert.equal(s.size, 0);
  // `first` is added before `second`, so the sweep reaches it first and deletes `second`
  // (as a timed-out exchange closes its connection and unregisters the connection's deadline).
  const second = new Item(1_100);
  const first = new Item(1_100, () => s.delete(second));
  s.add(first);
  s.add(second);
  clock.t = 1_200;
  s.sweep();
  assert.deepEqual(gone.fired, []);
  assert.deepEqual(first.fired, [1_200]);
  assert.deepEqual(second.fired, [], 'deleted before the sweep reached it');
  assert.equal(s.size, 1);
  s.stop();
});

test('an item re-armed inside onDeadline fires again at its new deadline, not in the same sweep', () => {
  const clock = new Clock();
  const s = manual(clock);
  // Re-arms twice, 100 ms on each time (a connect deadline followed by a response deadline).
  const item = new Item(1_100, (now, self) => {
    if (self.fired.length < 3) self.deadline = now + 100;
  });
  s.add(item);
  clock.t = 1_100;
  s.sweep();
  assert.deepEqual(item.fired, [1_100]);
  assert.equal(item.deadline, 1_200);
  clock.t = 1_199;
  s.sweep();
  assert.deepEqual(item.fired, [1_100]);
  clock.t = 1_250;
  s.sweep();
  assert.deepEqual(item.fired, [1_100, 1_250]);
  assert.equal(item.deadline, 1_350);
  clock.t = 1_350;
  s.sweep();
  clock.t = 9_999;
  s.sweep();
  assert.deepEqual(item.fired, [1_100, 1_250, 1_350], 'no more once it stopped re-arming');
  assert.equal(item.deadline, 0);
  s.stop();
});

test('an item re-armed with a deadline already past fires at the next sweep, not again in this one', () => {
  const clock = new Clock();
  const s = manual(clock);
  const item = new Item(1_100, (now, self) => {
    if (self.fired.length === 1) self.deadline = now - 1;
  });
  s.add(item);
  clock.t = 1_100;
  s.sweep();
  assert.deepEqual(item.fired, [1_100]);
  s.sweep();
  assert.deepEqual(item.fired, [1_100, 1_100]);
  s.stop();
});

test('stop forgets every item; the sweeper can be used again', () => {
  const clock = new Clock();
  const s = manual(clock);
  const a = new Item(1_100);
  s.add(a);
  s.add(new Item(1_100));
  s.add(a);
  assert.equal(s.size, 2, 'an item is registered once');
  s.stop();
  assert.equal(s.size, 0);
  clock.t = 2_000;
  s.sweep();
  assert.deepEqual(a.fired, []);
  const b = new Item(2_000);
  s.add(b);
  s.sweep();
  assert.deepEqual(b.fired, [2_000]);
  s.stop();
});

test('add arms the sweeper\'s own interval: an overdue item fires within a few ticks without a manual sweep', async () => {
  const clock = new Clock();
  const s = new DeadlineSweeper(clock.now, 5);
  assert.equal(s.tickMs, 5);
  const item = new Item(clock.t);
  s.add(item);
  const start = Date.now();
  while (item.fired.length === 0 && Date.now() - start < 2_000) await new Promise((r) => setTimeout(r, 5));
  s.stop();
  assert.deepEqual(item.fired, [1_000]);
});

const TICKS: Array<[number[], number]> = [
  [[], 100],
  [[0, 0], 100],
  [[-5, 0], 100],
  [[800], 100],
  [[10_000, 30_000], 100],
  [[799], 99],
  [[160, 0, 10_000], 20],
  [[80, 100], 10],
  [[47], 5],
  [[40], 5],
  [[39], 5],
  [[1], 5],
  [[0.5], 5],
  [[5_000, 0, 1_000, 200], 25],
];
for (const [timeouts, tick] of TICKS) {
  test(`tickFor(${JSON.stringify(timeouts)}) = ${tick}`, () => {
    assert.equal(tickFor(timeouts), tick);
  });
}

test('property: tickFor is an integer in [5, 100], an eighth of the shortest positive timeout when that is in range', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -10, max: 10_000_000 }), { maxLength: 8 }), (timeouts) => {
      const tick = tickFor(timeouts);
      assert.ok(Number.isInteger(tick) && tick >= 5 && tick <= 100, `tick ${tick}`);
      const positive = timeouts.filter((t) => t > 0);
      if (positive.length === 0) return assert.equal(tick, 100);
      const eighth = Math.floor(Math.min(...positive) / 8);
      if (eighth >= 5 && eighth <= 100) assert.equal(tick, eighth);
      // Never coarser than a shortest timeout of 40 ms or more can take: at most an eighth of it.
      if (Math.min(...positive) >= 40) assert.ok(tick <= Math.min(...positive) / 8);
    }),
  );
});
