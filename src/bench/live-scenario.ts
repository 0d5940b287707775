/**
 * From a simulator scenario (src/sim/scenario.ts, the one source of the named workloads) to
 * what the live benchmark starts: one demo backend process per server with the same service
 * time, worker slots, stalls and cache, the keys the load tester sends, and the timeline of
 * deaths, revivals and joins. What the demo backend cannot do is refused with the reason,
 * never approximated silently.
 *
 * Live:      fixed and lognormal service times, a slow server (factor), per-server slots and
 *            integer weights, stalls, whole-server pauses (SIGSTOP/SIGCONT of the backend
 *            process), Zipf keys with an LRU cache and a miss penalty, die (SIGKILL: in-flight
 *            reset, connections refused), revive (a fresh process on the same port: cold
 *            cache), join (both balancers learn of the new servers at once), leave (both
 *            stop sending new requests to it; in-flight ones finish, the process keeps
 *            running), load reports (ORCA endpoint-load-metrics, in the scenario's form).
 * Not live:  exponential, Pareto and bimodal service times, bursty arrivals, slow events,
 *            non-idempotent shares.
 */
import type { BackendOptions } from '../backend/server.js';
import type { ServiceTime } from '../backend/service-time.js';
import type { Scenario } from '../sim/scenario.js';
import type { Random } from '../util/random.js';

/** What a demo backend is started with (src/backend/server.ts's options, minus host and port). */
export type LiveBackendOptions = Required<Pick<BackendOptions, 'name' | 'serviceTime' | 'workers' | 'stallProbability' | 'stallMs' | 'cacheSize' | 'missPenaltyMs' | 'cacheKeyHeader' | 'loadReports' | 'seed'>>;

export interface LiveServer {
  index: number;
  /** `s0`, `s1` ...: the backend's name, in X-Backend and in both balancers' configs. */
  name: string;
  weight: number;
  backend: LiveBackendOptions;
  /** False for servers that join during the run (started idle, added at their event). */
  initial: boolean;
}

export interface LiveEvent {
  /** Share of the measured run, 0..1. */
  at: number;
  action: 'die' | 'revive' | 'join' | 'leave';
  /** Server indexes. */
  servers: number[];
}

export interface LivePlan {
  scenario: Scenario;
  servers: LiveServer[];
  events: LiveEvent[];
  keys: { count: number; zipf: number } | null;
  /**
   * Whole-server pauses: with this probability per request started a server stops for `ms`.
   * Live, a paused server is a SIGSTOPped process (SIGCONT after `ms`), at seeded times: see
   * `pauseSchedule`.
   */
  pause: { probability: number; ms: number } | null;
  /** The scenario has a cache (hit rates are reported, HAProxy's hash mode is run). */
  cache: boolean;
}

/** The header the load tester puts each request's key in (and the backends' cache key). */
export const KEY_HEADER = 'X-Key';

export class UnsupportedScenarioError extends Error {
  constructor(
    readonly scenario: string,
    readonly reasons: string[],
  ) {
    super(`scenario ${scenario} cannot run live: ${reasons.join('; ')}`);
    this.name = 'UnsupportedScenarioError';
  }
}

/** The scenario's service time as the demo backend's, scaled by `factor`; null if it has none. */
function serviceTime(s: Scenario['service'], factor: number): ServiceTime | null {
  if (s.kind === 'fixed') return { kind: 'fixed', ms: s.ms * factor };
  if (s.kind === 'lognormal') return { kind: 'lognormal', median: s.median * factor, sigma: s.sigma };
  return null;
}

/**
 * The live plan of a scenario; throws UnsupportedScenarioError listing everything the demo
 * backends or the bench cannot reproduce. `seed` seeds each backend (seed x 1000 + index), so
 * every run of a scenario gets the same service-time and stall streams per server.
 */
