/**
 * The backend pool: membership, readiness, and the bookkeeping every attempt goes through.
 *
 * Readiness changes (admin toggle, health verdict, ejection, membership) rebuild `ready`, an
 * array snapshot, and bump `version`; a pick only reads the array (grpc-go's picker snapshot).
 * Counters that change per request (in-flight, latency, failures) live on the Backend objects,
 * which the snapshot shares, so a rebuild never resets load.
 */
import type { Clock } from '../util/clock.js';
import { Backend, localCell, type BackendSpec, type BackendTuning, type InflightCell, type InflightEntry, type Outcome } from './backend.js';

export type PoolListener = (pool: Pool) => void;

export interface PoolOptions {
  clock: Clock;
  tuning?: Partial<BackendTuning>;
  /** Whether a new backend starts healthy (true when active checks are off). */
  startHealthy: boolean;
  /** Where in-flight counts live (default: cells of this pool's own); workers share theirs. */
  load?: PoolLoad;
}

/** The in-flight cells of a pool: one per backend address, and one for the total. */
export interface PoolLoad {
  cell(address: string): InflightCell;
  total: InflightCell;
}

export class Pool {
  /** Every member, in config order; excludes removed backends. */
  backends: Backend[] = [];
  /** Backends taking new requests, in config order. Rebuilt on change, never mutated in place. */
  ready: readonly Backend[] = [];
  /** Bumped on every rebuild of `ready`; strategies cache derived tables against it. */
  version = 0;
  private readonly load: PoolLoad | undefined;
  private readonly totalCell: InflightCell;

  readonly clock: Clock;
  readonly tuning: BackendTuning;
  private readonly startHealthy: boolean;
  private nextId = 0;
  private listeners: PoolListener[] = [];

  constructor(specs: readonly BackendSpec[], options: PoolOptions) {
    this.clock = options.clock;
    this.tuning = { latencyTauMs: 10_000, failureHalfLifeMs: 30_000, ...options.tuning };
    this.startHealthy = options.startHealthy;
    this.load = options.load;
    this.totalCell = options.load?.total ?? localCell();
    for (const spec of specs) this.backends.push(this.create(spec, true));
    this.rebuild();
  }

  private create(spec: BackendSpec, initial: boolean): Backend {
    const address = `${spec.host}:${spec.port}`;
    const b = new Backend(this.nextId++, spec, this.tuning, initial, this.startHealthy, this.load?.cell(address));
    if (b.ready) b.markBecameReady(this.clock.now());
    return b;
  }

  /** Sum of `inflight` over all backends (every worker's), kept up to date by begin/end. */
  get totalInflight(): number {
    return Atomics.load(this.totalCell.total, this.totalCell.slot);
  }

  private addTotal(delta: number): void {
    const { total, mine, slot } = this.totalCell;
    Atomics.add(total, slot, delta);
    if (mine !== null) Atomics.add(mine, slot, delta);
  }

  /** Called after any readiness change; listeners (strategies, stats) see the new snapshot. */
  onChange(listener: PoolListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  find(host: string, port: number): Backend | undefined {
    return this.backends.find((b) => b.host === host && b.port === port);
  }

  add(spec: BackendSpec): Backend {
    const b = this.create(spec, false);
    this.backends = [...this.backends, b];
    this.rebuild();
    return b;
  }

  /** Removes a member; requests in flight to it finish normally (they hold the object). */
  remove(b: Backend): void {
    if (b.removed) return;
    b.removed = true;
    this.backends = this.backends.filter((x) => x !== b);
    this.rebuild();
  }

  setEnabled(b: Backend, enabled: boolean): void {
    this.update(b, () => {
      b.enabled = enabled;
    });
  }

  setHealthy(b: Backend, healthy: boolean): void {
    this.update(b, () => {
      b.healthy = healthy;
    });
  }

  setWeight(b: Backend, weight: number): void {
    if (b.weight === weight) return;
    b.weight = weight;
    this.rebuild();
  }

  /**
   * A reload changed whether `b` is sent a PROXY header. Readiness does not change; connections
   * already open keep what they were opened with (the proxy only reuses ones that match).
   */
  setSendProxy(b: Backend, version: 'v1' | 'v2' | null): void {
    b.sendProxy = version;
  }

  /** Passive ejection until `until` (ms on the pool clock); 0 lifts it. */
  setEjectedUntil(b: Backend, until: number): void {
    this.update(b, () => {
      b.ejectedUntil = until;
    });
  }

  private update(b: Backend, change: () => void): void {
    const wasReady = b.ready;
    change();
    if (b.ready !== wasReady) {
      if (b.ready) b.markBecameReady(this.clock.now());
      this.rebuild();
    }
  }

  /** Rebuilds the ready snapshot and tells listeners. */
  rebuild(): void {
    this.ready = this.backends.filter((b) => b.ready);
    this.version++;
    for (const l of this.listeners) l(this);
  }

  /**
   * An attempt is sent to `b`. `entry.startedAt` must be set; entries must start in time order.
   * `reserved`: `b.tryReserve` already counted it in `b.inflight`.
   */
  begin(b: Backend, entry: InflightEntry, reserved = false): void {
    b.linkInflight(entry, reserved);
    b.totalRequests++;
    this.addTotal(1);
  }

  /** The attempt ended; updates in-flight, latency and failure history. Exactly once per begin. */
  end(b: Backend, entry: InflightEntry, outcome: Outcome, now: number): void {
    b.unlinkInflight(entry);
    this.addTotal(-1);
    this.record(b, outcome, now);
  }

  /**
   * An attempt's outcome feeds the backend's latency and failure history. `end` calls it; with
   * several workers the main thread calls it for outcomes the workers report, so the pool the
   * admin API shows has every worker's history.
   */
  record(b: Backend, outcome: Outcome, now: number): void {
    switch (outcome.kind) {
      case 'ok':
        b.latency.observe(outcome.latencyMs, now);
        b.successes.add(1, now);
        b.consecutiveFailures = 0;
        break;
      case 'cancelled':
        break;
      default:
        b.failures.add(1, now);
        b.consecutiveFailures++;
        b.totalFailures++;
    }
  }

  /** A health check result feeds the same decaying history as proxy outcomes. */
  recordCheck(b: Backend, ok: boolean, now: number): void {
    if (ok) b.successes.add(1, now);
    else b.failures.add(1, now);
  }
}
