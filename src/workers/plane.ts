/**
 * The main thread's side of a balancer on several workers: starts the workers, hands each its
 * listener, restarts one that dies (with backoff, the listener staying open), and passes every
 * change the main thread makes to all of them: a reload (SIGHUP, file watch, discovery), a
 * strategy switch, a backend's readiness (health checks, ejections, the admin switch), the
 * drain on stop. Their statistics come back here and are replayed into the main thread's
 * Stats and pool, which the admin API reads.
 */
import { Worker } from 'node:worker_threads';
import type { Ballast } from '../app/ballast.js';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Pool } from '../pool/pool.js';
import { HttpProxy } from '../proxy/http/server.js';
import { listenHandle, reusePortSupported, type UvTcp } from '../proxy/uv/handles.js';
import type { Logger } from '../util/log.js';
import { bindListener, HandoffServer } from './handoff.js';
import type { BackendState, FromWorker, ToWorker, WorkerInit, WorkerReport } from './protocol.js';
import type { SharedLoad, SlotTable } from './shared-load.js';
import { replay, type StrategyFigures } from './stats-channel.js';

/** First restart delay after a worker dies; it doubles on each death in a row, up to the max. */
export const RESTART_MIN_MS = 50;
export const RESTART_MAX_MS = 5_000;
/** A worker up this long resets its slot's backoff. */
const STABLE_MS = 10_000;
/** How long past the drain deadline a worker may take to say it stopped before it is ended. */
const STOP_GRACE_MS = 2_000;
/** How long inspect() waits for a worker's answer. */
const INSPECT_MS = 2_000;
/** How often workers send their statistics. */
export const STATS_INTERVAL_MS = 50;

export interface PlaneOptions {
  count: number;
  slots: SlotTable;
  load: SharedLoad;
  log: Logger;
  /** Use the Node 20 fallback (a dup of one listener per worker) even where SO_REUSEPORT works. */
  forceHandoff?: boolean;
}

export interface WorkersStatus {
  count: number;
  up: number;
  restarts: number;
  /** How the workers share the listen address. */
  listener: 'reuseport' | 'handoff';
}

interface Slot {
  index: number;
  worker: Worker | null;
  up: boolean;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | null;
  stableTimer: NodeJS.Timeout | null;
  figures: StrategyFigures | undefined;
  stopped: (() => void) | null;
}

/** A backend's readiness as workers get it. */
function backendStates(pool: Pool): BackendState[] {
  const now = pool.clock.now();
  return pool.backends.map((b) => ({
    address: b.address,
    enabled: b.enabled,
    healthy: b.healthy,
    ejectedForMs: b.ejectedUntil === 0 ? 0 : Math.max(1, b.ejectedUntil - now),
  }));
}

export class WorkerPlane {
  /** Where the workers listen. */
  address = { host: '', port: 0 };
  restarts = 0;
  private readonly slots: Slot[] = [];
  private handoff: HandoffServer | null = null;
  /** The main thread's bound socket in the handoff case (closed last, on stop). */
  private handoffHandle: UvTcp | null = null;
  private listener: { reusePort: true } | { handoffPath: string } = { reusePort: true };
  private stopping = false;
  private readonly reports = new Map<number, (r: WorkerReport) => void>();
  private nextReport = 0;
  private config: Config;

  private constructor(
    private readonly control: Ballast,
    private readonly options: PlaneOptions,
  ) {
    this.config = control.config;
  }

  /** Binds the listen address, starts every worker and resolves once all listen. */
  static async start(control: Ballast, options: PlaneOptions): Promise<WorkerPlane> {
    const plane = new WorkerPlane(control, options);
    await plane.bind();
    control.onChange((change) => {
      if (change.type === 'reload') {
        plane.config = change.config;
        plane.broadcast({ type: 'config', config: plane.workerConfig(), slots: options.slots.entries(), strategy: change.strategy });
        // Backends the reload added: their readiness as the main thread has it (not yet checked).
        plane.broadcast({ type: 'backends', backends: backendStates(control.pool) });
      } else {
        plane.broadcast({ type: 'strategy', name: change.name });
      }
    });
    control.pool.onChange(() => plane.broadcast({ type: 'backends', backends: backendStates(control.pool) }));
    try {
      await Promise.all(Array.from({ length: options.count }, (_, i) => plane.spawn(plane.newSlot(i))));
    } catch (err) {
      await plane.stop(0);
      throw err;
    }
    return plane;
  }

