/**
 * The attempt race on a manual clock, against a port that records what the race asks of its
 * data plane: failover, retries and their budget, hedging and the order a race settles in,
 * connection limits, and the pool's in-flight accounting (every started attempt ends once).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttemptPolicy } from '../../src/balancer/policy.js';
import { AttemptRace, type RaceAttempt, type RaceLoss, type RacePort, type RaceSettings } from '../../src/balancer/race.js';
import type { Backend, InflightEntry, Outcome } from '../../src/pool/backend.js';
import { ActiveStrategy } from '../../src/strategies/active.js';
import type { PickContext } from '../../src/strategies/types.js';
import { ix, setup, type Setup } from '../strategies/helpers.js';

class Try implements RaceAttempt {
  startedAt = 0;
  inflightPrev: InflightEntry | null = null;
  inflightNext: InflightEntry | null = null;
  ended = false;
  headersAt = 0;
  readonly outcome: Outcome = { kind: 'ok', status: 0, latencyMs: 0 };
  constructor(
    readonly backend: Backend,
    readonly hedge: boolean,
  ) {}
}

/** Records every call the race makes, in order. */
class RecordingPort implements RacePort<Try> {
  readonly log: string[] = [];
  readonly sent: Try[] = [];
  waitAnswer = false;
  create(b: Backend, hedge: boolean): Try {
    return new Try(b, hedge);
  }
  send(a: Try): void {
    this.sent.push(a);
    this.log.push(`send ${ix(a.backend)}${a.hedge ? ' hedge' : ''}`);
  }
  abort(a: Try): void {
    this.log.push(`abort ${ix(a.backend)}`);
  }
  released(a: Try): void {
    this.log.push(`ended ${ix(a.backend)} ${a.outcome.kind} ${a.outcome.latencyMs}ms`);
  }
  armHedge(delayMs: number): void {
    this.log.push(`arm ${delayMs}`);
  }
  disarmHedge(): void {
    this.log.push('disarm');
  }
  wait(): boolean {
    this.log.push('wait');
    return this.waitAnswer;
  }
  lost(reason: RaceLoss, last: Backend | undefined): void {
    this.log.push(`lost ${reason}${last === undefined ? '' : ` after ${ix(last)}`}`);
  }
  retried(b: Backend, decision: 'failover' | 'retry'): void {
    this.log.push(`${decision} from ${ix(b)}`);
  }
  hedgeSent(): void {
    this.log.push('hedge sent');
  }
  hedgeWon(): void {
    this.log.push('hedge won');
  }
}

interface Rig {
  s: Setup;
  active: ActiveStrategy;
  policy: AttemptPolicy;
  settings: RaceSettings;
  port: RecordingPort;
  race: AttemptRace<Try>;
  heard: string[];
}

/** Three ready backends; the strategy picks the first untried one and hedges after `hedgeMs` (-1: never). */
function rig(options: { hedgeMs?: number; retries?: Record<string, unknown>; idempotent?: boolean; maxPerBackend?: number } = {}): Rig {
  const s = setup([1, 1, 1], { retries: { budgetPercent: 20, minPerSecond: 3, ...options.retries } });
  const active = new ActiveStrategy(s.pool, s.clock, s.random, s.config, 'round_robin');
  const heard: string[] = [];
  const strategy = active.strategy;
  strategy.pick = (ctx: PickContext) => s.pool.ready.find((b) => !ctx.tried.includes(b));
  strategy.hedgeDelayMs = () => options.hedgeMs ?? -1;
  strategy.tryHedge = () => true;
  strategy.onHedgeResult = (won: boolean) => void heard.push(`strategy: hedge ${won ? 'won' : 'lost'}`);
  const policy = new AttemptPolicy(s.config.retries, s.clock);
  const settings: RaceSettings = { maxConnectionsPerBackend: options.maxPerBackend ?? 0, maxHedgeBodyBytes: 1024 };
  const port = new RecordingPort();
  const race = new AttemptRace(port, { active, policy, now: () => s.clock.now(), settings });
  race.idempotent = options.idempotent ?? true;
  return { s, active, policy, settings, port, race, heard };
}

const idle = (r: Rig) => r.s.pool.backends.every((b) => b.inflight === 0);

test('a refused connect fails over for any method; the winner ends with its time to first byte', () => {
  const r = rig({ idempotent: false });
  r.race.start();
  r.s.clock.advance(5);
  r.race.failed(r.port.sent[0]!, 'connect');
  r.s.clock.advance(7);
  assert.ok(r.race.won(r.port.sent[1]!));
  r.s.clock.advance(100); // the body takes a while; the outcome's latency is the head's
  r.race.finished(r.port.sent[1]!, 'ok');
  assert.deepEqual(r.port.log, ['send 0', 'abort 0', 'ended 0 connect 5ms', 'failover from 0', 'send 1', 'ended 1 ok 7ms']);
  assert.ok(idle(r));
});

