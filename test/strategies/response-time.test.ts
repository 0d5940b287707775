import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PickContext } from '../../src/strategies/types.js';
import { Driver, ix, setup, tally } from './helpers.js';

test('response_time: prefers the fast backend, and in-flight load spreads it', () => {
  const s = setup([1, 1, 1]);
  const d = new Driver(s, 'response_time');
  // Teach it: backend 0 answers in 100 ms, the others in 10 ms.
  for (let i = 0; i < 30; i++) {
    s.clock.advance(10);
    const a = d.start()!;
    d.end(a, 'ok', ix(a.b) === 0 ? 100 : 10);
  }
  const seq = tally(Array.from({ length: 100 }, () => (s.clock.advance(10), d.request(10))), 3);
  assert.ok(seq[0]! <= 5, `slow backend avoided: ${seq}`);
  // Twenty concurrent requests: the fast ones fill up until the slow one is the cheaper queue.
  const open = Array.from({ length: 24 }, () => d.start()!);
  const conc = tally(open.map((a) => a.b), 3);
  assert.ok(conc[0]! >= 1 && conc[0]! < conc[1]!, `concurrency spreads: ${conc}`);
});

test('response_time: regression: one slow sample does not starve a backend (it is explored again)', () => {
  const s = setup([1, 1], { response_time: { exploreAfterMs: 5_000 } });
  const d = new Driver(s, 'response_time');
  const slow = s.pool.backends[0]!;
  // One very slow answer from backend 0, then a steady sequential load.
  const a = d.startOn(slow, new PickContext());
  d.end(a, 'ok', 3_000);
  const picks: number[] = [];
  for (let t = 0; t < 120_000; t += 10) {
    s.clock.advance(10);
    const x = d.start()!;
    picks.push(ix(x.b));
    d.end(x, 'ok', 10); // backend 0 is fast again now
  }
  const first = picks.indexOf(0);
  assert.ok(first >= 0, 'backend 0 was tried again');
  assert.ok(first * 10 <= 5_100, `explored within exploreAfterMs: after ${first * 10} ms`);
  // Each probe pulls the 3 s estimate down (peak-EWMA weighs a sample by 1 - exp(-dt/10 s)),
  // so after some probes it is trusted again and takes a growing share of the load.
  const probesIn30s = picks.slice(0, 3_000).filter((i) => i === 0).length;
  assert.ok(probesIn30s >= 5 && probesIn30s <= 7, `probed every ~5 s: ${probesIn30s}`);
  assert.ok(slow.latency.value(s.clock.now()) < 11, `estimate back near 10 ms: ${slow.latency.value(s.clock.now())}`);
  const tail = tally(picks.slice(-2_000).map((i) => s.pool.backends[i]), 2);
  assert.ok(tail[0]! >= 150, `and, being fast now, it is back in rotation: ${tail}`);
});

test('response_time: a backend that fails fast is not mistaken for the fastest', () => {
  const s = setup([1, 1], { response_time: { exploreAfterMs: 0 } });
  const d = new Driver(s, 'response_time');
  for (let i = 0; i < 200; i++) {
    s.clock.advance(5);
    const a = d.start()!;
    if (ix(a.b) === 0) d.end(a, 'connect', 1);
    else d.end(a, 'ok', 20);
  }
  const last = tally(Array.from({ length: 100 }, () => (s.clock.advance(5), d.request(20))), 2);
  assert.ok(last[0]! <= 10, `failing backend avoided: ${last}`);
});

test('response_time: avg_response_time metric in ms, decaying', () => {
  const s = setup([1]);
  const d = new Driver(s, 'response_time');
  assert.equal(d.active.strategy.serverMetrics!(s.pool.backends[0]!).avg_response_time, 0);
  d.request(42);
  assert.equal(d.active.strategy.serverMetrics!(s.pool.backends[0]!).avg_response_time, 42);
  s.clock.advance(10_000);
  const v = d.active.strategy.serverMetrics!(s.pool.backends[0]!).avg_response_time as number;
  assert.ok(Math.abs(v - 42 / Math.E) < 0.1, `decays with the 10 s time constant: ${v}`);
});
