import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStress, planStress } from '../../src/loadtest/stress.js';
import { LoadOptionsError } from '../../src/loadtest/engine.js';
import { startServer } from './helpers.js';

test('stress ramp stops at the first step over the error threshold and reports the knee', async () => {
  // A server with four worker slots: a fifth concurrent request is refused with 503.
  let inflight = 0;
  const srv = await startServer((_req, res) => {
    if (inflight >= 4) {
      res.statusCode = 503;
      res.end('busy');
      return;
    }
    inflight++;
    setTimeout(() => {
      inflight--;
      res.end('ok');
    }, 5);
  });
  try {
    const steps: number[] = [];
    const s = await runStress(
      { url: srv.url + '/', ramp: 'connections', start: 2, step: 2, max: 10, stepDurationS: 0.4, maxErrorRate: 0.01, seed: 1 },
      { onStep: (st) => steps.push(st.level) },
    );
    assert.deepEqual(steps, [2, 4, 6]);
    assert.deepEqual(s.steps.map((st) => st.held), [true, true, false]);
    assert.equal(s.knee?.level, 4);
    assert.match(s.stoppedBy, /error rate/);
    assert.equal(s.steps[1]!.result.failed.total, 0);
    assert.ok(s.steps[2]!.result.failed.http5xx > 0);
  } finally {
    await srv.close();
  }
});

test('stress ramp by rate: a first step over the p99 threshold leaves no knee', async () => {
  const srv = await startServer((_req, res) => setTimeout(() => res.end('ok'), 30));
  try {
    const s = await runStress({ url: srv.url + '/', ramp: 'rate', start: 20, step: 20, max: 40, stepDurationS: 0.5, maxP99Ms: 5, arrivals: 'constant' });
    assert.equal(s.steps.length, 1);
    assert.equal(s.knee, null);
    assert.match(s.stoppedBy, /p99/);
  } finally {
    await srv.close();
  }
});

test('stress plans: levels, defaults and refusals', () => {
  assert.deepEqual(planStress({ url: 'http://x/', start: 10, step: 15, max: 50 }).levels, [10, 25, 40]);
  assert.equal(planStress({ url: 'http://x/' }).levels.length, 50);
  assert.equal(planStress({ url: 'http://x/', ramp: 'rate' }).levels.length, 100, 'the defaults fit the step cap');
  assert.throws(() => planStress({ url: 'http://x/', start: 10, max: 5 }), LoadOptionsError);
  assert.throws(() => planStress({ url: 'http://x/', start: 1, step: 1, max: 1000 }), /at most 100/);
  assert.throws(() => planStress({ url: 'http://x/', start: 1.5 }), /integer/);
});