  /**
   * SO_REUSEPORT: a throwaway listen reports a bad address once, here, and settles port 0;
   * then each worker binds its own socket. Otherwise one socket, bound here, dup'ed to each.
   */
  private async bind(): Promise<void> {
    const { host, port } = this.config.listen;
    try {
      if (reusePortSupported() && this.options.forceHandoff !== true) {
        const probe = await listenHandle(host, port, { reusePort: true });
        this.address = { host: probe.host, port: probe.port };
        await new Promise<void>((resolve) => probe.handle.close(resolve));
        this.listener = { reusePort: true };
      } else {
        const bound = await bindListener(host, port);
        this.address = { host: bound.host, port: bound.port };
        this.handoff = HandoffServer.open(bound.handle);
        this.listener = { handoffPath: this.handoff.path };
        this.handoffHandle = bound.handle;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
        throw new ConfigError(`listen: cannot listen on ${host}:${port}: ${code}`);
      }
      throw err;
    }
  }

  /** The config workers run: the port settled (listen.port 0 means the one picked here). */
  private workerConfig(): Config {
    return { ...this.config, listen: { ...this.config.listen, port: this.address.port } };
  }

  private newSlot(index: number): Slot {
    const slot: Slot = { index, worker: null, up: false, backoffMs: RESTART_MIN_MS, restartTimer: null, stableTimer: null, figures: undefined, stopped: null };
    this.slots[index] = slot;
    return slot;
  }

