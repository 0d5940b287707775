/**
 * Passive health checks: Envoy's outlier detection (consecutive errors, growing ejection
 * time, max ejection percent), fed by the outcomes of real proxy attempts.
 *
 * Counting: per backend, consecutive attempts that failed by `connect`, `reset` or `timeout`
 * (and `http_5xx` when `include5xx`). A completed response (`ok`, or a 5xx not counted) resets
 * the count: it proves the backend answers, like Envoy's split local-origin errors where a
 * successful connection resets the local-origin counter. `cancelled` (hedge loser, client
 * gone) says nothing about the backend and is ignored. Outcomes arriving while the backend is
 * already ejected (requests that were in flight) neither count nor extend the ejection.
 *
 * Ejection: after `consecutiveFailures` the backend is ejected (`pool.setEjectedUntil`) for
 * `baseEjectionMs x 2^(level-1)`, capped at `maxEjectionMs`, where `level` counts its recent
 * ejections (kept in `Backend.ejections`). We double instead of Envoy's linear
 * `base x times ejected` so a backend that keeps failing is retried at a quickly thinning
 * rate. Like Envoy's multiplier, the level is forgiven one step per `baseEjectionMs` the
 * backend spends back in the pool without being ejected, so an old incident is not held
 * against it forever. `baseEjectionMs` 0 disables ejection.
 *
 * Share: at most `floor(members x maxEjectedPercent / 100)` members are ejected at once, but
 * at least one when there are two or more members and the percent is above 0 (Envoy ejects
 * at least one host whatever the percent): 3 members at 50% -> 1, 2 at 10% -> 1, 1 -> never.
 * We also never eject the only ready backend: that would turn errors into "no backend" for
 * every request. A failure beyond the threshold that is refused for these reasons keeps the
 * count, so the backend is ejected on a later failure once there is room.
 *
 * Return: when active checks run (`activeChecks: true`), an ejected backend returns on the
 * first PASSING active check after its backoff elapsed (wire `monitor.addCheckListener(
 * detector.onCheck)`); the monitor keeps checking ejected backends, so this happens at most an
 * interval after the backoff. Without active checks it returns when the backoff elapses: an
 * unref'd timer calls `sweep(clock.now())` at the earliest expiry (disable with
 * `autoSweep: false` and call `sweep` yourself, e.g. in the simulator).
 *
 * Public API:
 *   new OutlierDetector(pool, settings, { clock, activeChecks, autoSweep? })
 *     settings: Config['outlierDetection'].
 *   observe(b, outcome, now)  an OutcomeObserver: `activeStrategy.addObserver(d.observe)`.
 *   onCheck(b, ok, now)       a CheckListener: `monitor.addCheckListener(d.onCheck)`.
 *   sweep(now)                lifts expired ejections when there are no active checks.
 *   reconfigure(settings, activeChecks)  reload; disabling lifts every ejection.
 *   stop()                    clears the sweep timer.
 *   counters, currentlyEjected(), state(b)  for metrics and the API.
 * Calls on the pool: setEjectedUntil(b, until) to eject, setEjectedUntil(b, 0) to return;
 * reads pool.backends and pool.ready for the share; writes Backend.ejections (the level).
 */
import type { Backend, Outcome } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { Clock } from '../util/clock.js';
import type { Config } from '../config/schema.js';

export type OutlierSettings = Config['outlierDetection'];

export interface OutlierDeps {
  clock: Clock;
  /** Active checks run and call `onCheck`: a return then also needs a passing check. */
  activeChecks: boolean;
  /** Lift expired ejections on a real timer when there are no active checks. Default true. */
  autoSweep?: boolean;
}

export interface OutlierCounters {
  /** Ejections so far. */
  ejections: number;
  /** Ejected backends that came back. */
  returns: number;
  /** Failures past the threshold that did not eject because of the max share or last-ready rule. */
  skippedByLimit: number;
}

export interface OutlierSnapshot {
  consecutiveFailures: number;
  /** Times this backend was ejected, in total. */
  ejections: number;
  /** The backoff level: recent ejections, forgiven over time. */
  level: number;
  /** Pool clock time the ejection ends, 0 when not ejected. */
  ejectedUntil: number;
  lastEjectedAt: number | null;
}

/** Ejection time for the `level`-th recent ejection (level >= 1). */
export function ejectionBackoff(baseMs: number, maxMs: number, level: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, level - 1));
}

/** How many of `members` may be ejected at once. */
export function maxEjectable(members: number, percent: number): number {
  if (members < 2 || percent <= 0) return 0;
  return Math.max(1, Math.floor((members * percent) / 100));
}

class BackendOutlier {
  consecutive = 0;
  ejections = 0;
  lastEjectedAt: number | null = null;
  returnedAt: number | null = null;
}

export class OutlierDetector {
  readonly counters: OutlierCounters = { ejections: 0, returns: 0, skippedByLimit: 0 };

