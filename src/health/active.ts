/**
 * Active health checks (HAProxy `check`, `rise`, `fall`, `inter`, `spread-checks`).
 *
 * Each pool member gets its own probe loop (probe.ts: HTTP request or TCP connect, with a
 * timeout). A down backend goes up after `rise` consecutive passes, an up one goes down after
 * `fall` consecutive failures; the verdict is written to the pool (`setHealthy`), which
 * rebuilds the ready snapshot the strategies pick from.
 *
 * Start-up: a backend not yet healthy goes up on its FIRST passing check, without waiting for
 * `rise` (HAProxy's `init-state down`: "down, goes up after one successful check"). HAProxy's
 * default starts servers up before any check; we do not, so no request reaches a backend
 * before a check passed. Build the pool with `startHealthy: false` when checks are enabled; the
 * monitor also enforces it: a member it has not checked yet is marked down when `start()` runs
 * and when it joins later (a reload's `pool.add`), synchronously inside the pool's change
 * notification, so no pick can see it ready first. Members present when checks are switched
 * on by `reconfigure` keep serving (they go down after `fall` failures), except those that
 * never received a request, which wait for their first check like new ones. A first check
 * that fails leaves the backend down until `rise` passes.
 *
 * Scheduling: checks run on real timers (unref'd: they never keep the process alive), one
 * probe in flight per backend; the next check starts `intervalMs x (1 - jitter x u)` after the
 * previous one STARTED (u uniform in [0,1)), or right after it ends when it took longer. The
 * jitter only shortens the interval, so "marked down within intervalMs x fall (+ the failing
 * checks' own durations, each at most timeoutMs)" stays a hard bound. The second check of each
 * backend comes at a uniformly random point of the first interval, so checks started together
 * at start-up spread out instead of aligning (HAProxy spreads its first checks over the
 * interval too). With jitter 0 checks are strictly periodic (for tests and simulations).
 * The Clock is only used for time stamps given to the pool and listeners.
 *
 * Public API:
 *   new HealthMonitor(pool, settings, { clock, mode?, random? })
 *     settings: Config['healthCheck']; mode picks the default check type (http -> HTTP check,
 *     tcp -> TCP connect) when settings.type is unset; random: seeded source for the jitter.
 *   start(): Promise<void>  subscribes to pool.onChange and checks every member at once;
 *     resolves when each has finished its first check (at most ~timeoutMs). When
 *     settings.enabled is false it runs no checks and marks every member healthy instead.
 *   whenChecked(): Promise<void>  resolves the next time no member awaits its first check
 *     (e.g. after a reload added backends).
 *   reconfigure(settings)  new settings for the next checks (reload); enabling/disabling works.
 *     A changed interval (or jitter) also re-times the checks already waiting, from the start
 *     of each backend's last check, so the new interval applies at once.
 *     Like the constructor, throws ConfigError for a backwards expectStatus ("399-200") before
 *     changing anything.
 *   stop()  clears every timer, closes every probe socket, stops listening to the pool; the
 *     verdicts stay as they are.
 *   addCheckListener(fn)  fn(b, ok, now) after each check result (outlier.ts's `onCheck`).
 *   state(b) / states()  per-backend CheckSnapshot for the API; `counters` for metrics.
 * Calls on the pool: setHealthy(b, up) on each flip, recordCheck(b, ok, now) on each result,
 * onChange(listener) to follow membership (new members are checked at once, removed ones
 * stop being checked and their in-flight probe is closed).
 */
import { performance } from 'node:perf_hooks';
import type { Backend } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { Clock } from '../util/clock.js';
import { entropySeed, SeededRandom, type Random } from '../util/random.js';
import type { Config } from '../config/schema.js';
import { parseStatusRange, runProbe, type Probe, type ProbeResult, type ProbeSpec } from './probe.js';

export type HealthCheckSettings = Config['healthCheck'];

/** Told after every check result, with the pool clock's time. */
export type CheckListener = (b: Backend, ok: boolean, now: number) => void;

export interface HealthMonitorDeps {
  clock: Clock;
  /** The balancer's mode; picks the check type when `settings.type` is unset. Default http. */
  mode?: 'http' | 'tcp';
  random?: Random;
}

/** What the API shows per backend. Times are on the pool clock; null before the first check. */
export interface CheckSnapshot {
  type: 'http' | 'tcp';
  checks: number;
  /** When the running or last check started. */
  lastStartedAt: number | null;
  /** When it ended (the result's time stamp). */
  lastCheckAt: number | null;
  lastResult: 'pass' | 'fail' | null;
  /** Why the last check failed; null when it passed or none ran yet. */
  lastError: string | null;
  /** HTTP status of the last check, 0 when none. */
  lastStatus: number;
  lastDurationMs: number | null;
  consecutivePasses: number;
  consecutiveFails: number;
  /** A probe is running now. */
  inFlight: boolean;
  /** When the next check is due; null while one runs. Exact on real time, approximate on another clock. */
  nextCheckAt: number | null;
  /** Start-to-start delay drawn for the next check (interval less jitter; a random phase after the first). */
  plannedDelayMs: number | null;
}

