// weighted_round_robin with weightSource orca: gRPC's weights from load reports, the blackout,
// the expiry, the error penalty, and the fallback when too few backends report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Driver, setup, tally } from './helpers.js';
import { LoadReport } from '../../src/orca/report.js';
import { ReportedWeights } from '../../src/strategies/reported-weights.js';

const orca = (o: Record<string, unknown> = {}) => ({ weighted_round_robin: { weightSource: 'orca', recoveryMs: 0, ...o } });

function report(cpu: number, rps: number, eps = -1): LoadReport {
  const r = new LoadReport();
  r.cpuUtilization = cpu;
  r.rpsFractional = rps;
  r.eps = eps;
  return r;
}

const metrics = (d: Driver, i: number) => d.active.strategy.serverMetrics!(d.s.pool.backends[i]!) as { weight: number; reported_weight: number | null };

test('reported weights: qps / (utilization + penalty x eps / qps); no weight without both figures', () => {
  const s = setup([1]);
  const rw = new ReportedWeights({ blackoutMs: 0, expirationMs: 180_000, errorUtilizationPenalty: 1 });
  assert.equal(rw.weightOf(report(0.5, 100)), 200);
  assert.equal(rw.weightOf(report(0.5, 100, 10)), 100 / (0.5 + 0.1));
  const strict = new ReportedWeights({ blackoutMs: 0, expirationMs: 180_000, errorUtilizationPenalty: 5 });
  assert.equal(strict.weightOf(report(0.5, 100, 10)), 100 / (0.5 + 0.5));
  assert.equal(rw.weightOf(report(0, 100)), 0, 'no utilization');
  assert.equal(rw.weightOf(report(0.5, 0)), 0, 'no qps');
  assert.equal(rw.weightOf(report(-1, 100)), 0, 'utilization not sent');
  const app = report(0.9, 100);
  app.applicationUtilization = 0.25;
  assert.equal(rw.weightOf(app), 400, 'application utilization preferred');
  // A report giving no weight leaves the last one in place.
  const b = s.pool.backends[0]!;
  rw.onReport(b, report(0.5, 100), 1_000);
  rw.onReport(b, report(0, 0), 1_500);
  assert.equal(rw.weightAt(b, 2_000), 200);
});

test('reported weights: blackout before first use, expiry after silence, blackout again after either', () => {
  const s = setup([1]);
  const b = s.pool.backends[0]!;
  const rw = new ReportedWeights({ blackoutMs: 10_000, expirationMs: 180_000, errorUtilizationPenalty: 1 });
  assert.equal(rw.weightAt(b, 0), 0, 'nothing reported');
  for (let t = 0; t < 10_000; t += 1_000) {
    rw.onReport(b, report(0.5, 50), t);
    assert.equal(rw.weightAt(b, t), 0, `in the blackout at ${t}`);
  }
  rw.onReport(b, report(0.5, 50), 10_000);
  assert.equal(rw.weightAt(b, 10_000), 100, 'usable after 10 s of reports');
  assert.equal(rw.weightAt(b, 10_000 + 179_999), 100, 'still fresh just before the expiry');
  assert.equal(rw.weightAt(b, 10_000 + 180_000), 0, 'expired');
  rw.onReport(b, report(0.5, 50), 200_000);
  assert.equal(rw.weightAt(b, 200_000), 0, 'a new blackout after the expiry');
  assert.equal(rw.weightAt(b, 210_000), 100);
  // Down and back: the blackout starts again even though reports never stopped being fresh.
  s.pool.setHealthy(b, false);
  s.clock.set(211_000);
  s.pool.setHealthy(b, true);
  rw.onReport(b, report(0.5, 50), 211_000);
  assert.equal(rw.weightAt(b, 215_000), 0, 'blackout after a return');
  assert.equal(rw.weightAt(b, 221_000), 100);
});

test('weighted_round_robin orca: shares follow the reported capacity once out of the blackout', () => {
  const s = setup([1, 1, 1], orca({ blackoutMs: 5_000, weightUpdateMs: 1_000 }));
  const d = new Driver(s, 'weighted_round_robin');
  const [b0, b1, b2] = s.pool.backends;
  // Backend 0 is three times slower: at equal qps it is three times as busy.
  const feed = () => {
    d.active.loadReported(b0!, report(0.9, 30));
    d.active.loadReported(b1!, report(0.3, 30));
    d.active.loadReported(b2!, report(0.3, 30));
  };
  feed();
  assert.deepEqual(tally(Array.from({ length: 300 }, () => d.request(5)), 3), [100, 100, 100], 'configured weights during the blackout');
  for (let t = 0; t < 6; t++) {
    s.clock.advance(1_000);
    feed();
  }
  s.clock.advance(1_000);
  const shares = tally(Array.from({ length: 700 }, () => d.request(5)), 3);
  assert.deepEqual(shares, [100, 300, 300], 'weights 33.3 : 100 : 100');
  assert.equal(metrics(d, 0).reported_weight, 33.333);
  assert.equal(metrics(d, 1).weight, 100);
});

test('weighted_round_robin orca: a backend without a usable weight gets the mean; fewer than two usable: configured weights', () => {
  const s = setup([1, 1, 2], orca({ blackoutMs: 0 }));
  const d = new Driver(s, 'weighted_round_robin');
  const [b0, b1] = s.pool.backends;
  d.active.loadReported(b0!, report(0.5, 50)); // 100
  s.clock.advance(1_000);
  assert.deepEqual(tally(Array.from({ length: 400 }, () => d.request(5)), 3), [100, 100, 200], 'one reporter: the configured 1 : 1 : 2');
  d.active.loadReported(b1!, report(0.5, 150)); // 300
  s.clock.advance(1_000);
  // Backend 2 never reported: the mean, 200.
  assert.deepEqual(tally(Array.from({ length: 600 }, () => d.request(5)), 3), [100, 300, 200]);
  assert.equal(metrics(d, 2).reported_weight, null);
  assert.equal(metrics(d, 2).weight, 200);
});

test('weighted_round_robin orca: the error penalty moves traffic away from a backend answering errors', () => {
  const s = setup([1, 1], orca({ blackoutMs: 0, errorUtilizationPenalty: 1 }));
  const d = new Driver(s, 'weighted_round_robin');
  const [b0, b1] = s.pool.backends;
  d.active.loadReported(b0!, report(0.25, 100, 75)); // 100 / (0.25 + 0.75) = 100
  d.active.loadReported(b1!, report(0.25, 100)); // 400
  s.clock.advance(1_000);
  const shares = tally(Array.from({ length: 500 }, () => d.request(5)), 2);
  assert.deepEqual(shares, [100, 400]);
  // The pool keeps the latest report too (the API reads it there).
  assert.equal(b0!.reported.latest.eps, 75);
});

test('weighted_round_robin config (the default) ignores reports', () => {
  const s = setup([1, 1]);
  const d = new Driver(s, 'weighted_round_robin');
  d.active.loadReported(s.pool.backends[0]!, report(0.01, 1_000));
  d.active.loadReported(s.pool.backends[1]!, report(1, 1));
  s.clock.advance(2_000);
  assert.deepEqual(tally(Array.from({ length: 100 }, () => d.request(5)), 2), [50, 50]);
  assert.equal('reported_weight' in metrics(d, 0), false);
});
