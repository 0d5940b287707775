import { test } from 'node:test';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { ejectionBackoff, maxEjectable, OutlierDetector } from '../../src/health/outlier.js';
import { HealthMonitor } from '../../src/health/active.js';
import { healthCheckSchema, outlierSchema, type ConfigInput } from '../../src/config/schema.js';
import { Pool } from '../../src/pool/pool.js';
import type { Backend, Outcome, OutcomeKind } from '../../src/pool/backend.js';
import { ManualClock, systemClock, type Clock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { httpServer, waitFor } from './helpers.js';

type OD = NonNullable<ConfigInput['outlierDetection']>;

function setup(n: number, od: OD, activeChecks = false, clock: Clock = new ManualClock(1000)) {
  const pool = new Pool(
    Array.from({ length: n }, (_, i) => ({ host: '127.0.0.1', port: 9000 + i, weight: 1 })),
    { clock, startHealthy: true },
  );
  const detector = new OutlierDetector(pool, outlierSchema.parse(od), { clock, activeChecks, autoSweep: false });
  return { pool, detector, clock };
}

const outcome = (kind: OutcomeKind): Outcome => ({ kind, status: kind === 'http_5xx' ? 502 : kind === 'ok' ? 200 : 0, latencyMs: 1 });

function feed(d: OutlierDetector, b: Backend, kinds: OutcomeKind[], now: number): void {
  for (const k of kinds) d.observe(b, outcome(k), now);
}

test('backoff doubles per level up to the cap; the share rule ejects at least one of two or more', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((l) => ejectionBackoff(100, 1000, l)), [100, 200, 400, 800, 1000, 1000]);
  const table: [number, number, number][] = [
    // members, percent, may eject
    [1, 100, 0],
    [2, 10, 1],
    [2, 50, 1],
    [3, 50, 1],
    [4, 50, 2],
    [10, 30, 3],
    [10, 0, 0],
    [5, 100, 5],
  ];
  for (const [n, pct, want] of table) assert.equal(maxEjectable(n, pct), want, `${n} members at ${pct}%`);
});

test('ejects after N consecutive connect/reset/timeout failures; a success resets the count', () => {
  const { pool, detector, clock } = setup(4, { consecutiveFailures: 3, baseEjectionMs: 100 });
  const b = pool.backends[0]!;
  feed(detector, b, ['connect', 'reset', 'ok', 'timeout', 'connect'], clock.now());
  assert.equal(b.ejectedUntil, 0, 'the ok broke the run');
  feed(detector, b, ['cancelled'], clock.now());
  assert.equal(detector.state(b).consecutiveFailures, 2, 'cancelled is neither failure nor success');
  feed(detector, b, ['reset'], clock.now());
  assert.equal(b.ejectedUntil, clock.now() + 100);
  assert.equal(b.status, 'ejected');
  assert.equal(pool.ready.includes(b), false);
  assert.deepEqual(detector.counters, { ejections: 1, returns: 0, skippedByLimit: 0 });
  assert.equal(detector.currentlyEjected(), 1);
  assert.deepEqual(detector.state(b), { consecutiveFailures: 0, ejections: 1, level: 1, ejectedUntil: 1100, lastEjectedAt: 1000 });
  // Late outcomes of requests that were in flight do not extend the ejection.
  feed(detector, b, ['connect', 'connect', 'connect', 'connect'], clock.now() + 50);
  assert.equal(b.ejectedUntil, 1100);
  assert.equal(detector.counters.ejections, 1);
});

test('5xx counts only with include5xx; otherwise a 5xx response resets the count', () => {
  const off = setup(4, { consecutiveFailures: 2 });
  const a = off.pool.backends[0]!;
  feed(off.detector, a, ['http_5xx', 'http_5xx', 'http_5xx', 'connect', 'http_5xx', 'connect'], 1000);
  assert.equal(a.ejectedUntil, 0);
  const on = setup(4, { consecutiveFailures: 2, include5xx: true });
  const b = on.pool.backends[0]!;
  feed(on.detector, b, ['http_5xx', 'connect'], 1000);
  assert.notEqual(b.ejectedUntil, 0);
});

test('disabled: nothing is counted or ejected', () => {
  const { pool, detector } = setup(4, { enabled: false, consecutiveFailures: 1 });
  feed(detector, pool.backends[0]!, ['connect', 'connect'], 1000);
  assert.equal(pool.backends[0]!.ejectedUntil, 0);
});