  private settings: OutlierSettings;
  private activeChecks: boolean;
  private readonly clock: Clock;
  private readonly autoSweep: boolean;
  /** Weak so backends removed by a reload are forgotten without bookkeeping. */
  private readonly perBackend = new WeakMap<Backend, BackendOutlier>();
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pool: Pool,
    settings: OutlierSettings,
    deps: OutlierDeps,
  ) {
    this.settings = settings;
    this.activeChecks = deps.activeChecks;
    this.clock = deps.clock;
    this.autoSweep = deps.autoSweep ?? true;
  }

  /** The proxy's outcome of one attempt (hot path: a switch, a map lookup, an increment). */
  readonly observe = (b: Backend, outcome: Outcome, now: number): void => {
    const s = this.settings;
    if (!s.enabled) return;
    let failed: boolean;
    switch (outcome.kind) {
      case 'connect':
      case 'reset':
      case 'timeout':
        failed = true;
        break;
      case 'http_5xx':
        failed = s.include5xx;
        break;
      case 'ok':
        failed = false;
        break;
      default:
        return;
    }
    let st = this.perBackend.get(b);
    if (!failed) {
      if (st !== undefined) st.consecutive = 0;
      return;
    }
    if (b.ejectedUntil !== 0 || b.removed) return;
    if (st === undefined) {
      st = new BackendOutlier();
      this.perBackend.set(b, st);
    }
    if (++st.consecutive >= s.consecutiveFailures) this.tryEject(b, st, now);
  };

  /** An active check result: a pass after the backoff brings an ejected backend back. */
  readonly onCheck = (b: Backend, ok: boolean, now: number): void => {
    if (ok && b.ejectedUntil !== 0 && now >= b.ejectedUntil && !b.removed) this.lift(b, now);
  };

  /** Lifts ejections whose backoff elapsed, when no active check has to pass. Returns how many. */
  sweep(now: number): number {
    if (this.activeChecks) return 0;
    let lifted = 0;
    const members = this.pool.backends;
    for (let i = 0; i < members.length; i++) {
      const b = members[i]!;
      if (b.ejectedUntil !== 0 && now >= b.ejectedUntil) {
        this.lift(b, now);
        lifted++;
      }
    }
    this.armSweep();
    return lifted;
  }

  currentlyEjected(): number {
    let n = 0;
    const members = this.pool.backends;
    for (let i = 0; i < members.length; i++) if (members[i]!.ejectedUntil !== 0) n++;
    return n;
  }

  state(b: Backend): OutlierSnapshot {
    const st = this.perBackend.get(b);
    return {
      consecutiveFailures: st?.consecutive ?? 0,
      ejections: st?.ejections ?? 0,
      level: b.ejections,
      ejectedUntil: b.ejectedUntil,
      lastEjectedAt: st?.lastEjectedAt ?? null,
    };
  }

  /** New settings (reload). Turning detection off returns every ejected backend at once. */
  reconfigure(settings: OutlierSettings, activeChecks: boolean): void {
    this.settings = settings;
    this.activeChecks = activeChecks;
    const now = this.clock.now();
    if (!settings.enabled) {
      for (const b of this.pool.backends) if (b.ejectedUntil !== 0) this.lift(b, now);
    }
    if (activeChecks) this.clearSweep();
    else this.sweep(now);
  }

  stop(): void {
    this.clearSweep();
  }

  private tryEject(b: Backend, st: BackendOutlier, now: number): void {
    const s = this.settings;
    const members = this.pool.backends.length;
    if (
      this.currentlyEjected() >= maxEjectable(members, s.maxEjectedPercent) ||
      (b.ready && this.pool.ready.length <= 1)
    ) {
      this.counters.skippedByLimit++;
      return;
    }
    if (st.returnedAt !== null && s.baseEjectionMs > 0) {
      const forgiven = Math.floor((now - st.returnedAt) / s.baseEjectionMs);
      b.ejections = Math.max(0, b.ejections - forgiven);
    }
    const backoff = ejectionBackoff(s.baseEjectionMs, s.maxEjectionMs, b.ejections + 1);
    if (!(backoff > 0)) return;
    b.ejections++;
    st.consecutive = 0;
    st.ejections++;
    st.lastEjectedAt = now;
    this.counters.ejections++;
    this.pool.setEjectedUntil(b, now + backoff);
    if (!this.activeChecks) this.armSweep();
  }

  private lift(b: Backend, now: number): void {
    const st = this.perBackend.get(b);
    if (st !== undefined) {
      st.returnedAt = now;
      st.consecutive = 0;
    }
    this.counters.returns++;
    this.pool.setEjectedUntil(b, 0);
  }

  /** One timer at the earliest expiry; rare path (ejections), so a scan is fine. */
  private armSweep(): void {
    this.clearSweep();
    if (!this.autoSweep || this.activeChecks) return;
    let earliest = Infinity;
    for (const b of this.pool.backends) if (b.ejectedUntil !== 0 && b.ejectedUntil < earliest) earliest = b.ejectedUntil;
    if (earliest === Infinity) return;
    const delay = Math.max(0, earliest - this.clock.now());
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = null;
      this.sweep(this.clock.now());
    }, delay + 1);
    this.sweepTimer.unref();
  }

  private clearSweep(): void {
    if (this.sweepTimer !== null) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
  }
}