test('a reset: a POST gives up at once, a GET is retried up to maxAttempts, then gives up', () => {
  const post = rig({ idempotent: false });
  post.race.start();
  post.race.failed(post.port.sent[0]!, 'reset');
  assert.deepEqual(post.port.log, ['send 0', 'abort 0', 'ended 0 reset 0ms', 'lost reset after 0']);

  const get = rig({ retries: { maxAttempts: 2 } });
  get.race.start();
  get.race.failed(get.port.sent[0]!, 'timeout');
  get.race.failed(get.port.sent[1]!, 'timeout');
  assert.deepEqual(get.port.log, ['send 0', 'abort 0', 'ended 0 timeout 0ms', 'retry from 0', 'send 1', 'abort 1', 'ended 1 timeout 0ms', 'lost timeout after 1']);
  assert.ok(idle(get));
});

test('the retry budget: a burst spends the banked tokens, then retries are refused until the floor refills them', () => {
  const r = rig({ retries: { budgetPercent: 0, minPerSecond: 1, maxAttempts: 10 } });
  const retriedOnce = (): boolean => {
    const race = new AttemptRace(r.port, { active: r.active, policy: r.policy, now: () => r.s.clock.now(), settings: r.settings });
    race.idempotent = true;
    r.port.sent.length = 0;
    race.start();
    race.failed(r.port.sent[0]!, 'reset');
    const retried = r.port.sent.length === 2;
    if (retried) race.failed(r.port.sent[1]!, 'connect'); // end it; a connect failure is not budgeted
    race.abandon();
    return retried;
  };
  const burst = Array.from({ length: 7 }, retriedOnce);
  assert.deepEqual(burst, [true, true, true, true, true, false, false], 'five banked tokens (max(5, minPerSecond))');
  assert.equal(r.policy.retriesDenied, 2);
  r.s.clock.advance(1_000);
  assert.equal(retriedOnce(), true, 'a second later the floor has paid one token');
  assert.equal(retriedOnce(), false);
  assert.ok(idle(r));
});

test('a hedge: armed once the request is whole, sent when due, and the race settles loser, hedge result, winner in that order', () => {
  const r = rig({ hedgeMs: 40 });
  r.active.strategy.onEnd = (b: Backend, o: Outcome) => void r.heard.push(`strategy: end ${ix(b)} ${o.kind}`);
  r.race.start();
  r.race.requestComplete(0);
  r.race.requestComplete(0); // once per request
  r.s.clock.advance(40);
  r.race.hedgeDue();
  r.s.clock.advance(3);
  assert.ok(r.race.won(r.port.sent[1]!));
  assert.equal(r.race.won(r.port.sent[0]!), false, 'a late head of the loser is ignored');
  r.race.finished(r.port.sent[1]!, 'ok');
  assert.deepEqual(r.port.log, ['send 0', 'arm 40', 'hedge sent', 'send 1 hedge', 'abort 0', 'ended 0 cancelled 43ms', 'hedge won', 'ended 1 ok 3ms']);
  assert.deepEqual(r.heard, ['strategy: end 0 cancelled', 'strategy: hedge won', 'strategy: end 1 ok']);
  assert.equal(r.race.ctx.tried.length, 2);
  assert.ok(idle(r));
});

test('no hedge for a request that is not idempotent, not replayable, too large, or already answered', () => {
  const cases: Array<[string, (race: AttemptRace<Try>) => void, number]> = [
    ['not idempotent', (race) => (race.idempotent = false), 0],
    ['body not kept', (race) => (race.replayable = false), 0],
    ['body over maxHedgeBodyBytes', () => {}, 2048],
  ];
  for (const [name, prepare, bodyBytes] of cases) {
    const r = rig({ hedgeMs: 10 });
    prepare(r.race);
    r.race.start();
    r.race.requestComplete(bodyBytes);
    assert.deepEqual(r.port.log, ['send 0'], name);
  }
  const r = rig({ hedgeMs: 10 });
  r.race.start();
  r.race.requestComplete(0);
  r.race.responseStarted = true; // a 100 Continue went out
  r.race.hedgeDue();
  assert.deepEqual(r.port.log, ['send 0', 'arm 10'], 'the timer fired after a response began: nothing sent');
});

test('the first attempt fails while its hedge runs: no decision until the hedge answers', () => {
  const r = rig({ hedgeMs: 10, idempotent: false });
  r.race.idempotent = true;
  r.race.start();
  r.race.requestComplete(0);
  r.race.hedgeDue();
  r.race.failed(r.port.sent[0]!, 'reset');
  assert.equal(r.race.live, 1);
  assert.ok(r.race.won(r.port.sent[1]!));
  r.race.finished(r.port.sent[1]!, 'ok');
  assert.deepEqual(r.port.log, ['send 0', 'arm 10', 'hedge sent', 'send 1 hedge', 'abort 0', 'ended 0 reset 0ms', 'hedge won', 'ended 1 ok 0ms']);
});

test('the winner failing mid-response is reported to the data plane, never retried', () => {
  const r = rig();
  r.race.start();
  assert.ok(r.race.won(r.port.sent[0]!));
  assert.equal(r.race.failed(r.port.sent[0]!, 'reset'), true);
  assert.deepEqual(r.port.log, ['send 0', 'abort 0', 'ended 0 reset 0ms']);
  assert.ok(idle(r));
});