test('a repeat offender is ejected for longer each time, capped; without active checks it returns when the backoff ends', () => {
  const { pool, detector, clock } = setup(3, { consecutiveFailures: 2, baseEjectionMs: 100, maxEjectionMs: 350 });
  const manual = clock as ManualClock;
  const b = pool.backends[1]!;
  const durations: number[] = [];
  for (let round = 0; round < 4; round++) {
    feed(detector, b, ['connect', 'connect'], manual.now());
    const until = b.ejectedUntil;
    durations.push(until - manual.now());
    manual.set(until - 1);
    assert.equal(detector.sweep(manual.now()), 0, 'not before the backoff ends');
    assert.equal(b.ready, false);
    manual.set(until);
    assert.equal(detector.sweep(manual.now()), 1);
    assert.equal(b.ready, true);
  }
  assert.deepEqual(durations, [100, 200, 350, 350]);
  assert.deepEqual([detector.counters.ejections, detector.counters.returns], [4, 4]);
});

test('the backoff level is forgiven one step per base time spent back in the pool', () => {
  const { pool, detector, clock } = setup(3, { consecutiveFailures: 1, baseEjectionMs: 100, maxEjectionMs: 10_000 });
  const manual = clock as ManualClock;
  const b = pool.backends[0]!;
  const ejectAndReturn = (): number => {
    feed(detector, b, ['connect'], manual.now());
    const d = b.ejectedUntil - manual.now();
    manual.set(b.ejectedUntil);
    detector.sweep(manual.now());
    return d;
  };
  assert.deepEqual([ejectAndReturn(), ejectAndReturn(), ejectAndReturn()], [100, 200, 400]);
  manual.advance(250); // two steps forgiven: level 3 -> 1
  assert.equal(ejectAndReturn(), 200);
  manual.advance(10_000);
  assert.equal(ejectAndReturn(), 100, 'a long quiet time forgives everything');
});

test('never more than maxEjectedPercent of the pool is ejected at once', () => {
  const { pool, detector, clock } = setup(3, { consecutiveFailures: 2, maxEjectedPercent: 50 });
  const [a, b] = pool.backends;
  feed(detector, a!, ['connect', 'connect'], clock.now());
  feed(detector, b!, ['connect', 'connect', 'connect'], clock.now());
  assert.equal(a!.status, 'ejected');
  assert.equal(b!.status, 'up', '3 members at 50%: only one may be out');
  assert.equal(detector.currentlyEjected(), 1);
  assert.equal(detector.counters.skippedByLimit, 2);
  // Once a returns, b's run of failures ejects it on its next failure.
  (clock as ManualClock).set(a!.ejectedUntil);
  detector.sweep(clock.now());
  feed(detector, b!, ['timeout'], clock.now());
  assert.equal(b!.status, 'ejected');

  const ten = setup(10, { consecutiveFailures: 1, maxEjectedPercent: 30 });
  for (const x of ten.pool.backends) feed(ten.detector, x, ['connect'], 1000);
  assert.equal(ten.detector.currentlyEjected(), 3);
  assert.equal(ten.pool.ready.length, 7);
});

test('a single backend, or the last ready one, is never ejected', () => {
  const one = setup(1, { consecutiveFailures: 1, maxEjectedPercent: 100 });
  feed(one.detector, one.pool.backends[0]!, ['connect', 'connect'], 1000);
  assert.equal(one.pool.backends[0]!.ejectedUntil, 0);

  const two = setup(2, { consecutiveFailures: 1, maxEjectedPercent: 100 });
  two.pool.setHealthy(two.pool.backends[0]!, false); // down by active checks
  feed(two.detector, two.pool.backends[1]!, ['connect'], 1000);
  assert.equal(two.pool.backends[1]!.ready, true, 'ejecting it would leave no backend at all');
  assert.equal(two.detector.counters.skippedByLimit, 1);
});

test('with active checks, an ejected backend returns only on a passing check after its backoff', () => {
  const { pool, detector, clock } = setup(3, { consecutiveFailures: 1, baseEjectionMs: 100 }, true);
  const manual = clock as ManualClock;
  const b = pool.backends[2]!;
  feed(detector, b, ['connect'], manual.now());
  const until = b.ejectedUntil;
  detector.onCheck(b, true, until - 1);
  assert.equal(b.ready, false, 'a pass before the backoff ends does not count');
  manual.set(until + 5);
  assert.equal(detector.sweep(manual.now()), 0, 'time alone is not enough');
  detector.onCheck(b, false, manual.now());
  assert.equal(b.ready, false, 'a failing check keeps it out');
  detector.onCheck(b, true, manual.now());
  assert.equal(b.ready, true);
  assert.equal(detector.counters.returns, 1);
});