  /** Starts the worker of `slot`; resolves when it listens, rejects if it fails before. */
  private spawn(slot: Slot): Promise<void> {
    const init: WorkerInit = {
      index: slot.index,
      config: this.workerConfig(),
      slots: this.options.slots.entries(),
      load: this.options.load.buffer,
      workers: this.options.count,
      strategy: this.control.active.name,
      backends: backendStates(this.control.pool),
      listen: this.listener,
      statsIntervalMs: STATS_INTERVAL_MS,
      logLevel: this.options.log.level,
    };
    const worker = new Worker(new URL('./thread.js', import.meta.url), { workerData: init, name: `ballast-worker-${slot.index + 1}` });
    slot.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            slot.up = true;
            slot.stableTimer = setTimeout(() => {
              slot.backoffMs = RESTART_MIN_MS;
            }, STABLE_MS);
            slot.stableTimer.unref();
            settled = true;
            resolve();
            return;
          case 'failed':
            if (!settled) {
              settled = true;
              reject(m.configError ? new ConfigError(m.message) : Object.assign(new Error(`worker ${slot.index + 1}: ${m.message}`), { code: m.code }));
            } else {
              this.options.log.error({ worker: slot.index + 1, err: m.message }, 'worker failed');
            }
            return;
          case 'stats':
            this.onStats(slot, m.batch);
            return;
          case 'stopped':
            slot.stopped?.();
            return;
          case 'report':
            this.reports.get(m.id)?.(m.report);
            return;
        }
      });
      worker.on('error', (err) => {
        this.options.log.error({ worker: slot.index + 1, err: err.message }, 'worker crashed');
      });
      worker.on('exit', (code) => {
        slot.up = false;
        slot.worker = null;
        if (slot.stableTimer !== null) clearTimeout(slot.stableTimer);
        // Its requests died with it: what it counted in the shared load goes too.
        this.options.load.forget(slot.index);
        slot.stopped?.();
        if (!settled) {
          settled = true;
          reject(new Error(`worker ${slot.index + 1} exited with code ${code} before listening`));
          return;
        }
        if (this.stopping) return;
        this.restarts++;
        this.options.log.warn({ worker: slot.index + 1, code, restartInMs: slot.backoffMs }, 'worker exited; restarting it (the listener stays open)');
        this.restartLater(slot);
      });
    });
  }

  /**
   * Starts the slot's worker again after its backoff. A restart that fails before listening
   * (a certificate file caught mid-rotation, say) is tried again, the delay still doubling.
   */
  private restartLater(slot: Slot): void {
    const delay = slot.backoffMs;
    slot.backoffMs = Math.min(RESTART_MAX_MS, slot.backoffMs * 2);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (this.stopping) return;
      this.spawn(slot).catch((err: Error) => {
        this.options.log.error({ worker: slot.index + 1, err: err.message }, 'worker restart failed; trying again');
        // A worker that said why it failed is still exiting: its exit schedules the next try.
        if (!this.stopping && slot.worker === null && slot.restartTimer === null) this.restartLater(slot);
      });
    }, delay);
  }

  private onStats(slot: Slot, batch: Parameters<typeof replay>[0]): void {
    if (batch.strategy !== undefined) slot.figures = batch.strategy;
    if (batch.nums.length > 0) {
      replay(batch, { stats: this.control.stats, pool: this.control.pool, observe: this.control.outlier.observe });
    }
    // The main thread's proxy listens nowhere; its access log is the file's one writer.
    if (batch.lines.length > 0 && this.control.proxy instanceof HttpProxy) this.control.proxy.writeAccessLines(batch.lines);
  }

  /** Sends `message` to every running worker (one being restarted gets the state at its start). */
  broadcast(message: ToWorker): void {
    for (const slot of this.slots) slot.worker?.postMessage(message);
  }

  status(): WorkersStatus {
    let up = 0;
    for (const s of this.slots) if (s.up) up++;
    return { count: this.options.count, up, restarts: this.restarts, listener: 'reusePort' in this.listener ? 'reuseport' : 'handoff' };
  }

  /** The strategy's own figures from the first worker that sent some (learning state is per worker). */
  strategyFigures(): StrategyFigures | undefined {
    for (const s of this.slots) if (s.figures !== undefined && s.figures.name === this.control.active.name) return s.figures;
    return undefined;
  }

  /** What each running worker runs now, asked of each (a worker being restarted is left out). */
  async inspect(): Promise<WorkerReport[]> {
    const running = this.slots.filter((s) => s.worker !== null && s.up);
    const replies = running.map(
      (slot) =>
        new Promise<WorkerReport | undefined>((resolve) => {
          const id = this.nextReport++;
          const timer = setTimeout(() => {
            this.reports.delete(id);
            resolve(undefined);
          }, INSPECT_MS);
          this.reports.set(id, (r) => {
            clearTimeout(timer);
            this.reports.delete(id);
            resolve(r);
          });
          slot.worker!.postMessage({ type: 'report', id } satisfies ToWorker);
        }),
    );
    return (await Promise.all(replies)).filter((r): r is WorkerReport => r !== undefined);
  }

  /** The worker threads, for tests that kill one. */
  threads(): Array<Worker | null> {
    return this.slots.map((s) => s.worker);
  }

  /** Drains every worker (in-flight requests get `deadlineMs`), then ends them and closes the listener. */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
        if (slot.stableTimer !== null) clearTimeout(slot.stableTimer);
        const worker = slot.worker;
        if (worker === null) return;
        await new Promise<void>((resolve) => {
          // A worker too stuck to answer is ended anyway, a little after the drain deadline.
          const late = setTimeout(resolve, deadlineMs + STOP_GRACE_MS);
          slot.stopped = () => {
            clearTimeout(late);
            resolve();
          };
          worker.postMessage({ type: 'stop', deadlineMs } satisfies ToWorker);
        });
        await worker.terminate();
      }),
    );
    this.handoff?.close();
    this.handoffHandle?.close();
  }
}
