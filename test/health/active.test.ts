import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { checkDelay, HealthMonitor } from '../../src/health/active.js';
import { healthCheckSchema, type ConfigInput } from '../../src/config/schema.js';
import { Pool } from '../../src/pool/pool.js';
import type { Backend } from '../../src/pool/backend.js';
import { systemClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { httpServer, refusedPort, silentServer, sleep, waitFor } from './helpers.js';

type HC = NonNullable<ConfigInput['healthCheck']>;

function monitorFor(ports: number[], hc: HC, mode: 'http' | 'tcp' = 'http') {
  const pool = new Pool(
    ports.map((port) => ({ host: '127.0.0.1', port, weight: 1 })),
    { clock: systemClock, startHealthy: false },
  );
  const monitor = new HealthMonitor(pool, healthCheckSchema.parse(hc), { clock: systemClock, mode, random: new SeededRandom(1) });
  return { pool, monitor };
}

/** Records each check result with the verdict right after it, per backend. */
function recordChecks(monitor: HealthMonitor, b: Backend): [boolean, boolean][] {
  const seen: [boolean, boolean][] = [];
  monitor.addCheckListener((x, ok) => {
    if (x === b) seen.push([ok, x.healthy]);
  });
  return seen;
}

test('checkDelay: jitter only shortens the interval; the first delay picks a random phase', () => {
  const rnd = new SeededRandom(42);
  const steady: number[] = [];
  const phase: number[] = [];
  for (let i = 0; i < 2000; i++) {
    steady.push(checkDelay(100, 0.2, rnd.next(), false));
    phase.push(checkDelay(100, 0.2, rnd.next(), true));
  }
  assert.ok(steady.every((d) => d > 80 && d <= 100));
  assert.ok(Math.min(...steady) < 81 && Math.max(...steady) > 99, 'covers the whole jitter band');
  assert.ok(phase.every((d) => d >= 0 && d < 100));
  for (let q = 0; q < 4; q++) {
    const inQuarter = phase.filter((d) => d >= q * 25 && d < (q + 1) * 25).length;
    assert.ok(inQuarter > 400 && inQuarter < 600, `quarter ${q}: ${inQuarter}`);
  }
  assert.equal(checkDelay(100, 0, 0.7, true), 100, 'no jitter: strictly periodic');
  assert.equal(checkDelay(100, 0, 0.7, false), 100);
});

test('the first check gates readiness: nothing is ready before it, a first pass brings a backend up at once', async () => {
  const a = await httpServer();
  const b = await httpServer();
  const dead = await refusedPort();
  const { pool, monitor } = monitorFor([a.port, b.port, dead], { intervalMs: 2000, jitter: 0, rise: 3, fall: 2 });
  try {
    assert.equal(pool.ready.length, 0, 'no backend is ready before a check');
    const started = monitor.start();
    assert.equal(pool.ready.length, 0, 'still none while the first checks run');
    await started;
    assert.deepEqual(pool.ready.map((x) => x.port), [a.port, b.port]);
    assert.ok(a.hits.length >= 1 && b.hits.length >= 1);
    const deadState = monitor.state(pool.backends[2]!)!;
    assert.equal(deadState.lastResult, 'fail');
    assert.equal(deadState.lastError, 'connection refused');
    assert.equal(deadState.consecutiveFails, 1);
    const upState = monitor.state(pool.backends[0]!)!;
    assert.deepEqual(
      [upState.type, upState.checks, upState.lastResult, upState.lastStatus, upState.consecutivePasses],
      ['http', 1, 'pass', 200, 1],
    );
    assert.equal(monitor.counters.wentUp, 2);
  } finally {
    monitor.stop();
    await a.close();
    await b.close();
  }
});

test('rise and fall: consecutive failures take it down, consecutive passes bring it back', async () => {
  const srv = await httpServer();
  const { pool, monitor } = monitorFor([srv.port], { intervalMs: 20, jitter: 0, rise: 3, fall: 2 });
  const b = pool.backends[0]!;
  const seen = recordChecks(monitor, b);
  try {
    await monitor.start();
    assert.equal(b.healthy, true);
    srv.status = 503;
    await waitFor(() => !b.healthy, 3000, 'down');
    srv.status = 200;
    await waitFor(() => b.healthy, 3000, 'up again');
    monitor.stop();
    // Drop repeats of the same (result, verdict) pair: the transitions are what matters.
    const transitions = seen.filter((x, i) => i === 0 || x[0] !== seen[i - 1]![0] || x[1] !== seen[i - 1]![1]);
    assert.deepEqual(transitions, [
      [true, true], // first check passes: up at once
      [false, true], // one failure: still up
      [false, false], // fall = 2: down
      [true, false], // passes 1 and 2: still down
      [true, true], // rise = 3: up
    ]);
    const firstDown = seen.findIndex((x) => !x[1]);
    assert.deepEqual(seen.slice(firstDown - 1, firstDown + 1).map((x) => x[0]), [false, false]);
    const upAgain = seen.findIndex((x, i) => i > firstDown && x[1]);
    assert.deepEqual(seen.slice(upAgain - 3, upAgain + 1).map((x) => x[0]), [false, true, true, true]);
    assert.equal(monitor.counters.wentDown, 1);
    assert.equal(pool.backends[0]!.status, 'up');
  } finally {
    monitor.stop();
    await srv.close();
  }
});

test('a server that accepts and never answers fails the HTTP check by timeout', async () => {
  const hang = await silentServer('hang');
  const { pool, monitor } = monitorFor([hang.port], { intervalMs: 1000, timeoutMs: 80 });
  try {
    await monitor.start();
    const st = monitor.state(pool.backends[0]!)!;
    assert.deepEqual([st.lastResult, st.lastError, pool.ready.length], ['fail', 'timeout', 0]);
    assert.ok(st.lastDurationMs! >= 70);
    await waitFor(() => hang.open === 0, 2000, 'timed-out check socket closed');
  } finally {
    monitor.stop();
    await hang.close();
  }
});

test('tcp mode defaults to TCP connect checks: a silent server passes, a refused port fails', async () => {
  const hang = await silentServer('hang');
  const dead = await refusedPort();
  const { pool, monitor } = monitorFor([hang.port, dead], { intervalMs: 1000 }, 'tcp');
  try {
    await monitor.start();
    assert.deepEqual(pool.ready.map((x) => x.port), [hang.port]);
    assert.equal(monitor.state(pool.backends[0]!)!.type, 'tcp');
    assert.equal(monitor.state(pool.backends[1]!)!.lastError, 'connection refused');
  } finally {
    monitor.stop();
    await hang.close();
  }
});

test('a backend goes down within interval x fall after its server is closed', async (t) => {
  const intervalMs = 50;
  const fall = 3;
  const srv = await httpServer();
  const { pool, monitor } = monitorFor([srv.port], { intervalMs, jitter: 0.2, fall, timeoutMs: 500 });
  const b = pool.backends[0]!;
  const seen = recordChecks(monitor, b);
  // Per check: how long after its start the next one is due, beyond the check's own duration.
  const planOverrun: number[] = [];
  monitor.addCheckListener(() => {
    const st = monitor.state(b)!;
    planOverrun.push(st.nextCheckAt! - st.lastStartedAt! - Math.max(intervalMs, st.lastCheckAt! - st.lastStartedAt!));
  });
  try {
    await monitor.start();
    await waitFor(() => seen.length >= 3, 2000, 'a few passing checks');
    const t0 = performance.now();
    await srv.close();
    await waitFor(() => !b.healthy, 3000, 'down');
    const elapsed = performance.now() - t0;
    t.diagnostic(`marked down ${elapsed.toFixed(1)} ms after the server closed (bound ${intervalMs * fall} ms)`);
    // Down on the fall-th failure, and no check was ever planned more than an interval after the
    // previous one started (or right after it ended, when it ran longer): together, down within
    // interval x fall plus the failing checks' durations. The wall-clock bound below adds generous
    // slack for timer lateness on a busy 2-core machine; it only catches gross errors.
    assert.deepEqual(seen.slice(-fall).map((x) => x[0]), [false, false, false]);
    assert.equal(seen.filter((x) => !x[1]).length, 1, 'down exactly at the fall-th failure');
    assert.ok(planOverrun.every((d) => d <= 1), `planned too late: ${planOverrun}`);
    assert.ok(elapsed <= intervalMs * fall + 1000, `marked down after ${elapsed.toFixed(0)} ms`);
    assert.equal(monitor.state(b)!.lastError, 'connection refused');
  } finally {
    monitor.stop();
  }
});

test('jitter spreads checks: planned gaps stay in the band and vary, backends start out of phase', async () => {
  const servers = await Promise.all([httpServer(), httpServer(), httpServer(), httpServer()]);
  const intervalMs = 60;
  const jitter = 0.5;
  const { pool, monitor } = monitorFor(servers.map((s) => s.port), { intervalMs, jitter });
  // Planned start-to-start delays, read from the monitor's own schedule right after each result,
  // so the assertions hold however late this busy machine runs the timers.
  const phases: number[] = [];
  const steady: number[] = [];
  const offPlan: number[] = [];
  monitor.addCheckListener((b) => {
    const st = monitor.state(b)!;
    (st.checks === 1 ? phases : steady).push(st.plannedDelayMs!);
    // The next start is the planned one, or right away when the check outlasted the plan.
    const due = st.lastStartedAt! + Math.max(st.plannedDelayMs!, st.lastCheckAt! - st.lastStartedAt!);
    if (Math.abs(st.nextCheckAt! - due) > 1) offPlan.push(st.nextCheckAt! - due);
  });
  try {
    await monitor.start();
    await waitFor(() => servers.every((s) => s.hits.length >= 5), 5000, 'five checks each');
    monitor.stop();
    assert.deepEqual(offPlan, []);
    assert.equal(phases.length, pool.backends.length);
    assert.ok(phases.every((d) => d >= 0 && d < intervalMs), `phases ${phases}`);
    // Seeded draws: the first four phases are 0.26, 0.60, 0.70, 0.22 of the interval.
    assert.ok(Math.max(...phases) - Math.min(...phases) > intervalMs / 4, `phases not spread: ${phases}`);
    assert.ok(steady.length >= 12, `gaps ${steady}`);
    const eps = 1e-6;
    assert.ok(steady.every((d) => d >= intervalMs * (1 - jitter) - eps && d <= intervalMs + eps), `gaps ${steady}`);
    assert.ok(Math.max(...steady) - Math.min(...steady) > 3, 'gaps vary');
  } finally {
    monitor.stop();
    for (const s of servers) await s.close();
  }
});

test('one check in flight per backend, even when checks take longer than the interval', async () => {
  const srv = await httpServer();
  srv.delayMs = 60;
  const { monitor } = monitorFor([srv.port], { intervalMs: 10, jitter: 0, timeoutMs: 1000 });
  try {
    await monitor.start();
    await waitFor(() => srv.hits.length >= 4, 3000, 'four checks');
    monitor.stop();
    assert.equal(srv.maxOpen, 1);
  } finally {
    monitor.stop();
    await srv.close();
  }
});

test('membership: an added backend is checked before traffic, a removed one is no longer checked', async () => {
  const a = await httpServer();
  const c = await httpServer();
  const { pool, monitor } = monitorFor([a.port], { intervalMs: 20, jitter: 0.1 });
  try {
    await monitor.start();
    const added = pool.add({ host: '127.0.0.1', port: c.port, weight: 1 });
    assert.equal(added.ready, false, 'a new member is not ready before its first check');
    assert.equal(pool.ready.includes(added), false);
    await monitor.whenChecked();
    assert.equal(added.ready, true);
    assert.ok(c.hits.length >= 1);

    const first = pool.backends[0]!;
    pool.remove(first);
    assert.equal(monitor.state(first), undefined);
    // A probe already on the wire at removal may still land: sample after it would have.
    await sleep(30);
    const hitsAfterRemoval = a.hits.length;
    const cHits = c.hits.length;
    await waitFor(() => c.hits.length >= cHits + 3, 3000, 'the remaining member still checked');
    assert.equal(a.hits.length, hitsAfterRemoval, 'no check after removal');
    assert.deepEqual(monitor.states().map((s) => s.backend), [added]);
  } finally {
    monitor.stop();
    await a.close();
    await c.close();
  }
});

test('removing a backend whose first check hangs closes the probe and releases whenChecked', async () => {
  const a = await httpServer();
  const hang = await silentServer('hang');
  const { pool, monitor } = monitorFor([a.port], { intervalMs: 1000, timeoutMs: 5000 });
  try {
    await monitor.start();
    const slow = pool.add({ host: '127.0.0.1', port: hang.port, weight: 1 });
    let released = false;
    const gate = monitor.whenChecked().then(() => (released = true));
    await waitFor(() => hang.accepted === 1, 2000, 'probe connected');
    assert.equal(released, false);
    pool.remove(slow);
    await gate;
    await waitFor(() => hang.open === 0, 2000, 'probe socket closed');
  } finally {
    monitor.stop();
    await a.close();
    await hang.close();
  }
});

test('stop clears timers and closes in-flight probes; no check after stop', async () => {
  const srv = await httpServer();
  const hang = await silentServer('hang');
  const { monitor } = monitorFor([srv.port, hang.port], { intervalMs: 20, timeoutMs: 60 });
  try {
    await monitor.start();
    await waitFor(() => hang.accepted >= 2, 2000, 'a second probe in flight');
    monitor.stop();
    await waitFor(() => hang.open === 0, 2000, 'in-flight probe closed');
    await sleep(30); // a request already on the wire at stop may still land
    const hits = srv.hits.length;
    await sleep(100);
    assert.equal(srv.hits.length, hits);
  } finally {
    monitor.stop();
    await srv.close();
    await hang.close();
  }
});

test('checks off: start runs no check and marks every member healthy; reconfigure turns them on and off', async () => {
  const srv = await httpServer();
  const unused = await httpServer();
  const dead = await refusedPort();
  const pool = new Pool(
    [srv.port, dead, unused.port].map((port) => ({ host: '127.0.0.1', port, weight: 1 })),
    { clock: systemClock, startHealthy: false },
  );
  const monitor = new HealthMonitor(pool, healthCheckSchema.parse({ enabled: false }), { clock: systemClock });
  const [live, gone, idle] = pool.backends;
  const seenDead = recordChecks(monitor, gone!);
  try {
    await monitor.start();
    assert.equal(pool.ready.length, 3);
    assert.equal(srv.hits.length, 0);
    // live and gone have carried traffic; idle never has.
    for (const b of [live!, gone!]) {
      const entry = { startedAt: 0, inflightPrev: null, inflightNext: null };
      pool.begin(b, entry);
      pool.end(b, entry, { kind: 'ok', status: 200, latencyMs: 1 }, 1);
    }
    monitor.reconfigure(healthCheckSchema.parse({ intervalMs: 20, jitter: 0, fall: 2 }));
    assert.deepEqual([live!.ready, gone!.ready, idle!.ready], [true, true, false], 'serving members keep serving; an unused one waits for a check');
    await monitor.whenChecked();
    assert.equal(idle!.ready, true);
    await waitFor(() => !gone!.ready, 2000, 'dead backend down');
    assert.deepEqual(seenDead.slice(0, 2), [[false, true], [false, false]], 'down after fall = 2 failures');
    assert.deepEqual(pool.ready, [live, idle]);
    monitor.reconfigure(healthCheckSchema.parse({ enabled: false }));
    assert.equal(pool.ready.length, 3);
    assert.equal(monitor.state(live!), undefined);
  } finally {
    monitor.stop();
    await srv.close();
    await unused.close();
  }
});

test('the gate holds even on a pool that starts members healthy: start and add take them down until checked', async () => {
  const a = await httpServer();
  const c = await httpServer();
  const dead = await refusedPort();
  const pool = new Pool(
    [a.port, dead].map((port) => ({ host: '127.0.0.1', port, weight: 1 })),
    { clock: systemClock, startHealthy: true },
  );
  const monitor = new HealthMonitor(pool, healthCheckSchema.parse({ intervalMs: 1000 }), { clock: systemClock });
  try {
    const started = monitor.start();
    assert.equal(pool.ready.length, 0);
    await started;
    assert.deepEqual(pool.ready.map((b) => b.port), [a.port]);
    const added = pool.add({ host: '127.0.0.1', port: c.port, weight: 1 });
    assert.equal(added.healthy, false, 'down as soon as pool.add returns');
    assert.equal(pool.ready.includes(added), false);
    await monitor.whenChecked();
    assert.equal(added.ready, true);
  } finally {
    monitor.stop();
    await a.close();
    await c.close();
  }
});