test('connection limits: full backends are skipped, the request waits when all are full, a hedge never goes to a full one', () => {
  const r = rig({ maxPerBackend: 1, hedgeMs: 5 });
  const b0 = r.s.pool.backends[0]!;
  const occupy = (b: Backend) => r.s.pool.begin(b, { startedAt: 0, inflightPrev: null, inflightNext: null });
  occupy(b0);
  r.race.start();
  r.race.requestComplete(0);
  occupy(r.s.pool.backends[2]!);
  r.race.hedgeDue();
  assert.deepEqual(r.port.log, ['send 1', 'arm 5'], 'backend 0 skipped; no hedge: the only untried backend is full');
  assert.deepEqual(r.race.ctx.tried.map(ix), [1], 'hidden backends are not left in ctx.tried');

  const full = rig({ maxPerBackend: 1 });
  for (const b of full.s.pool.backends) full.s.pool.begin(b, { startedAt: 0, inflightPrev: null, inflightNext: null });
  full.race.start();
  full.port.waitAnswer = true;
  full.race.woken();
  assert.deepEqual(full.port.log, ['wait', 'lost queue_full', 'wait']);
});

test('no backend at all: lost before any attempt; abandon cancels whatever is live and disarms the hedge', () => {
  const r = rig();
  for (const b of r.s.pool.backends) r.s.pool.setEnabled(b, false);
  r.race.start();
  assert.deepEqual(r.port.log, ['lost no_backend']);

  const h = rig({ hedgeMs: 10 });
  h.race.start();
  h.race.requestComplete(0);
  h.race.hedgeDue();
  h.race.abandon();
  assert.deepEqual(h.port.log, ['send 0', 'arm 10', 'hedge sent', 'send 1 hedge', 'abort 1', 'ended 1 cancelled 0ms', 'abort 0', 'ended 0 cancelled 0ms']);
  assert.ok(idle(h));
});

test('a retry is never hedged: the hedge timer armed for the first attempt is disarmed when it fails', () => {
  const r = rig({ hedgeMs: 10 });
  r.race.start();
  r.race.requestComplete(0);
  r.race.failed(r.port.sent[0]!, 'reset');
  r.race.hedgeDue(); // the timer of a real data plane would not fire; a late one changes nothing
  assert.deepEqual(r.port.log, ['send 0', 'arm 10', 'abort 0', 'ended 0 reset 0ms', 'disarm', 'retry from 0', 'send 1']);
  assert.equal(r.race.live, 1);
});

test('a refused hedge check re-arms the timer when the strategy names a further delay, and stops when it says -1', () => {
  const r = rig({ hedgeMs: 40 });
  const strategy = r.active.strategy;
  const checks: number[] = [];
  // Refuses the first check, looks again 10 ms later, accepts then.
  strategy.hedgeDelayMs = (ctx: PickContext) => (ctx.hedgeChecks === 0 ? 40 : ctx.hedgeChecks === 1 ? 10 : -1);
  strategy.tryHedge = (ctx: PickContext) => {
    checks.push(ctx.hedgeChecks);
    return ctx.hedgeChecks === 2;
  };
  r.race.start();
  r.race.requestComplete(0);
  r.s.clock.advance(40);
  r.race.hedgeDue();
  r.s.clock.advance(10);
  r.race.hedgeDue();
  assert.deepEqual(checks, [1, 2]);
  assert.deepEqual(r.port.log, ['send 0', 'arm 40', 'arm 10', 'hedge sent', 'send 1 hedge']);
  r.race.abandon();
  assert.ok(idle(r));

  // Refused twice: after -1 no timer is armed again.
  const q = rig({ hedgeMs: 40 });
  q.active.strategy.hedgeDelayMs = (ctx: PickContext) => (ctx.hedgeChecks < 2 ? 40 : -1);
  q.active.strategy.tryHedge = () => false;
  q.race.start();
  q.race.requestComplete(0);
  q.race.hedgeDue();
  q.race.hedgeDue();
  q.race.hedgeDue(); // a stale timer: nothing armed, nothing done
  assert.deepEqual(q.port.log, ['send 0', 'arm 40', 'arm 40']);
  q.race.abandon();
});

test('ctx.loads holds each attempt backend in-flight count before it was sent, parallel to ctx.tried', () => {
  const r = rig({ hedgeMs: 40 });
  const [b0] = r.s.pool.backends;
  // A request already in flight on backend 0 (another race on the same pool).
  const busy = new AttemptRace(r.port, { active: r.active, policy: r.policy, now: () => r.s.clock.now(), settings: r.settings });
  busy.idempotent = true;
  busy.start();
  assert.equal(b0!.inflight, 1);
  r.race.start(); // backend 0 again (first untried), with 1 in flight
  r.race.requestComplete(0);
  r.race.hedgeDue(); // the hedge on backend 1, idle
  assert.deepEqual(r.race.ctx.tried.map(ix), [0, 1]);
  assert.deepEqual(r.race.ctx.loads, [1, 0]);
  r.race.abandon();
  busy.abandon();
  assert.ok(idle(r));
});