export interface HealthCounters {
  checks: number;
  failedChecks: number;
  /** Verdict flips written to the pool. */
  wentUp: number;
  wentDown: number;
}

/** Delay from the start of one check to the start of the next; u uniform in [0, 1). */
export function checkDelay(intervalMs: number, jitter: number, u: number, afterFirst: boolean): number {
  if (afterFirst && jitter > 0) return intervalMs * u;
  return intervalMs * (1 - jitter * u);
}

const gateAll = (): boolean => true;
const gateUnused = (b: Backend): boolean => b.totalRequests === 0;

/** Per-backend loop state. Owned by the monitor; the pool never sees it. */
class Tracked {
  checks = 0;
  lastStartedAt: number | null = null;
  lastCheckAt: number | null = null;
  lastResult: 'pass' | 'fail' | null = null;
  lastError: string | null = null;
  lastStatus = 0;
  lastDurationMs: number | null = null;
  consecutivePasses = 0;
  consecutiveFails = 0;
  probe: Probe | null = null;
  timer: NodeJS.Timeout | null = null;
  nextCheckAt: number | null = null;
  plannedDelayMs: number | null = null;
  /** performance.now() at the start of the running or last probe (scheduling is on real time). */
  startedAt = 0;
  constructor(readonly backend: Backend) {}
}

export class HealthMonitor {
  readonly counters: HealthCounters = { checks: 0, failedChecks: 0, wentUp: 0, wentDown: 0 };

