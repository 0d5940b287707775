import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PickContext } from '../../src/strategies/types.js';
import { Driver, ix, runLoad, setup } from './helpers.js';

const g = (d: Driver) => d.active.strategy.globalMetrics!();
const m = (d: Driver, i: number) => d.active.strategy.serverMetrics!(d.s.pool.backends[i]!);

test('alpha1: stops sending to a backend that has requests in flight and answers none, within 1 s', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 5 }),
      fc.integer({ min: 5, max: 30 }),
      fc.integer({ min: 1, max: 8 }),
      fc.nat(1_000_000),
      (n, service, perBackendInflight, seed) => {
        // Arrivals such that each healthy backend has about `perBackendInflight` in flight.
        const intervalMs = Math.max(0.5, service / (perBackendInflight * (n - 1)));
        const s = setup(new Array(n).fill(1), {}, seed);
        const d = new Driver(s, 'alpha1');
        const stalled = seed % n;
        const t0 = s.clock.now() + 2_000;
        const jitter = (i: number, now: number) => service * (0.8 + 0.4 * (((now * 7919 + i * 104729) % 1000) / 1000));
        const picks = runLoad(d, {
          intervalMs,
          untilMs: 4_000,
          serviceMs: (i, now) => (i === stalled && now >= t0 ? Infinity : jitter(i, now)),
        });
        const before = picks.filter((p) => p.at < t0 && p.i === stalled).length;
        assert.ok(before > 0, 'the backend took traffic before it stalled');
        const late = picks.filter((p) => p.at >= t0 + 1_000 && p.i === stalled).length;
        assert.equal(late, 0, `n=${n} service=${service} interval=${intervalMs}: ${late} picks to the stalled backend after 1 s`);
        const headAge = m(d, stalled).head_request_age as number;
        assert.ok(headAge >= 1_900, `head age shows the stall: ${headAge}`);
      },
    ),
    { numRuns: 40, seed: 11 },
  );
});

test('alpha1: the choices are distinct backends', () => {
  const s = setup([1, 1]);
  const d = new Driver(s, 'alpha1');
  // Backend 0 is busy: with two distinct draws it always loses the comparison.
  for (let k = 0; k < 5; k++) d.startOn(s.pool.backends[0]!, new PickContext());
  for (let k = 0; k < 200; k++) assert.equal(ix(d.active.pick(new PickContext())), 1);
  // With a tried backend, the only other one is returned; with all tried, none.
  const ctx = new PickContext();
  ctx.tried.push(s.pool.backends[1]!);
  assert.equal(ix(d.active.pick(ctx)), 0);
  ctx.tried.push(s.pool.backends[0]!);
  assert.equal(d.active.pick(ctx), undefined);
});

test('alpha1: every attempt updates its own server (a slow hedge loser raises its interference)', () => {
  const s = setup([1, 1, 1], { alpha1: { ewmaAlpha: 0.3 } });
  const d = new Driver(s, 'alpha1');
  // Each backend answers in about 10 ms for a while.
  for (let k = 0; k < 60; k++) {
    s.clock.advance(1);
    d.end(d.startOn(s.pool.backends[k % 3]!, new PickContext()), 'ok', 10 + (k % 3));
  }
  const base = m(d, 0).interference_signal as number;
  assert.ok(base < 2, `steady: ${base}`);
  // A first attempt on backend 0 is abandoned after 200 ms because a hedge won elsewhere.
  const ctx = new PickContext();
  const first = d.startOn(s.pool.backends[0]!, ctx);
  s.clock.advance(200);
  ctx.hedge = true;
  const hedge = d.start(ctx)!;
  ctx.hedge = false;
  assert.notEqual(hedge.b, first.b, 'the hedge goes to another backend');
  d.end(hedge, 'ok', 11);
  d.end(first, 'cancelled', 200);
  const after = m(d, 0).interference_signal as number;
  assert.ok(after > 40, `loser's interference rose: ${base} -> ${after}`);
  // A hedge cancelled quickly (shorter than its median) says nothing about its server.
  const before2 = m(d, 2).interference_signal as number;
  const quick = d.startOn(s.pool.backends[2]!, new PickContext());
  d.end(quick, 'cancelled', 1);
  assert.equal(m(d, 2).interference_signal, before2);
});

