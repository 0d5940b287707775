/**
 * The live benchmark: for each scenario, each target (Ballast with one strategy, HAProxy in
 * one mode) gets a run of its own on real processes: fresh demo backends, the balancer, a
 * warm-up, then the measured open-loop load from the load tester (src/loadtest: constant or
 * Poisson arrivals, latency from each request's intended start, so queueing behind a slow
 * balancer or backend is never hidden). Every target sees the same arrival schedule and the
 * same keys (one seed), and the scenario's timeline (deaths, revivals, joins) at the same
 * moments of its measured window.
 *
 * With `repeat` the targets run in rounds (each once, then each again), so a burst of load
 * from elsewhere on a shared machine lands on every target alike, and each figure is the
 * median of the rounds.
 *
 * Bounded: each run stops by itself (warm-up + duration, then in-flight requests finish within
 * the request timeout), and every child is stopped when its run ends, fails or is aborted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { runLoad, type Arrivals, type CacheCounts, type FailureCounts, type LoadHooks, type LoadOptions, type LoadProgress, type OpenLoopReport } from '../loadtest/index.js';
import type { Scenario } from '../sim/scenario.js';
import { ChildSet } from './children.js';
import { defaultHaproxyModes, type HaproxyBinary, type HaproxyMode } from './haproxy.js';
import { SeededRandom } from '../util/random.js';
import { pauseSchedule, planLive, type LivePlan } from './live-scenario.js';
import { BackendFleet, processCpuMs, startBallast, startHaproxy, type Balancer, type ExtraCounters } from './targets.js';

export type TargetSpec = { kind: 'ballast'; strategy: string } | { kind: 'haproxy'; mode: HaproxyMode };

export function targetLabel(t: TargetSpec): string {
  return t.kind === 'ballast' ? t.strategy : `haproxy ${t.mode}`;
}

export interface BenchOptions {
  scenarios: Scenario[];
  strategies: string[];
  /** HAProxy binary, or null to run Ballast only. */
  haproxy: HaproxyBinary | null;
  /** HAProxy modes; undefined: the defaults per scenario (hash only for keyed scenarios). */
  haproxyModes?: HaproxyMode[];
  /** Measured seconds per run. */
  durationS: number;
  /** Unmeasured seconds of the same load before each measured window (JIT, EWMAs, caches). */
  warmupS: number;
  /** Requests per second; undefined: each scenario's own rate. */
  rate?: number;
  arrivals: Arrivals;
  seed: number;
  /** Load tester connections; undefined: one per request per second (64 to 1000), see `loadConnections`. */
  connections?: number;
  /**
   * Runs per target (default 1). Repetitions are interleaved (every target once, then again),
   * so a burst of load from elsewhere on the machine hits all targets alike, and the table
   * shows each figure's median over them.
   */
  repeat?: number;
  /** Per request; default 10 s. */
  timeoutMs?: number;
}

export interface BenchHooks {
  /** One line per step (starting a run, a run's result), for a progress display. */
  onProgress?: (line: string) => void;
  /** Stops the run in progress (its figures are dropped) and the ones after it. */
  signal?: AbortSignal;
}

export interface ServerShare {
  name: string;
  /** Responses that named this server in X-Backend. */
  count: number;
  share: number;
}

/**
 * Responses counted in one phase of the scenario's timeline (as the simulator's phases: before
 * the first event, between the first and the last, after the last), from the load tester's
 * running counts read when each event fires (every 100 ms, so a boundary is good to 0.1 s).
 */
export interface LivePhase {
  phase: 'before' | 'during' | 'after';
  /** Requests finished in the phase, and those that failed. */
  done: number;
  failed: number;
  hits: number;
  misses: number;
  /** hits / (hits + misses), null when no response carried X-Cache. */
  hitRate: number | null;
}

