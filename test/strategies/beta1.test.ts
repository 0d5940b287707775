import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PickContext } from '../../src/strategies/types.js';
import { ActiveStrategy } from '../../src/strategies/active.js';
import { beta1 } from '../../src/strategies/beta1.js';
import { parseConfig } from '../../src/config/load.js';
import { SeededRandom } from '../../src/util/random.js';
import type { Backend } from '../../src/pool/backend.js';
import { type Attempt, Driver, ix, setup } from './helpers.js';

const noWarmup = { beta1: { warmupMs: 0 } };
const keyed = (key: string | undefined): PickContext => {
  const ctx = new PickContext();
  ctx.key = key;
  return ctx;
};
const keys = (n: number, prefix = 'k') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const g = (d: Driver) => d.active.strategy.globalMetrics!();
const per = (d: Driver, i: number) => d.active.strategy.serverMetrics!(d.s.pool.backends[i]!);

/** Where each key goes with nothing in flight (pure rendezvous order). */
function owners(d: Driver, ks: string[]): (Backend | undefined)[] {
  return ks.map((k) => d.active.pick(keyed(k)));
}

test('beta1: the same key goes to the same backend, on any balancer (seed) and after a restart', () => {
  const ks = keys(300);
  const a = new Driver(setup([1, 1, 1, 1], noWarmup, 1), 'beta1');
  const b = new Driver(setup([1, 1, 1, 1], noWarmup, 99), 'beta1');
  const oa = owners(a, ks).map(ix);
  assert.deepEqual(owners(a, ks).map(ix), oa, 'stable over time');
  assert.deepEqual(owners(b, ks).map(ix), oa, 'same on another balancer');
  for (let i = 0; i < 4; i++) assert.ok(oa.filter((x) => x === i).length > 40, `every backend owns keys: ${i}`);
});

test('beta1: rendezvous: removing one of n backends moves only that backend\'s keys', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2, maxLength: 8 }), fc.nat(100), fc.nat(1000), (weights, which, salt) => {
      const d = new Driver(setup(weights, noWarmup), 'beta1');
      const ks = keys(400, `s${salt}-`);
      const before = owners(d, ks);
      const gone = d.s.pool.backends[which % weights.length]!;
      d.s.pool.remove(gone);
      const after = owners(d, ks);
      for (let i = 0; i < ks.length; i++) {
        if (before[i] !== gone) assert.equal(after[i], before[i], `key ${ks[i]} moved although its backend stayed`);
        else assert.notEqual(after[i], gone);
      }
    }),
    { numRuns: 60, seed: 17 },
  );
});

test('beta1: rendezvous: adding a backend to n moves about 1/(n+1) of the keys, all to it', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 9 }), fc.nat(1000), (n, salt) => {
      const d = new Driver(setup(new Array(n).fill(1), noWarmup), 'beta1');
      const ks = keys(3_000, `a${salt}-`);
      const before = owners(d, ks);
      const added = d.s.pool.add({ host: '127.0.0.1', port: 9500, weight: 1 });
      const after = owners(d, ks);
      let moved = 0;
      for (let i = 0; i < ks.length; i++) {
        if (after[i] !== before[i]) {
          moved++;
          assert.equal(after[i], added, 'a moved key moves to the new backend');
        }
      }
      const share = moved / ks.length;
      const expected = 1 / (n + 1);
      // 3000 keys: a binomial share's standard deviation is at most 0.0092; allow 4 of them.
      assert.ok(Math.abs(share - expected) < 0.037, `n=${n}: moved ${share}, expected ${expected}`);
    }),
    { numRuns: 25, seed: 19 },
  );
});

test('beta1: weights set each backend\'s share of the keys', () => {
  const d = new Driver(setup([1, 3], noWarmup), 'beta1');
  const o = owners(d, keys(4_000)).map(ix);
  const share = o.filter((x) => x === 1).length / o.length;
  assert.ok(Math.abs(share - 0.75) < 0.03, `weight 3 of 4 owns ${share}`);
});