test('alpha1: the hedge budget is never exceeded', () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 0.5, noNaN: true }),
      fc.array(fc.oneof(fc.constant('request' as const), fc.constant('hedge' as const), fc.integer({ min: 1, max: 500 })), { maxLength: 400 }),
      fc.integer({ min: 1, max: 4 }),
      (rate, ops, n) => {
        const s = setup(new Array(n).fill(1), { alpha1: { maxHedgeRate: rate, minHedgeSamples: 1 } });
        const d = new Driver(s, 'alpha1');
        const strat = d.active.strategy;
        let requests = 0;
        let hedges = 0;
        for (const op of ops) {
          if (typeof op === 'number') s.clock.advance(op);
          else if (op === 'request') {
            d.request(5 + (requests % 7));
            requests++;
          } else {
            const ctx = new PickContext();
            const first = d.start(ctx)!;
            requests++;
            const delay = strat.hedgeDelayMs!(ctx);
            if (n < 2) assert.equal(delay, -1, 'no hedge with a single backend');
            if (strat.tryHedge!(ctx)) {
              hedges++;
              assert.ok(n >= 2, 'a hedge needs another backend');
              ctx.hedge = true;
              const h = d.start(ctx)!;
              ctx.hedge = false;
              assert.notEqual(h.b, first.b);
              d.end(h, 'ok', 3);
              d.end(first, 'cancelled', 3);
              strat.onHedgeResult!(true);
            } else d.end(first, 'ok', 4);
          }
          assert.ok(hedges <= rate * requests + 1e-9, `${hedges} hedges for ${requests} requests at rate ${rate}`);
          assert.equal(g(d).hedges_sent, hedges);
        }
      },
    ),
    { numRuns: 300, seed: 13 },
  );
});

test('alpha1: hedge delay: none until enough samples, then lateScale x the p90, floored, never past the SLO', () => {
  const s = setup([1, 1], { alpha1: { minHedgeSamples: 20, minHedgeDelayMs: 5, sloMs: 100, maxHedgeRate: 0.5, targetP99Ms: 1_000 } });
  const d = new Driver(s, 'alpha1');
  const strat = d.active.strategy;
  const ctx = new PickContext();
  for (let k = 0; k < 19; k++) d.request(k + 1);
  assert.equal(strat.hedgeDelayMs!(ctx), -1, 'not enough samples yet');
  // 100 samples 1..100 ms: p90 = 90 (the cached p90 is refreshed every 64 samples and at
  // the end of each feedback window).
  for (let k = 19; k < 100; k++) d.request(k + 1);
  s.clock.advance(1_000);
  const scale = g(d).late_scale as number;
  assert.ok(scale >= 0.5 && scale <= 4, `late scale ${scale}`);
  assert.ok(Math.abs(strat.hedgeDelayMs!(ctx) - 90 * scale) < 0.01, `${strat.hedgeDelayMs!(ctx)} = 90 x ${scale}`);
  // Slow pool: the p90 is 400 ms but the SLO caps the delay.
  for (let k = 0; k < 1_100; k++) d.request(400);
  assert.equal(strat.hedgeDelayMs!(ctx), 100);
  // Very fast pool: floored.
  for (let k = 0; k < 1_100; k++) d.request(0.5);
  assert.equal(strat.hedgeDelayMs!(ctx), 5);
  // One ready backend: no hedge.
  s.pool.setEnabled(s.pool.backends[1]!, false);
  assert.equal(strat.hedgeDelayMs!(ctx), -1);
});