export interface TargetResult {
  target: string;
  kind: 'ballast' | 'haproxy';
  /** Repetitions aggregated here: latency, extra load and hit rate are medians over them, counts sums. */
  runs: number;
  /** p99 of each repetition, in run order: the spread the medians hide. */
  p99Runs: number[];
  /** Requests started in the measured window; sent = succeeded + failed.total. */
  sent: number;
  succeeded: number;
  failed: FailureCounts;
  /** Client-side latency in ms, from each request's intended start. */
  latency: { p50: number; p90: number; p99: number; p999: number; mean: number; max: number };
  /** Extra attempts the balancer made in the measured window (HAProxy: retries and redispatches). */
  hedges: number;
  retries: number;
  failovers: number;
  /** Attempts beyond one per request per 100 requests sent; hedge% + retry% (failovers included). */
  extraLoadPercent: number;
  hedgePercent: number;
  retryPercent: number;
  /** X-Cache verdicts of the responses the client got; null when no response carried one. */
  cache: CacheCounts | null;
  cacheHitRate: number | null;
  /** Responses per server (X-Backend), in the plan's server order. */
  servers: ServerShare[];
  /** By phase of the timeline; empty without events. */
  phases: LivePhase[];
  /** Responses of the busiest server over the mean per server (1 = even). */
  maxAvgLoad: number;
  /**
   * CPU the balancer process used in the measured window per request sent, ms (Linux /proc;
   * null elsewhere). What the balancer costs, and why a CPU-starved machine hurts one more
   * than the other.
   */
  cpuMsPerRequest: number | null;
  openLoop: OpenLoopReport | null;
  warnings: string[];
  wallMs: number;
}

export interface Comparison {
  /** HAProxy's lowest p99 and its mode. */
  bestP99: { target: string; p99: number };
  /** HAProxy's highest hit rate (cache scenarios). */
  bestHitRate: { target: string; hitRate: number } | null;
  /** Each Ballast strategy over HAProxy's best: p99 ratio (below 1 is better), hit ratio (above 1 is better). */
  rows: Array<{ strategy: string; p99Ratio: number; hitRatio: number | null }>;
}

export interface ScenarioBench {
  scenario: Scenario;
  /** Why the scenario was not run (it cannot be reproduced live), else null. */
  skipped: string | null;
  rate: number;
  durationS: number;
  warmupS: number;
  arrivals: Arrivals;
  seed: number;
  results: TargetResult[];
  comparison: Comparison | null;
}

export interface BenchReport {
  haproxy: HaproxyBinary | null;
  scenarios: ScenarioBench[];
  /** Stopped early by the signal: the last run's figures are missing. */
  interrupted: boolean;
  wallMs: number;
}

/**
 * Open-loop connections: enough for every request of a second to be in flight at once. A
 * balancer or backend stalled for a moment then still gets the arrivals the schedule says
 * (an open loop), instead of the tester holding them back for a free connection. Idle
 * keep-alive connections cost both balancers alike, and little.
 */
export function loadConnections(rate: number): number {
  return Math.min(1000, Math.max(64, Math.ceil(rate)));
}

/** Seconds a run costs beyond its load (spawning node processes on a busy machine, draining). */
const RUN_OVERHEAD_S = 2;

/** The targets of a scenario, Ballast's strategies first. */
export function targetsFor(plan: LivePlan | null, o: Pick<BenchOptions, 'strategies' | 'haproxy' | 'haproxyModes'>): TargetSpec[] {
  const out: TargetSpec[] = o.strategies.map((strategy) => ({ kind: 'ballast', strategy }));
  if (o.haproxy !== null && plan !== null) {
    const modes = o.haproxyModes ?? defaultHaproxyModes(plan.keys !== null);
    for (const mode of modes) out.push({ kind: 'haproxy', mode });
  }
  return out;
}