  private settings: HealthCheckSettings;
  private spec: ProbeSpec;
  private readonly clock: Clock;
  private readonly mode: 'http' | 'tcp';
  private readonly random: Random;
  private readonly tracked = new Map<Backend, Tracked>();
  private listeners: CheckListener[] = [];
  private unsubscribe: (() => void) | null = null;
  private running = false;
  /** Members whose first check has not finished yet, and who waits for that to reach 0. */
  private pendingFirst = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly pool: Pool,
    settings: HealthCheckSettings,
    deps: HealthMonitorDeps,
  ) {
    this.clock = deps.clock;
    this.mode = deps.mode ?? 'http';
    this.random = deps.random ?? new SeededRandom(entropySeed());
    this.settings = settings;
    this.spec = this.probeSpec(settings);
  }

  private probeSpec(s: HealthCheckSettings): ProbeSpec {
    return {
      type: s.type ?? this.mode,
      method: s.method,
      path: s.path,
      expect: parseStatusRange(s.expectStatus),
      // A zero timeout would fail every check; treat it as "as long as the interval".
      timeoutMs: Math.max(1, s.timeoutMs > 0 ? s.timeoutMs : s.intervalMs),
    };
  }

  get enabled(): boolean {
    return this.settings.enabled;
  }

  /** Starts checking; resolves when every current member has finished its first check. */
  start(): Promise<void> {
    if (this.running) return this.whenChecked();
    this.running = true;
    this.unsubscribe = this.pool.onChange(() => this.sync(gateAll));
    this.sync(gateAll);
    return this.whenChecked();
  }

  /** Resolves the next time no member awaits its first check (at once if none does). */
  whenChecked(): Promise<void> {
    if (this.pendingFirst === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const t of this.tracked.values()) this.halt(t);
    this.tracked.clear();
    this.pendingFirst = 0;
    this.release();
  }

  /**
   * New settings (config reload). Timeout, type, path... apply from each backend's next
   * check; a new interval also re-times the next check itself. Disabling stops all checks and
   * marks every member healthy; enabling starts checks, and members already up stay up until
   * `fall` failures.
   */
  reconfigure(settings: HealthCheckSettings): void {
    const spec = this.probeSpec(settings); // throws on a bad range before anything changes
    const previous = this.settings;
    const wasEnabled = previous.enabled;
    this.settings = settings;
    this.spec = spec;
    if (!this.running) return;
    if (wasEnabled && !settings.enabled) {
      for (const t of this.tracked.values()) this.halt(t);
      this.tracked.clear();
      this.pendingFirst = 0;
      this.release();
    }
    // Switching checks on must not take down members that carry traffic now.
    this.sync(wasEnabled ? gateAll : gateUnused);
    if (wasEnabled && settings.enabled && (settings.intervalMs !== previous.intervalMs || settings.jitter !== previous.jitter)) {
      // Checks already waiting were timed with the old interval: re-time them from their last
      // start, so "down within intervalMs x fall" holds for the new interval at once (a
      // reload from 30 s to 1 s must not wait out the 30 s).
      for (const t of this.tracked.values()) if (t.timer !== null) this.reschedule(t);
    }
  }

  addCheckListener(listener: CheckListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  state(b: Backend): CheckSnapshot | undefined {
    const t = this.tracked.get(b);
    if (t === undefined) return undefined;
    return {
      type: this.spec.type,
      checks: t.checks,
      lastStartedAt: t.lastStartedAt,
      lastCheckAt: t.lastCheckAt,
      lastResult: t.lastResult,
      lastError: t.lastError,
      lastStatus: t.lastStatus,
      lastDurationMs: t.lastDurationMs,
      consecutivePasses: t.consecutivePasses,
      consecutiveFails: t.consecutiveFails,
      inFlight: t.probe !== null,
      nextCheckAt: t.nextCheckAt,
      plannedDelayMs: t.plannedDelayMs,
    };
  }

  /** Snapshots of every checked member, in pool order. */
  states(): { backend: Backend; state: CheckSnapshot }[] {
    const out: { backend: Backend; state: CheckSnapshot }[] = [];
    for (const b of this.pool.backends) {
      const state = this.state(b);
      if (state !== undefined) out.push({ backend: b, state });
    }
    return out;
  }

  /** Follows pool membership. Runs on every pool change (any readiness flip), so it stays O(n). */
  private sync(gate: (b: Backend) => boolean): void {
    if (!this.running) return;
    if (!this.settings.enabled) {
      // Checks off: every member counts as healthy (config schema's promise).
      for (const b of this.pool.backends) if (!b.healthy) this.pool.setHealthy(b, true);
      return;
    }
    for (const t of this.tracked.values()) {
      if (t.backend.removed) this.untrack(t);
    }
    const members = this.pool.backends;
    for (let i = 0; i < members.length; i++) {
      const b = members[i]!;
      if (b.removed || this.tracked.has(b)) continue;
      const t = new Tracked(b);
      this.tracked.set(b, t);
      this.pendingFirst++;
      // Down until a check passes; the nested pool notification finds it tracked and returns.
      if (b.healthy && gate(b)) this.pool.setHealthy(b, false);
      this.check(t);
    }
  }

  private untrack(t: Tracked): void {
    this.halt(t);
    this.tracked.delete(t.backend);
    if (t.checks === 0) this.firstDone();
  }

  private halt(t: Tracked): void {
    if (t.timer !== null) clearTimeout(t.timer);
    t.timer = null;
    t.probe?.cancel();
    t.probe = null;
  }

  private firstDone(): void {
    if (--this.pendingFirst <= 0) {
      this.pendingFirst = 0;
      this.release();
    }
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private check(t: Tracked): void {
    t.timer = null;
    t.nextCheckAt = null;
    t.startedAt = performance.now();
    t.lastStartedAt = this.clock.now();
    t.probe = runProbe(t.backend, this.spec, (r) => this.onResult(t, r));
  }

  private onResult(t: Tracked, r: ProbeResult): void {
    t.probe = null;
    if (!this.running || this.tracked.get(t.backend) !== t) return;
    const b = t.backend;
    const now = this.clock.now();
    const first = t.checks === 0;
    t.checks++;
    t.lastCheckAt = now;
    t.lastResult = r.ok ? 'pass' : 'fail';
    t.lastError = r.error;
    t.lastStatus = r.status;
    t.lastDurationMs = r.durationMs;
    this.counters.checks++;
    // Schedule before touching the pool: pool listeners may run arbitrary code.
    this.schedule(t, first);
    this.pool.recordCheck(b, r.ok, now);
    if (r.ok) {
      t.consecutivePasses++;
      t.consecutiveFails = 0;
      if (!b.healthy && (first || t.consecutivePasses >= this.settings.rise)) {
        this.counters.wentUp++;
        this.pool.setHealthy(b, true);
      }
    } else {
      this.counters.failedChecks++;
      t.consecutiveFails++;
      t.consecutivePasses = 0;
      if (b.healthy && t.consecutiveFails >= this.settings.fall) {
        this.counters.wentDown++;
        this.pool.setHealthy(b, false);
      }
    }
    for (let i = 0; i < this.listeners.length; i++) this.listeners[i]!(b, r.ok, now);
    if (first) this.firstDone();
  }

  /** A waiting check re-timed under new settings, counted from the start of the last one. */
  private reschedule(t: Tracked): void {
    clearTimeout(t.timer!);
    t.timer = null;
    this.schedule(t, false);
  }

  private schedule(t: Tracked, afterFirst: boolean): void {
    const { intervalMs, jitter } = this.settings;
    const delay = checkDelay(intervalMs, jitter, this.random.next(), afterFirst);
    const elapsed = performance.now() - t.startedAt;
    const wait = Math.max(0, delay - elapsed);
    t.plannedDelayMs = delay;
    t.nextCheckAt = t.lastStartedAt! + elapsed + wait;
    t.timer = setTimeout(() => this.check(t), wait);
    t.timer.unref();
  }
}