test('beta1: the load bound is never exceeded in randomized runs', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 6 }),
      fc.double({ min: 1, max: 2, noNaN: true }),
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.oneof(fc.integer({ min: 0, max: 30 }), fc.constant(-1), fc.constant(-2)), { minLength: 1, maxLength: 300 }),
      fc.nat(1000),
      (weights, loadFactor, boundFloor, ops, seed) => {
        const d = new Driver(setup(weights, { beta1: { loadFactor, boundFloor, warmupMs: 0, hotKeyShare: 0.2 } }, seed), 'beta1');
        const pool = d.s.pool;
        const open: Attempt[] = [];
        const rng = new SeededRandom(seed);
        for (const op of ops) {
          if (op === -1 && open.length > 0) {
            d.end(open.splice(Math.floor(rng.next() * open.length), 1)[0]!);
            continue;
          }
          // Few distinct keys (and some without a key) so keys collide and backends fill up.
          const ctx = keyed(op === -2 ? undefined : `key${op % 7}`);
          const total = pool.ready.reduce((s, b) => s + b.inflight, 0);
          const totalWeight = pool.ready.reduce((s, b) => s + b.weight, 0);
          const a = d.start(ctx)!;
          if (ctx.key !== undefined) {
            const cap = Math.max(boundFloor, Math.ceil((loadFactor * (total + 1) * a.b.weight) / totalWeight - 1e-9));
            assert.ok(a.b.inflight <= cap, `backend ${ix(a.b)} at ${a.b.inflight} in flight, bound ${cap} (T=${total})`);
          }
          open.push(a);
        }
      },
    ),
    { numRuns: 200, seed: 23 },
  );
});

/** Zipf(s) sampler over n ranks by inverse CDF (table built once). */
function zipf(n: number, s: number, rng: SeededRandom): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1) ** s;
  return () => {
    const u = rng.next() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * Closed loop: `concurrency` requests in flight at all times, Zipf keys; each step completes the
 * oldest and starts a new one. Returns beta1's global metrics and the largest load seen.
 */
function closedLoop(extra: Record<string, unknown>, concurrency: number, steps: number, seed = 5) {
  const d = new Driver(setup([1, 1, 1], { beta1: { warmupMs: 0, ...extra } }, seed), 'beta1');
  const next = zipf(200, 1.1, new SeededRandom(seed));
  const open: Attempt[] = [];
  let maxLoad = 0;
  let maxExcess = 0;
  for (let i = 0; i < steps; i++) {
    if (open.length >= concurrency) d.end(open.shift()!);
    const T = d.s.pool.totalInflight;
    const a = d.start(keyed(`item${next()}`))!;
    open.push(a);
    maxLoad = Math.max(maxLoad, a.b.inflight);
    maxExcess = Math.max(maxExcess, a.b.inflight - Math.max(4, Math.ceil((1.25 * (T + 1)) / 3)));
  }
  return { m: g(d), maxLoad, maxExcess };
}

test('beta1: light load keeps affinity (the bound floor), heavy load keeps the bound', () => {
  // Four requests in flight over three backends, popular keys: the paper's bound alone
  // (floor 1) caps each backend at ceil(1.25 x 4 / 3) = 2 and sends a quarter of them away
  // from the backend that has their key cached.
  const paper = closedLoop({ boundFloor: 1, hotKeyShare: 1 }, 4, 3_000);
  const floored = closedLoop({ hotKeyShare: 1 }, 4, 3_000);
  assert.ok((paper.m.affinity_rate as number) < 80, `paper bound loses affinity: ${paper.m.affinity_rate}%`);
  assert.equal(floored.m.affinity_rate, 100, 'with the floor every light-load request stays on its first choice');
  assert.equal(floored.m.bounded_load_redirects, 0);
  // Sixty in flight: the floor (4) is far below the bound (25), which holds as in the paper.
  const heavy = closedLoop({ hotKeyShare: 1 }, 60, 3_000);
  assert.ok(heavy.maxExcess <= 0, `load within max(4, ceil(1.25 x (T + 1) / 3)): excess ${heavy.maxExcess}`);
  assert.ok(heavy.maxLoad <= 25, `max load ${heavy.maxLoad} <= ceil(1.25 x 60 / 3)`);
  assert.ok((heavy.m.bounded_load_redirects as number) > 0, 'the bound does act under heavy load');
});

test('beta1: warm-up share rises monotonically and ends at the full share', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.array(fc.integer({ min: 0, max: 70_000 }), { minLength: 2, maxLength: 12 }), fc.nat(1000), (n, times, salt) => {
      const warmupMs = 60_000;
      const d = new Driver(setup(new Array(n).fill(1), { beta1: { warmupMs } }), 'beta1');
      const ks = keys(1_500, `w${salt}-`);
      const joined = d.s.pool.add({ host: '127.0.0.1', port: 9500, weight: 1 });
      const t0 = d.s.clock.now();
      // The keys it owns: where they would go once warm.
      d.s.clock.set(t0 + warmupMs);
      const owned = new Set(ks.filter((k) => d.active.pick(keyed(k)) === joined));
      let prev = new Set<string>();
      for (const t of [...times].sort((a, b) => a - b)) {
        d.s.clock.set(t0 + t);
        const got = new Set(ks.filter((k) => d.active.pick(keyed(k)) === joined));
        for (const k of prev) assert.ok(got.has(k), `key ${k} admitted earlier is refused at ${t}`);
        for (const k of got) assert.ok(owned.has(k), 'only keys it owns');
        const p = Math.min(1, t / warmupMs);
        if (owned.size >= 100) assert.ok(Math.abs(got.size / owned.size - p) < 0.15, `share ${got.size / owned.size} at progress ${p}`);
        if (t >= warmupMs) assert.equal(got.size, owned.size, 'full share at the end');
        prev = got;
      }
    }),
    { numRuns: 40, seed: 29 },
  );
});