/** Planned wall time, seconds (an estimate: start-up costs vary). */
export function estimateSeconds(o: BenchOptions): { runs: number; seconds: number } {
  let runs = 0;
  for (const s of o.scenarios) {
    let plan: LivePlan | null = null;
    try {
      plan = planLive(s, o.seed);
    } catch {
      continue;
    }
    runs += targetsFor(plan, o).length;
  }
  runs *= o.repeat ?? 1;
  return { runs, seconds: Math.ceil(runs * (o.durationS + o.warmupS + RUN_OVERHEAD_S)) };
}

class Aborted extends Error {}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new Aborted('aborted');
}

const round = (v: number, d = 3): number => Math.round(v * 10 ** d) / 10 ** d;

export async function runBench(o: BenchOptions, hooks: BenchHooks = {}): Promise<BenchReport> {
  const t0 = performance.now();
  const report: BenchReport = { haproxy: o.haproxy, scenarios: [], interrupted: false, wallMs: 0 };
  const say = hooks.onProgress ?? (() => {});
  const { runs } = estimateSeconds(o);
  let n = 0;
  try {
    for (const scenario of o.scenarios) {
      const rate = o.rate ?? scenario.rate;
      const entry: ScenarioBench = { scenario, skipped: null, rate, durationS: o.durationS, warmupS: o.warmupS, arrivals: o.arrivals, seed: o.seed, results: [], comparison: null };
      report.scenarios.push(entry);
      let plan: LivePlan;
      try {
        plan = planLive(scenario, o.seed);
      } catch (err) {
        entry.skipped = (err as Error).message;
        say(`${scenario.name}: skipped: ${entry.skipped}`);
        continue;
      }
      const targets = targetsFor(plan, o);
      const repeat = o.repeat ?? 1;
      const done: TargetResult[][] = targets.map(() => []);
      try {
        for (let rep = 1; rep <= repeat; rep++) {
          for (let i = 0; i < targets.length; i++) {
            const target = targets[i]!;
            throwIfAborted(hooks.signal);
            n++;
            const what = `[${n}/${runs}] ${scenario.name}: ${targetLabel(target)}${repeat > 1 ? ` (${rep}/${repeat})` : ''}`;
            say(`${what} ...`);
            const r = await runTarget(plan, target, rate, o, hooks.signal);
            done[i]!.push(r);
            say(`${what}: p50 ${r.latency.p50.toFixed(1)} p99 ${r.latency.p99.toFixed(1)} ms, ${r.failed.total} errors${r.cacheHitRate === null ? '' : `, hit ${(r.cacheHitRate * 100).toFixed(1)}%`} (${(r.wallMs / 1000).toFixed(1)} s)`);
          }
        }
      } finally {
        // Whatever finished, also when aborted part-way.
        entry.results = done.filter((d) => d.length > 0).map((d) => combine(plan, d));
      }
      entry.comparison = compare(entry.results);
    }
  } catch (err) {
    if (!(err instanceof Aborted)) throw err;
    report.interrupted = true;
    const last = report.scenarios[report.scenarios.length - 1];
    if (last !== undefined) last.comparison = compare(last.results);
  }
  report.wallMs = Math.round(performance.now() - t0);
  return report;
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** One row from a target's repetitions: medians of the figures, sums of the counts. */
export function combine(plan: LivePlan, runs: TargetResult[]): TargetResult {
  if (runs.length === 1) return runs[0]!;
  const first = runs[0]!;
  const med = (f: (r: TargetResult) => number): number => round(median(runs.map(f)));
  const sum = (f: (r: TargetResult) => number): number => runs.reduce((n, r) => n + f(r), 0);
  const counts = new Map<string, number>();
  for (const r of runs) for (const sv of r.servers) counts.set(sv.name, (counts.get(sv.name) ?? 0) + sv.count);
  const responses = [...counts.values()].reduce((a, b) => a + b, 0);
  const servers = [...counts].map(([name, count]) => ({ name, count, share: responses > 0 ? round(count / responses, 4) : 0 }));
  const planned = servers.filter((sv) => plan.servers.some((p) => p.name === sv.name));
  const mean = planned.reduce((a, sv) => a + sv.count, 0) / Math.max(1, planned.length);
  const hits = runs.every((r) => r.cache !== null) ? { hits: sum((r) => r.cache!.hits), misses: sum((r) => r.cache!.misses) } : null;
  const key = ['http4xx', 'http5xx', 'timeout', 'connection', 'otherStatus', 'total'] as const;
  const failed = Object.fromEntries(key.map((k) => [k, sum((r) => r.failed[k])])) as unknown as FailureCounts;
  return {
    target: first.target,
    kind: first.kind,
    runs: sum((r) => r.runs),
    p99Runs: runs.flatMap((r) => r.p99Runs),
    sent: sum((r) => r.sent),
    succeeded: sum((r) => r.succeeded),
    failed,
    latency: { p50: med((r) => r.latency.p50), p90: med((r) => r.latency.p90), p99: med((r) => r.latency.p99), p999: med((r) => r.latency.p999), mean: med((r) => r.latency.mean), max: Math.max(...runs.map((r) => r.latency.max)) },
    hedges: sum((r) => r.hedges),
    retries: sum((r) => r.retries),
    failovers: sum((r) => r.failovers),
    extraLoadPercent: med((r) => r.extraLoadPercent),
    hedgePercent: med((r) => r.hedgePercent),
    retryPercent: med((r) => r.retryPercent),
    cache: hits === null ? null : { ...hits, hitRate: hits.hits + hits.misses > 0 ? hits.hits / (hits.hits + hits.misses) : 0 },
    cacheHitRate: hits === null ? null : round(median(runs.map((r) => r.cacheHitRate!)), 4),
    servers,
    phases: first.phases.map((p, i) => {
      const add = (f: (q: LivePhase) => number): number => runs.reduce((n, r) => n + (r.phases[i] === undefined ? 0 : f(r.phases[i]!)), 0);
      const hits = add((q) => q.hits);
      const misses = add((q) => q.misses);
      return { phase: p.phase, done: add((q) => q.done), failed: add((q) => q.failed), hits, misses, hitRate: hits + misses > 0 ? round(hits / (hits + misses), 4) : null };
    }),
    maxAvgLoad: mean > 0 ? round(planned.reduce((a, sv) => Math.max(a, sv.count), 0) / mean, 3) : 0,
    cpuMsPerRequest: runs.every((r) => r.cpuMsPerRequest !== null) ? med((r) => r.cpuMsPerRequest!) : null,
    openLoop: null,
    warnings: runs.flatMap((r, i) => r.warnings.map((w) => `run ${i + 1}: ${w}`)),
    wallMs: sum((r) => r.wallMs),
  };
}

/** Ballast's strategies against HAProxy's best mode, on p99 and hit rate. */
export function compare(results: TargetResult[]): Comparison | null {
  const ha = results.filter((r) => r.kind === 'haproxy' && r.latency.p99 > 0);
  if (ha.length === 0) return null;
  const bestP99 = ha.reduce((a, b) => (b.latency.p99 < a.latency.p99 ? b : a));
  const hits = ha.filter((r) => r.cacheHitRate !== null);
  const bestHit = hits.length === 0 ? null : hits.reduce((a, b) => (b.cacheHitRate! > a.cacheHitRate! ? b : a));
  return {
    bestP99: { target: bestP99.target, p99: bestP99.latency.p99 },
    bestHitRate: bestHit === null ? null : { target: bestHit.target, hitRate: bestHit.cacheHitRate! },
    rows: results
      .filter((r) => r.kind === 'ballast')
      .map((r) => ({
        strategy: r.target,
        p99Ratio: round(r.latency.p99 / bestP99.latency.p99),
        hitRatio: bestHit === null || r.cacheHitRate === null || bestHit.cacheHitRate === 0 ? null : round(r.cacheHitRate / bestHit.cacheHitRate!),
      })),
  };
}

async function runTarget(plan: LivePlan, target: TargetSpec, rate: number, o: BenchOptions, signal: AbortSignal | undefined): Promise<TargetResult> {
  const started = performance.now();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ballast-bench-'));
  const set = new ChildSet();
  const timers: NodeJS.Timeout[] = [];
  const eventWork: Promise<void>[] = [];
  const warnings: string[] = [];
  try {
    const fleet = await BackendFleet.start(plan, set);
    throwIfAborted(signal);
    const balancer: Balancer =
      target.kind === 'ballast'
        ? await startBallast({ strategy: target.strategy, seed: o.seed, plan, fleet, dir, set })
        : await startHaproxy({ binary: o.haproxy!, mode: target.mode, plan, fleet, dir, set });
    throwIfAborted(signal);

    const load: LoadOptions = {
      url: balancer.url,
      rate,
      arrivals: o.arrivals,
      ...(plan.keys === null ? {} : { keys: plan.keys.count, zipf: plan.keys.zipf }),
      connections: o.connections ?? loadConnections(rate),
      timeoutMs: o.timeoutMs ?? 10_000,
      progressIntervalMs: 60_000,
    };
    // Running counts at each event, for the hit rate and losses by phase.
    let latest: LoadProgress | null = null;
    const marks: Array<LoadProgress | null> = [];
    if (o.warmupS > 0) {
      // Its own seed, so the measured window's keys are the same whatever the warm-up length.
      await runLoad({ ...load, durationS: o.warmupS, seed: (o.seed ^ 0x5bd1e995) >>> 0 }, signal === undefined ? {} : { signal });
      throwIfAborted(signal);
    }
    const before = await balancer.counters();
    const cpuBefore = processCpuMs(balancer.pid);

    for (const e of plan.events) {
      timers.push(
        setTimeout(() => {
          marks.push(latest);
          const work = (async () => {
            if (e.action === 'die') for (const i of e.servers) await fleet.die(i);
            else if (e.action === 'revive') for (const i of e.servers) await fleet.revive(i);
            else if (e.action === 'leave') await balancer.leave(e.servers.map((i) => plan.servers[i]!));
            else await balancer.join(e.servers.map((i) => plan.servers[i]!));
          })().catch((err: unknown) => {
            warnings.push(`event ${e.action} ${e.servers.map((i) => `s${i}`).join(',')} failed: ${(err as Error).message}`);
          });
          eventWork.push(work);
        }, e.at * o.durationS * 1000),
      );
    }
    for (const p of pauseSchedule(plan, rate, o.durationS, new SeededRandom((o.seed ^ 0x2545f491) >>> 0))) {
      timers.push(setTimeout(() => fleet.pause(p.server, p.ms), p.atMs));
    }
    const measured: LoadHooks = {
      ...(signal === undefined ? {} : { signal }),
      ...(plan.events.length === 0 ? {} : { onProgress: (p: LoadProgress) => (latest = p) }),
    };
    const result = await runLoad({ ...load, durationS: o.durationS, seed: o.seed, ...(plan.events.length === 0 ? {} : { progressIntervalMs: 100 }) }, measured);
    for (const t of timers) clearTimeout(t);
    await Promise.all(eventWork);
    throwIfAborted(signal);
    const cpuAfter = processCpuMs(balancer.pid);
    const after = await balancer.counters();
    const cpuMs = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;
    const phases = livePhases(plan, marks, result);
    return summarize(plan, target, result, before, after, cpuMs, phases, [...result.warnings, ...warnings], performance.now() - started);
  } finally {
    for (const t of timers) clearTimeout(t);
    await set.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The phases from the counts marked at each event (in time order) and the run's totals. */
export function livePhases(plan: LivePlan, marks: ReadonlyArray<LoadProgress | null>, r: { succeeded: number; failed: FailureCounts; cache?: CacheCounts | null }): LivePhase[] {
  if (plan.events.length === 0) return [];
  const zero = { done: 0, failed: 0, cacheHits: 0, cacheMisses: 0 };
  const at = (m: LoadProgress | null | undefined) => (m === null || m === undefined ? zero : m);
  const firstAt = plan.events[0]!.at;
  const lastAt = plan.events[plan.events.length - 1]!.at;
  const first = at(marks[0]);
  const last = at(marks[plan.events.length - 1]);
  const end = { done: r.succeeded + r.failed.total, failed: r.failed.total, cacheHits: r.cache?.hits ?? 0, cacheMisses: r.cache?.misses ?? 0 };
  const span = (phase: LivePhase['phase'], a: typeof zero, b: typeof zero): LivePhase => {
    const hits = b.cacheHits - a.cacheHits;
    const misses = b.cacheMisses - a.cacheMisses;
    return { phase, done: b.done - a.done, failed: b.failed - a.failed, hits, misses, hitRate: hits + misses > 0 ? round(hits / (hits + misses), 4) : null };
  };
  const out = [span('before', zero, first)];
  if (lastAt > firstAt) out.push(span('during', first, last));
  out.push(span('after', last, end));
  return out;
}

function summarize(
  plan: LivePlan,
  target: TargetSpec,
  r: Awaited<ReturnType<typeof runLoad>>,
  before: ExtraCounters,
  after: ExtraCounters,
  cpuMs: number | null,
  phases: LivePhase[],
  warnings: string[],
  wallMs: number,
): TargetResult {
  const hedges = after.hedges - before.hedges;
  const retries = after.retries - before.retries;
  const failovers = after.failovers - before.failovers;
  const pct = (v: number): number => (r.sent > 0 ? round((v / r.sent) * 100) : 0);
  const counts = new Map<string, number>();
  for (const b of r.backends) {
    // X-Backend is NAME:PORT; the name is stable across a revival.
    const name = b.backend.replace(/:\d+$/, '');
    counts.set(name, (counts.get(name) ?? 0) + b.count);
  }
  const responses = [...counts.values()].reduce((a, b) => a + b, 0);
  const servers: ServerShare[] = plan.servers.map((s) => {
    const count = counts.get(s.name) ?? 0;
    return { name: s.name, count, share: responses > 0 ? round(count / responses, 4) : 0 };
  });
  // Any other name (a `(none)` row: a response without X-Backend, e.g. a balancer's own 503).
  for (const [name, count] of counts) if (!plan.servers.some((s) => s.name === name)) servers.push({ name, count, share: responses > 0 ? round(count / responses, 4) : 0 });
  const planned = servers.slice(0, plan.servers.length);
  const mean = planned.reduce((a, s) => a + s.count, 0) / Math.max(1, planned.length);
  const max = planned.reduce((a, s) => Math.max(a, s.count), 0);
  const cache = r.cache ?? null;
  return {
    target: targetLabel(target),
    kind: target.kind,
    runs: 1,
    p99Runs: [r.latencyMs.p99],
    sent: r.sent,
    succeeded: r.succeeded,
    failed: r.failed,
    latency: { p50: r.latencyMs.p50, p90: r.latencyMs.p90, p99: r.latencyMs.p99, p999: r.latencyMs.p999, mean: r.latencyMs.mean, max: r.latencyMs.max },
    hedges,
    retries,
    failovers,
    extraLoadPercent: pct(hedges + retries + failovers),
    hedgePercent: pct(hedges),
    retryPercent: pct(retries + failovers),
    cache,
    cacheHitRate: cache === null ? null : round(cache.hitRate, 4),
    servers,
    phases,
    maxAvgLoad: mean > 0 ? round(max / mean, 3) : 0,
    cpuMsPerRequest: cpuMs === null || r.sent === 0 ? null : round(cpuMs / r.sent),
    openLoop: r.openLoop,
    warnings,
    wallMs: Math.round(wallMs),
  };
}