export function planLive(s: Scenario, seed: number): LivePlan {
  const reasons: string[] = [];
  if (serviceTime(s.service, 1) === null) reasons.push(`service ${s.service.kind} (the demo backend has fixed, uniform and lognormal)`);
  if (s.arrivals.kind !== 'poisson') reasons.push(`arrivals ${s.arrivals.kind} (the load tester has constant and Poisson)`);
  if (s.proxy.idempotentShare < 1) reasons.push('proxy.idempotentShare below 1 (the bench sends GETs only)');
  for (const o of s.overrides) {
    if (o.weight !== undefined && !(Number.isInteger(o.weight) && o.weight >= 1 && o.weight <= 256)) {
      reasons.push(`overrides: weight ${o.weight} (HAProxy takes integer weights 1-256)`);
    }
  }
  const joins = s.events.filter((e) => e.action === 'join').reduce((n, e) => n + e.count, 0);
  for (const e of s.events) {
    if (e.action === 'slow') reasons.push(`event ${e.action} (not reproduced live)`);
  }
  if (reasons.length > 0) throw new UnsupportedScenarioError(s.name, reasons);

  const servers: LiveServer[] = [];
  const total = s.servers + joins;
  for (let i = 0; i < total; i++) {
    const o = s.overrides.find((x) => x.server === i);
    const cache = s.cache !== null && s.cache.capacity > 0 ? s.cache : null;
    const backend: LiveBackendOptions = {
      name: `s${i}`,
      serviceTime: serviceTime(s.service, o?.factor ?? 1)!,
      workers: o?.slots ?? s.slots,
      stallProbability: s.stall.ms > 0 ? s.stall.probability : 0,
      stallMs: s.stall.ms,
      cacheSize: cache?.capacity ?? 0,
      missPenaltyMs: cache?.missPenaltyMs ?? 0,
      cacheKeyHeader: KEY_HEADER,
      loadReports: s.loadReports,
      seed: ((seed >>> 0) * 1000 + i) % 0x100000000,
    };
    servers.push({ index: i, name: `s${i}`, weight: o?.weight ?? 1, backend, initial: i < s.servers });
  }

  // Joins take the next new indexes in event order, as in the simulator.
  let next = s.servers;
  const events: LiveEvent[] = [...s.events]
    .sort((a, b) => a.at - b.at)
    .map((e) => {
      if (e.action === 'join') {
        const ids = Array.from({ length: e.count }, (_, k) => next + k);
        next += e.count;
        return { at: e.at, action: 'join' as const, servers: ids };
      }
      return { at: e.at, action: e.action as 'die' | 'revive' | 'leave', servers: [e.server!] };
    });

  const pause = s.pause.probability > 0 && s.pause.ms > 0 ? { probability: s.pause.probability, ms: s.pause.ms } : null;
  return { scenario: s, servers, events, keys: s.keys, pause, cache: s.cache !== null && s.cache.capacity > 0 };
}

/** Whether a named scenario runs live, without building anything: null if it does, else why not. */
export function liveSupport(s: Scenario): string | null {
  try {
    planLive(s, 1);
    return null;
  } catch (err) {
    if (err instanceof UnsupportedScenarioError) return err.reasons.join('; ');
    throw err;
  }
}

export interface PauseEvent {
  /** Milliseconds into the measured window. */
  atMs: number;
  server: number;
  ms: number;
}

/**
 * When each server pauses during a measured window: the simulator pauses a server with
 * probability p at each request it starts; at `rate` requests/s shared by `servers` initial
 * servers that is a Poisson process of p x rate / servers pauses per second per server.
 * Seeded, so every target of a scenario meets the same pauses at the same moments.
 */
export function pauseSchedule(plan: LivePlan, rate: number, durationS: number, random: Random): PauseEvent[] {
  if (plan.pause === null) return [];
  const initial = plan.servers.filter((s) => s.initial);
  const perServerPerMs = (plan.pause.probability * rate) / Math.max(1, initial.length) / 1000;
  const out: PauseEvent[] = [];
  for (const s of initial) {
    let t = 0;
    for (;;) {
      t += -Math.log(1 - random.next()) / perServerPerMs;
      if (t >= durationS * 1000) break;
      out.push({ atMs: t, server: s.index, ms: plan.pause.ms });
    }
  }
  return out.sort((a, b) => a.atMs - b.atMs);
}