test('alpha1: a request is late for its own backend: the delay follows that backend p90 when below the pool p90', () => {
  const s = setup([1, 1], { alpha1: { minHedgeSamples: 1, maxHedgeRate: 0.5, sloMs: 1_000 } });
  const d = new Driver(s, 'alpha1');
  const strat = d.active.strategy;
  const [fast, slow] = [s.pool.backends[0]!, s.pool.backends[1]!];
  // 64 samples each: the fast one's p90 is 9 ms, the slow one's 90; the pool's p90 is 80.
  for (let k = 0; k < 64; k++) {
    d.end(d.startOn(fast, new PickContext()), 'ok', 1 + (k % 10));
    d.end(d.startOn(slow, new PickContext()), 'ok', 10 * (1 + (k % 10)));
  }
  const scale = g(d).late_scale as number;
  const delayOn = (b: typeof fast) => {
    const ctx = new PickContext();
    ctx.tried.push(b);
    return strat.hedgeDelayMs!(ctx);
  };
  assert.ok(Math.abs(delayOn(fast) - 9 * scale) < 0.01, `fast: ${delayOn(fast)}`);
  assert.ok(Math.abs(delayOn(slow) - 80 * scale) < 0.01, `slow: the pool's p90 caps it: ${delayOn(slow)}`);
});

test('alpha1: a refused first check leaves the reserve to a second check a quarter delay later; then no more checks', () => {
  // Rate 5%: capacity 10 tokens, 3 kept in reserve.
  const s = setup([1, 1, 1], { alpha1: { maxHedgeRate: 0.05, minHedgeSamples: 1, sloMs: 1_000 } });
  const d = new Driver(s, 'alpha1');
  const strat = d.active.strategy;
  for (let k = 0; k < 70; k++) d.request(10); // 3.5 tokens: above the reserve by 0.5, under one more
  const ctx = new PickContext();
  const a = d.startOn(s.pool.backends[0]!, ctx);
  const first = strat.hedgeDelayMs!(ctx);
  assert.ok(first > 0);
  ctx.hedgeChecks = 1;
  assert.equal(strat.tryHedge!(ctx), false, 'first check: only tokens above the reserve');
  assert.ok(Math.abs(strat.hedgeDelayMs!(ctx) - first * 0.25) < 1e-9, 'look again a quarter delay later');
  ctx.hedgeChecks = 2;
  assert.equal(strat.tryHedge!(ctx), true, 'second check: the reserve is for it');
  assert.equal(strat.hedgeDelayMs!(ctx), -1, 'no third check');
  d.end(a, 'ok');
});

test('alpha1: maxHedgeRate 0 never hedges', () => {
  const s = setup([1, 1], { alpha1: { maxHedgeRate: 0, minHedgeSamples: 1 } });
  const d = new Driver(s, 'alpha1');
  for (let k = 0; k < 500; k++) d.request(10);
  assert.equal(d.active.strategy.hedgeDelayMs!(new PickContext()), -1);
  const ctx = new PickContext();
  ctx.tried.push(s.pool.backends[0]!);
  assert.equal(d.active.strategy.tryHedge!(ctx), false);
});

test('alpha1: feedback raises beta and gamma above the target, and decays them back below', () => {
  const s = setup([1, 1], { alpha1: { targetP99Ms: 90, windowMs: 1_000, beta: 0.3, gamma: 0.4, maxHedgeRate: 1, minHedgeSamples: 1 } });
  const d = new Driver(s, 'alpha1');
  const slowWindow = () => {
    for (let k = 0; k < 50; k++) {
      s.clock.advance(20);
      d.request(k < 45 ? 20 : 150); // p99 150 ms > 90
    }
  };
  const fastWindow = () => {
    for (let k = 0; k < 50; k++) {
      s.clock.advance(20);
      d.request(20);
    }
  };
  slowWindow();
  slowWindow();
  const g1 = g(d);
  assert.equal(g1.current_p99_ms, 150);
  assert.ok((g1.beta as number) > 0.3 && (g1.gamma as number) > 0.4, `raised: ${JSON.stringify(g1)}`);
  for (let w = 0; w < 40; w++) slowWindow();
  const g2 = g(d);
  assert.equal(g2.beta, 1, 'bounded at 1');
  assert.equal(g2.gamma, 1, 'bounded at 1');
  for (let w = 0; w < 200; w++) fastWindow();
  const g3 = g(d);
  assert.ok(Math.abs((g3.beta as number) - 0.3) < 0.01 && Math.abs((g3.gamma as number) - 0.4) < 0.01, `back to defaults: ${JSON.stringify(g3)}`);
  assert.equal(g3.target_p99_ms, 90);
  assert.equal(g3.slo_threshold_ms, 100);
});

