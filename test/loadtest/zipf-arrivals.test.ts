import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/util/random.js';
import { ZipfKeys } from '../../src/loadtest/zipf.js';
import { ArrivalSchedule } from '../../src/loadtest/arrivals.js';

test('zipf: rank frequencies follow 1/k^s', () => {
  const z = new ZipfKeys(10, 1, new SeededRandom(1));
  const counts = new Array<number>(10).fill(0);
  const n = 100_000;
  for (let i = 0; i < n; i++) counts[z.next()]!++;
  for (let k = 0; k < 10; k++) {
    const expected = z.probability(k);
    assert.ok(Math.abs(counts[k]! / n - expected) < 0.01, `rank ${k}: ${counts[k]! / n} vs ${expected}`);
  }
  // H(10) = 2.929, so rank 0 has 1/2.929.
  assert.ok(Math.abs(z.probability(0) - 1 / 2.9289682540) < 1e-9);
});

test('zipf: exponent 0 is uniform and every rank is in range', () => {
  const z = new ZipfKeys(4, 0, new SeededRandom(2));
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 40_000; i++) counts[z.next()]!++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, String(counts));
});

test('zipf: one seed, one sequence; bad sizes refused', () => {
  const a = new ZipfKeys(1000, 1.1, new SeededRandom(9));
  const b = new ZipfKeys(1000, 1.1, new SeededRandom(9));
  for (let i = 0; i < 1000; i++) assert.equal(a.next(), b.next());
  assert.throws(() => new ZipfKeys(0, 1, new SeededRandom(1)), RangeError);
  assert.throws(() => new ZipfKeys(2_000_000, 1, new SeededRandom(1)), RangeError);
});

test('arrivals: constant gaps are exact, Poisson gaps average 1/rate', () => {
  const c = new ArrivalSchedule(200, 'constant', new SeededRandom(1), 1000);
  assert.deepEqual([c.next(), c.next(), c.next()], [1000, 1005, 1010]);
  const p = new ArrivalSchedule(100, 'poisson', new SeededRandom(5), 0);
  let last = p.next();
  const first = last;
  const n = 20_000;
  let cv = 0;
  const gaps: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = p.next();
    assert.ok(t >= last);
    gaps.push(t - last);
    last = t;
  }
  const mean = (last - first) / n;
  assert.ok(Math.abs(mean - 10) < 0.3, `mean gap ${mean}`);
  // Exponential gaps: standard deviation equals the mean.
  for (const g of gaps) cv += (g - mean) ** 2;
  const sd = Math.sqrt(cv / n);
  assert.ok(Math.abs(sd / mean - 1) < 0.05, `sd/mean ${sd / mean}`);
});
