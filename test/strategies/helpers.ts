/**
 * Shared set-up for the strategy tests: a pool on a ManualClock, a seeded random source, and a
 * driver that sends attempts through ActiveStrategy's done path exactly as the proxy does.
 */
import { ManualClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { Pool } from '../../src/pool/pool.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config, StrategyName } from '../../src/config/schema.js';
import type { Backend, InflightEntry, Outcome, OutcomeKind } from '../../src/pool/backend.js';
import { ActiveStrategy } from '../../src/strategies/active.js';
import { PickContext, type StrategyDeps } from '../../src/strategies/types.js';

export interface Setup extends StrategyDeps {
  clock: ManualClock;
  random: SeededRandom;
}

/** A pool of `weights.length` backends on ports 9000.., all ready, plus `extra` config. */
export function setup(weights: number[], extra: Record<string, unknown> = {}, seed = 7): Setup {
  const clock = new ManualClock(1_000);
  const servers = weights.map((weight, i) => ({ host: '127.0.0.1', port: 9000 + i, weight }));
  const config: Config = parseConfig({ servers, ...extra });
  const pool = new Pool(servers, { clock, startHealthy: true });
  return { clock, pool, config, random: new SeededRandom(seed) };
}

/** Index of a backend in the test's pool (its port - 9000). */
export const ix = (b: Backend | undefined): number => (b === undefined ? -1 : b.port - 9000);

export interface Attempt {
  b: Backend;
  entry: InflightEntry;
  ctx: PickContext;
}

/** Drives a strategy through ActiveStrategy like the proxy: pick, started, ended. */
export class Driver {
  readonly active: ActiveStrategy;
  constructor(
    readonly s: Setup,
    name: StrategyName,
  ) {
    this.active = new ActiveStrategy(s.pool, s.clock, s.random, s.config, name);
  }

  /** Picks and starts an attempt; undefined when the strategy returns nothing. */
  start(ctx: PickContext = new PickContext()): Attempt | undefined {
    const b = this.active.pick(ctx);
    if (b === undefined) return undefined;
    return this.startOn(b, ctx);
  }

  /**
   * Starts an attempt on a chosen backend, as the attempt race does (src/balancer/race.ts): the
   * attempt's index in ctx.attempt, the backend's load in ctx.loads, its backend pushed on
   * ctx.tried, then started.
   */
  startOn(b: Backend, ctx: PickContext): Attempt {
    const entry: InflightEntry = { startedAt: this.s.clock.now(), inflightPrev: null, inflightNext: null };
    ctx.attempt = ctx.tried.length;
    ctx.loads.length = ctx.tried.length;
    ctx.loads.push(b.inflight);
    ctx.tried.push(b);
    this.active.started(b, entry, ctx);
    return { b, entry, ctx };
  }

  end(a: Attempt, kind: OutcomeKind = 'ok', latencyMs?: number): void {
    const latency = latencyMs ?? this.s.clock.now() - a.entry.startedAt;
    const outcome: Outcome = { kind, status: kind === 'ok' ? 200 : kind === 'http_5xx' ? 503 : 0, latencyMs: latency };
    this.active.ended(a.b, a.entry, outcome, a.ctx);
  }

  /** One request that completes at once with `latencyMs` (time does not move). */
  request(latencyMs: number, kind: OutcomeKind = 'ok', ctx?: PickContext): Backend | undefined {
    const a = this.start(ctx);
    if (a === undefined) return undefined;
    this.end(a, kind, latencyMs);
    return a.b;
  }
}

/** Counts of picks per backend index. */
export function tally(picks: readonly (Backend | undefined)[], n: number): number[] {
  const counts = new Array<number>(n).fill(0);
  for (const b of picks) if (b !== undefined) counts[ix(b)]!++;
  return counts;
}

/**
 * A tiny discrete-event load: a request arrives every `intervalMs`, goes where the strategy
 * says, and completes after `serviceMs(backendIndex, now)` (Infinity: never, a stall).
 * Completions run in time order before each arrival. Returns the picks with their times.
 */
export function runLoad(
  d: Driver,
  opts: { intervalMs: number; untilMs: number; serviceMs: (i: number, now: number) => number },
): { at: number; i: number }[] {
  const clock = d.s.clock;
  const pending: { due: number; a: Attempt }[] = [];
  const picks: { at: number; i: number }[] = [];
  const end = clock.now() + opts.untilMs;
  for (let t = clock.now() + opts.intervalMs; t <= end; t += opts.intervalMs) {
    // Complete everything due before t, in order.
    pending.sort((x, y) => x.due - y.due);
    while (pending.length > 0 && pending[0]!.due <= t) {
      const p = pending.shift()!;
      clock.set(p.due);
      d.end(p.a, 'ok');
    }
    clock.set(t);
    const a = d.start();
    if (a === undefined) continue;
    picks.push({ at: t, i: ix(a.b) });
    const service = opts.serviceMs(ix(a.b), t);
    if (Number.isFinite(service)) pending.push({ due: t + service, a });
  }
  return picks;
}