test('beta1: only backends that join or return warm up; metrics show it', () => {
  const d = new Driver(setup([1, 1], { beta1: { warmupMs: 10_000 } }), 'beta1');
  assert.equal(g(d).servers_in_warmup, 0, 'start-up backends do not warm up');
  const b = d.s.pool.backends[1]!;
  d.s.pool.setHealthy(b, false);
  d.s.clock.advance(1_000);
  d.s.pool.setHealthy(b, true);
  d.s.clock.advance(2_500);
  assert.equal(g(d).servers_in_warmup, 1);
  assert.equal(per(d, 1).is_warming_up, true);
  assert.equal(per(d, 1).warmup_progress, 25);
  // Keys refused by the warming backend count as warm-up redirects and go to the other one.
  const ks = keys(400);
  for (const k of ks) d.request(1, 'ok', keyed(k));
  const m = g(d);
  assert.ok((m.warmup_redirects as number) > 100, `redirected: ${m.warmup_redirects}`);
  assert.ok((per(d, 1).warmup_requests as number) > 20 && (per(d, 1).warmup_requests as number) < 100, `about a quarter of its ~200 keys: ${per(d, 1).warmup_requests}`);
  d.s.clock.advance(7_500);
  assert.equal(g(d).servers_in_warmup, 0);
  assert.equal(per(d, 1).warmup_progress, 100);
});

test('beta1: if every backend is warming, warm-up is ignored rather than refusing keys', () => {
  const d = new Driver(setup([1, 1], { beta1: { warmupMs: 10_000 } }), 'beta1');
  for (const b of d.s.pool.backends) d.s.pool.setHealthy(b, false);
  d.s.clock.advance(1_000);
  for (const b of d.s.pool.backends) d.s.pool.setHealthy(b, true);
  for (const k of keys(50)) assert.ok(d.request(1, 'ok', keyed(k)) !== undefined);
  assert.equal(g(d).affinity_rate, 100);
});