test('reconfigure: turning detection off returns ejected backends; losing active checks falls back to the backoff alone', () => {
  const { pool, detector, clock } = setup(4, { consecutiveFailures: 1, baseEjectionMs: 100 }, true);
  const manual = clock as ManualClock;
  const [a, b] = pool.backends;
  feed(detector, a!, ['connect'], manual.now());
  feed(detector, b!, ['connect'], manual.now());
  manual.advance(100);
  detector.reconfigure(outlierSchema.parse({ consecutiveFailures: 1, baseEjectionMs: 100 }), false);
  assert.deepEqual([a!.ready, b!.ready], [true, true], 'backoff over and no checks to wait for');
  feed(detector, a!, ['connect'], manual.now());
  assert.equal(a!.ready, false);
  detector.reconfigure(outlierSchema.parse({ enabled: false }), false);
  assert.equal(a!.ready, true);
  detector.stop();
});

test('autoSweep: without active checks a real timer returns the backend after its backoff', async () => {
  const { pool } = setup(3, { consecutiveFailures: 1, baseEjectionMs: 40 }, false, systemClock);
  const live = new OutlierDetector(pool, outlierSchema.parse({ consecutiveFailures: 1, baseEjectionMs: 40 }), {
    clock: systemClock,
    activeChecks: false,
  });
  try {
    const b = pool.backends[0]!;
    const t0 = systemClock.now();
    feed(live, b, ['connect'], t0);
    assert.equal(b.ready, false);
    await waitFor(() => b.ready, 2000, 'return after backoff');
    assert.ok(systemClock.now() - t0 >= 40);
    assert.equal(live.counters.returns, 1);
  } finally {
    live.stop();
  }
});

test('with a real HealthMonitor: ejected on proxy failures, back after the backoff and a passing check', async () => {
  const servers = await Promise.all([httpServer(), httpServer(), httpServer()]);
  const pool = new Pool(
    servers.map((s) => ({ host: '127.0.0.1', port: s.port, weight: 1 })),
    { clock: systemClock, startHealthy: false },
  );
  const monitor = new HealthMonitor(pool, healthCheckSchema.parse({ intervalMs: 20, jitter: 0.2 }), {
    clock: systemClock,
    random: new SeededRandom(3),
  });
  const detector = new OutlierDetector(pool, outlierSchema.parse({ consecutiveFailures: 3, baseEjectionMs: 80 }), {
    clock: systemClock,
    activeChecks: true,
  });
  const checksAfterBackoff: number[] = [];
  monitor.addCheckListener((b, ok, now) => {
    if (ok && b.ejectedUntil !== 0 && now >= b.ejectedUntil) checksAfterBackoff.push(now);
  });
  monitor.addCheckListener(detector.onCheck);
  try {
    await monitor.start();
    assert.equal(pool.ready.length, 3);
    const b = pool.backends[1]!;
    const t0 = systemClock.now();
    feed(detector, b, ['reset', 'timeout', 'connect'], t0);
    assert.equal(b.status, 'ejected');
    assert.equal(pool.ready.length, 2);
    const until = b.ejectedUntil;
    await waitFor(() => b.ready, 3000, 'return');
    assert.ok(systemClock.now() >= until, 'not back before the backoff');
    assert.equal(checksAfterBackoff.length, 1, 'returned on a passing check after the backoff');
    assert.equal(detector.currentlyEjected(), 0);
  } finally {
    monitor.stop();
    detector.stop();
    for (const s of servers) await s.close();
  }
});

test('property: any outcome sequence keeps ejections within the share and at least one backend ready', () => {
  const kinds: OutcomeKind[] = ['ok', 'http_5xx', 'connect', 'reset', 'timeout', 'cancelled'];
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 0, max: 100 }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...kinds), fc.integer({ min: 0, max: 300 })), { maxLength: 200 }),
      (n, pct, steps) => {
        const { pool, detector, clock } = setup(n, { consecutiveFailures: 2, include5xx: true, baseEjectionMs: 100, maxEjectedPercent: pct });
        const manual = clock as ManualClock;
        for (const [i, kind, dt] of steps) {
          manual.advance(dt);
          detector.sweep(manual.now());
          detector.observe(pool.backends[i % n]!, outcome(kind), manual.now());
          if (detector.currentlyEjected() > maxEjectable(n, pct)) return false;
          if (pool.ready.length === 0) return false;
        }
        return true;
      },
    ),
    { numRuns: 300, seed: 11 },
  );
});