test('alpha1: metrics have the original names and units (ms)', () => {
  const s = setup([1, 1]);
  const d = new Driver(s, 'alpha1');
  for (let k = 0; k < 100; k++) d.request(10 + (k % 10));
  const a = d.startOn(s.pool.backends[0]!, new PickContext());
  s.clock.advance(30);
  const per = m(d, 0);
  assert.deepEqual(Object.keys(per).sort(), ['head_request_age', 'hedge_delay_ms', 'interference_signal', 'server_p99_ms', 'work_queue_ewma']);
  assert.equal(per.head_request_age, 30);
  assert.ok((per.server_p99_ms as number) >= 18 && (per.server_p99_ms as number) <= 19);
  d.end(a, 'ok');
  const glob = g(d);
  for (const k of ['beta', 'gamma', 'hedge_rate', 'hedges_won', 'late_scale', 'total_requests', 'current_p99_ms', 'target_p99_ms', 'slo_threshold_ms']) assert.ok(k in glob, k);
  assert.equal(glob.total_requests, 101);
});

test('alpha1: a server that was slow once is tried again within seconds', () => {
  const s = setup([1, 1]);
  const d = new Driver(s, 'alpha1');
  for (let k = 0; k < 40; k++) {
    s.clock.advance(10);
    d.request(10);
  }
  // Backend 0 answers three requests in 2 s each, then is fast again.
  for (let k = 0; k < 3; k++) d.end(d.startOn(s.pool.backends[0]!, new PickContext()), 'ok', 2_000);
  const picks: number[] = [];
  for (let k = 0; k < 2_000; k++) {
    s.clock.advance(10);
    const a = d.start()!;
    picks.push(ix(a.b));
    d.end(a, 'ok', 10);
  }
  const firstBack = picks.indexOf(0);
  assert.ok(firstBack >= 0 && firstBack * 10 < 15_000, `retried after ${firstBack * 10} ms`);
  const tail = picks.slice(-500).filter((i) => i === 0).length;
  assert.ok(tail > 150, `sharing again: ${tail} of 500`);
});

test('alpha1: lateScale hedges later while more requests are late than the budget pays for, earlier while fewer are', () => {
  const run = (late: boolean) => {
    const s = setup([1, 1], { alpha1: { maxHedgeRate: 0.05, minHedgeSamples: 1, sloMs: 1_000 } });
    const d = new Driver(s, 'alpha1');
    const strat = d.active.strategy;
    for (let w = 0; w < 10; w++) {
      for (let k = 0; k < 50; k++) {
        s.clock.advance(20);
        const ctx = new PickContext();
        const a = d.start(ctx)!;
        ctx.hedgeChecks = 1;
        if (late || k === 0) strat.tryHedge!(ctx); // every request late, or 2% of them
        d.end(a, 'ok', 20);
      }
    }
    return g(d).late_scale as number;
  };
  assert.ok(run(true) > 1.5, 'every request late: later');
  assert.ok(run(false) < 0.8, 'fewer late than the budget: earlier');
});

test('alpha1: a backend three times slower than the others gets few first attempts', () => {
  const s = setup([1, 1, 1, 1]);
  const d = new Driver(s, 'alpha1');
  // About 2 requests in flight per fast backend; backend 0 takes three times as long.
  const picks = runLoad(d, { intervalMs: 2, untilMs: 10_000, serviceMs: (i, now) => (i === 0 ? 60 : 20) * (0.8 + 0.4 * (((now * 7919) % 1000) / 1000)) });
  const late = picks.filter((p) => p.at > 3_000);
  const share = late.filter((p) => p.i === 0).length / late.length;
  assert.ok(share < 0.05, `the slow backend's share: ${share}`);
  assert.ok(share > 0, 'it is still measured now and then');
});
