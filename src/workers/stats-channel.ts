/**
 * Workers' statistics, carried to the main thread so the admin API, /metrics and the dashboard
 * count the whole balancer. A worker records what its proxy reports (the StatsRecorder calls,
 * and each attempt's outcome) into a flat array of numbers, and sends it every ~50 ms; the main
 * thread replays each call into its Stats and each outcome into its pool (latency, failures,
 * outlier detection), so the figures are the ones one event loop would have counted, at most one
 * batch late. Backends travel as indexes into the batch's address list.
 *
 * Access-log lines (already formatted and sampled by the worker) travel in the same batch and
 * are appended by the main thread, the log's one writer; lines of different workers are in
 * the file in the order their batches arrived, so times may step back by up to one interval.
 *
 * The strategy's own figures (`/api/algorithm-metrics`) are a worker's learning state, so they
 * travel as they are, about once a second, and are shown per worker (plane.ts).
 */
import type { Backend, Outcome, OutcomeKind } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { Stats } from '../stats/stats.js';
import { REJECT_REASONS } from '../stats/stats.js';
import type { RejectReason, StatsRecorder } from '../stats/recorder.js';

const REQUEST = 0;
const RETRIED = 1;
const HEDGE_SENT = 2;
const HEDGE_WON = 3;
const REJECTED = 4;
const CONNECTION = 5;
const OUTCOME = 6;
const TUNNEL = 7;

const OUTCOME_KINDS: readonly OutcomeKind[] = ['ok', 'http_5xx', 'connect', 'reset', 'timeout', 'cancelled'];

export interface StrategyFigures {
  name: string;
  global: Record<string, unknown> | undefined;
  /** serverMetrics by backend address. */
  servers: Record<string, Record<string, unknown>>;
}

export interface StatsBatch {
  nums: number[];
  /** Client addresses of REQUEST records, in order. */
  clients: string[];
  /** Backend addresses the records index. */
  backends: string[];
  /** Access-log lines, each with its newline. */
  lines: string[];
  strategy?: StrategyFigures;
}

/** A worker's recorder: cheap appends on the hot path, one message per interval. */
export class StatsBatcher implements StatsRecorder {
  private nums: number[] = [];
  private clients: string[] = [];
  private backends: string[] = [];
  private lines: string[] = [];
  private index = new Map<Backend, number>();

  private b(backend: Backend | undefined): number {
    if (backend === undefined) return -1;
    let i = this.index.get(backend);
    if (i === undefined) {
      i = this.backends.length;
      this.backends.push(backend.address);
      this.index.set(backend, i);
    }
    return i;
  }

  requestFinished(backend: Backend | undefined, status: number, durationMs: number, clientAddress: string): void {
    this.nums.push(REQUEST, this.b(backend), status, durationMs);
    this.clients.push(clientAddress);
  }

  retried(backend: Backend | undefined, kind: 'failover' | 'retry'): void {
    this.nums.push(RETRIED, this.b(backend), kind === 'retry' ? 1 : 0);
  }

  hedgeSent(): void {
    this.nums.push(HEDGE_SENT);
  }

  hedgeWon(): void {
    this.nums.push(HEDGE_WON);
  }

  rejected(reason: RejectReason): void {
    this.nums.push(REJECTED, REJECT_REASONS.indexOf(reason));
  }

  connectionFinished(backend: Backend | undefined, ok: boolean, durationMs: number, bytesIn: number, bytesOut: number): void {
    this.nums.push(CONNECTION, this.b(backend), ok ? 1 : 0, durationMs, bytesIn, bytesOut);
  }

  tunnelFinished(backend: Backend, bytesIn: number, bytesOut: number): void {
    this.nums.push(TUNNEL, this.b(backend), bytesIn, bytesOut);
  }

  /** An access-log line (the worker's AccessLog sink). */
  readonly accessLine = (line: string): void => {
    this.lines.push(line);
  };

  /** An attempt's outcome (an ActiveStrategy observer). */
  readonly outcome = (backend: Backend, outcome: Outcome): void => {
    this.nums.push(OUTCOME, this.b(backend), OUTCOME_KINDS.indexOf(outcome.kind), outcome.status, outcome.latencyMs);
  };

  /** What was recorded since the last take, or undefined when nothing was. */
  take(): StatsBatch | undefined {
    if (this.nums.length === 0 && this.lines.length === 0) return undefined;
    const batch = { nums: this.nums, clients: this.clients, backends: this.backends, lines: this.lines };
    this.nums = [];
    this.clients = [];
    this.backends = [];
    this.lines = [];
    this.index = new Map();
    return batch;
  }
}

/** Where the main thread replays a batch. */
export interface ReplayTarget {
  stats: Stats;
  pool: Pool;
  /** Outcome observers of the main thread (outlier detection). */
  observe(b: Backend, outcome: Outcome, now: number): void;
}

/** Replays a worker's batch on the main thread. Backends no longer in the pool count as "no backend". */
export function replay(batch: StatsBatch, target: ReplayTarget): void {
  const { stats, pool } = target;
  const now = pool.clock.now();
  const byAddress = new Map<string, Backend>();
  for (const b of pool.backends) byAddress.set(b.address, b);
  const backends = batch.backends.map((a) => byAddress.get(a));
  const n = batch.nums;
  let client = 0;
  for (let i = 0; i < n.length; ) {
    switch (n[i]) {
      case REQUEST:
        stats.requestFinished(backends[n[i + 1]!], n[i + 2]!, n[i + 3]!, batch.clients[client++] ?? '');
        i += 4;
        break;
      case RETRIED:
        stats.retried(backends[n[i + 1]!], n[i + 2] === 1 ? 'retry' : 'failover');
        i += 3;
        break;
      case HEDGE_SENT:
        stats.hedgeSent();
        i += 1;
        break;
      case HEDGE_WON:
        stats.hedgeWon();
        i += 1;
        break;
      case REJECTED:
        stats.rejected(REJECT_REASONS[n[i + 1]!] ?? 'bad_request');
        i += 2;
        break;
      case CONNECTION:
        stats.connectionFinished(backends[n[i + 1]!], n[i + 2] === 1, n[i + 3]!, n[i + 4]!, n[i + 5]!);
        i += 6;
        break;
      case TUNNEL: {
        // A tunnel to a backend the main thread has removed since is dropped (Stats keys bytes by backend).
        const b = backends[n[i + 1]!];
        if (b !== undefined) stats.tunnelFinished(b, n[i + 2]!, n[i + 3]!);
        i += 4;
        break;
      }
      case OUTCOME: {
        const b = backends[n[i + 1]!];
        if (b !== undefined) {
          const outcome: Outcome = { kind: OUTCOME_KINDS[n[i + 2]!] ?? 'reset', status: n[i + 3]!, latencyMs: n[i + 4]! };
          b.totalRequests++;
          pool.record(b, outcome, now);
          target.observe(b, outcome, now);
        }
        i += 5;
        break;
      }
      default:
        throw new Error(`stats batch: unknown record ${n[i]} at ${i}`);
    }
  }
}