test('beta1: a hot key is spread over its top two backends; hot_keys shows it (hashed when private)', () => {
  for (const key of [{ header: 'X-Key' }, { cookie: 'sid' }]) {
    const d = new Driver(setup([1, 1, 1], { beta1: { warmupMs: 0, hotKeyShare: 0.2, key } }), 'beta1');
    const open: Attempt[] = [];
    const used = new Set<number>();
    // Four in flight: below the bound floor, so only the hot-key rule moves the key.
    for (let i = 0; i < 600; i++) {
      if (open.length >= 4) d.end(open.shift()!);
      const k = i % 2 === 0 ? 'celebrity' : `k${i}`;
      const a = d.start(keyed(k))!;
      if (k === 'celebrity' && i > 200) used.add(ix(a.b));
      open.push(a);
    }
    assert.equal(used.size, 2, `hot key on two backends: ${[...used]}`);
    const hot = g(d).hot_keys as { key: string; share: number }[];
    assert.equal(hot.length, 1);
    assert.ok(hot[0]!.share > 40 && hot[0]!.share < 60, `share ${hot[0]!.share}`);
    if ('cookie' in key) assert.match(hot[0]!.key, /^#[0-9a-f]{16}$/);
    else assert.equal(hot[0]!.key, 'celebrity');
    assert.ok((g(d).hot_key_spreads as number) > 50);
  }
});

test('beta1: a request without a key goes to the least loaded backend', () => {
  const d = new Driver(setup([1, 1, 1], noWarmup), 'beta1');
  d.startOn(d.s.pool.backends[0]!, new PickContext());
  d.startOn(d.s.pool.backends[0]!, new PickContext());
  d.startOn(d.s.pool.backends[2]!, new PickContext());
  assert.equal(ix(d.active.pick(keyed(undefined))), 1);
});

test('beta1: cache_hit_rate from the configured response header; affinity_rate always', () => {
  const d = new Driver(setup([1, 1], { beta1: { warmupMs: 0, cacheHeader: 'X-Cache-Status' } }), 'beta1');
  const strat = d.active.strategy;
  assert.equal(strat.responseHeader, 'x-cache-status');
  assert.equal(g(d).cache_hit_rate, 0);
  const b = d.request(1, 'ok', keyed('a'))!;
  strat.onResponseHeader!(b, 'MISS');
  for (let i = 0; i < 3; i++) strat.onResponseHeader!(b, i === 0 ? 'HIT' : 'hit from cache');
  strat.onResponseHeader!(b, 'BYPASS');
  assert.equal(g(d).cache_hit_rate, 75);
  assert.equal(g(d).affinity_rate, 100);
});

test('beta1: cached_keys_count estimates the distinct keys each backend saw', () => {
  const d = new Driver(setup([1, 1], noWarmup), 'beta1');
  for (let r = 0; r < 3; r++) for (const k of keys(1_000)) d.request(1, 'ok', keyed(k));
  const a = per(d, 0).cached_keys_count as number;
  const b = per(d, 1).cached_keys_count as number;
  const counts = [0, 1].map((i) => owners(d, keys(1_000)).filter((x) => ix(x) === i).length);
  assert.ok(Math.abs(a - counts[0]!) / counts[0]! < 0.2, `${a} vs ${counts[0]}`);
  assert.ok(Math.abs(b - counts[1]!) / counts[1]! < 0.2, `${b} vs ${counts[1]}`);
  assert.equal(per(d, 0).total_requests, 3 * counts[0]!);
});

test('beta1: needs the client address for {clientIp: true}, else an HTTP request (refused in tcp mode)', () => {
  const servers = [{ host: '127.0.0.1', port: 9000 }];
  assert.equal(beta1.needs(parseConfig({ servers, beta1: { key: { clientIp: true } } })), 'clientAddress');
  assert.equal(beta1.needs(parseConfig({ servers })), 'httpRequest');
  assert.doesNotThrow(() => ActiveStrategy.definition('beta1', parseConfig({ servers, mode: 'tcp', beta1: { key: { clientIp: true } } })));
  assert.throws(() => ActiveStrategy.definition('beta1', parseConfig({ servers, mode: 'tcp' })), /tcp mode/);
});

test('beta1: hedging is off by default; with maxHedgeRate a late request is copied to its key\'s next rendezvous choice, within the budget', () => {
  const off = setup([1, 1, 1]);
  const d0 = new Driver(off, 'beta1');
  for (let k = 0; k < 100; k++) d0.request(10);
  assert.equal(d0.active.strategy.hedgeDelayMs!(new PickContext()), -1, 'off by default');

  const s = setup([1, 1, 1], { beta1: { maxHedgeRate: 0.05 } });
  const d = new Driver(s, 'beta1');
  const strat = d.active.strategy;
  const keyed = (key: string) => {
    const ctx = new PickContext();
    ctx.key = key;
    return ctx;
  };
  // 128 requests of 1..128 ms (the p95 is refreshed every 64 samples): p95 122 ms, 6.4 tokens earned.
  for (let k = 0; k < 128; k++) d.request(k + 1, 'ok', keyed(`k${k}`));
  const ctx = keyed('user-42');
  const first = d.start(ctx)!;
  assert.equal(strat.hedgeDelayMs!(ctx), 122);
  ctx.hedgeChecks = 1;
  assert.equal(strat.hedgeDelayMs!(ctx), -1, 'one check only');
  assert.equal(strat.tryHedge!(ctx), true);
  ctx.hedge = true;
  const copy = d.start(ctx)!;
  ctx.hedge = false;
  // The next rendezvous choice: where the key goes when its first backend is excluded.
  const probe = keyed('user-42');
  probe.tried.push(first.b);
  assert.equal(copy.b, d.active.pick(probe));
  assert.notEqual(copy.b, first.b);
  let granted = 1;
  for (let k = 0; k < 10; k++) if (strat.tryHedge!(ctx)) granted++;
  assert.equal(granted, 6, 'no more hedges than 5% of the 129 requests');
  d.end(copy, 'ok');
  d.end(first, 'cancelled');
});
