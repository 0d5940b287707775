/**
 * The simulator and the live proxy drive the same attempt race (src/balancer/race.ts), so a
 * scripted request settles the same way in both: the strategy hears the same calls in the same
 * order. Each script forces the strategy's choices (which backend, when to hedge) and the
 * backends' behaviour (one slow, or one refusing connections), then compares what a recording
 * strategy heard in the simulator with what it heard behind real sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, Outcome } from '../../src/pool/backend.js';
import type { ActiveStrategy } from '../../src/strategies/active.js';
import type { PickContext } from '../../src/strategies/types.js';
import { Simulation } from '../../src/sim/engine.js';
import { resolveScenario } from '../../src/sim/scenario.js';
import { deadPort, httpServer, local, request, startBallast } from '../helpers/servers.js';
import { track, until } from '../helpers/lifecycle.js';

interface Script {
  /** The strategy hedges after this many ms, or never (-1). */
  hedgeAfterMs: number;
}

/** Scripts `active`'s strategy: backend 0 first, then 1; records every hook it hears. */
function script(active: ActiveStrategy, s: Script): string[] {
  const heard: string[] = [];
  const strategy = active.strategy;
  const [first, second] = active.pool.backends as [Backend, Backend];
  const index = (b: Backend) => (b === first ? 0 : 1);
  strategy.pick = (ctx: PickContext) => (ctx.tried.includes(first) ? (ctx.tried.includes(second) ? undefined : second) : first);
  strategy.onStart = (b: Backend, ctx: PickContext) => void heard.push(`start ${index(b)}${ctx.hedge ? ' hedge' : ''}`);
  strategy.onEnd = (b: Backend, outcome: Outcome) => void heard.push(`end ${index(b)} ${outcome.kind}`);
  strategy.hedgeDelayMs = () => s.hedgeAfterMs;
  strategy.tryHedge = () => true;
  strategy.onHedgeResult = (won: boolean) => void heard.push(`hedge ${won ? 'won' : 'lost'}`);
  return heard;
}

function simulate(s: Script, values: Record<string, unknown>): string[] {
  const scenario = resolveScenario(undefined, {
    values: { requests: 1, rate: 10, servers: 2, slots: 1, service: { kind: 'fixed', ms: 10 }, ...values },
  });
  const sim = new Simulation(scenario, 'round_robin', { seed: 1 });
  const heard = script(sim.active, s);
  const r = sim.run();
  assert.equal(r.completed, 1, 'the simulated request was answered');
  return heard;
}

async function live(s: Script, ports: [number, number]): Promise<string[]> {
  const lb = track(await startBallast({ servers: ports.map((p) => local(p)), strategy: 'round_robin', retries: { enabled: true } }));
  const heard = script(lb.active, s);
  const r = await request(`${lb.url}/`);
  assert.equal(r.status, 200, 'the live request was answered');
  await until(() => lb.pool.totalInflight === 0);
  return heard;
}

test('a hedge that wins: the same calls in the same order in the simulator and behind real sockets', async () => {
  const s: Script = { hedgeAfterMs: 50 };
  // Backend 0 takes 500 ms, backend 1 10 ms: the hedge sent at 50 ms answers first.
  const sim = simulate(s, { overrides: [{ server: 0, factor: 50 }] });
  const slow = track(await httpServer((_req, res) => void setTimeout(() => res.end('slow'), 500)));
  const fast = track(await httpServer((_req, res) => res.end('fast')));
  const proxy = await live(s, [slow.port, fast.port]);
  assert.deepEqual(sim, ['start 0', 'start 1 hedge', 'end 0 cancelled', 'hedge won', 'end 1 ok']);
  assert.deepEqual(proxy, sim);
});

test('a refused connection fails over: the same calls in the same order in the simulator and behind real sockets', async () => {
  const s: Script = { hedgeAfterMs: -1 };
  // Backend 0 is dead from the start (the health checks have not noticed yet).
  const sim = simulate(s, { events: [{ at: 0, action: 'die', server: 0, detectMs: 60_000 }] });
  const fast = track(await httpServer((_req, res) => res.end('fast')));
  const proxy = await live(s, [await deadPort(), fast.port]);
  assert.deepEqual(sim, ['start 0', 'end 0 connect', 'start 1', 'end 1 ok']);
  assert.deepEqual(proxy, sim);
});
