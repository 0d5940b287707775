/**
 * The messages between the main thread and its workers. The main thread owns the config,
 * the backends' readiness (health checks, outlier ejections, the admin switch) and the
 * strategy's name; workers own their connections and report what happened on them.
 */
import type { Config } from '../config/schema.js';
import type { StatsBatch } from './stats-channel.js';

/** What a worker is started with (its workerData). */
export interface WorkerInit {
  index: number;
  config: Config;
  /** Address-to-slot table of the shared counters (shared-load.ts). */
  slots: Array<[string, number]>;
  load: SharedArrayBuffer;
  workers: number;
  strategy: string;
  backends: BackendState[];
  /** Where the listener comes from: each worker's own SO_REUSEPORT socket, or a dup of the main thread's. */
  listen: { reusePort: true } | { handoffPath: string };
  statsIntervalMs: number;
  /** The main thread's log level ('silent' in tests); workers log to stderr themselves. */
  logLevel: string;
}

/** A backend's readiness as the main thread decided it. */
export interface BackendState {
  address: string;
  enabled: boolean;
  healthy: boolean;
  /** Milliseconds of ejection left (0: not ejected); clocks differ between threads, durations do not. */
  ejectedForMs: number;
}

export type ToWorker =
  | { type: 'config'; config: Config; slots: Array<[string, number]>; strategy: string }
  | { type: 'strategy'; name: string }
  | { type: 'backends'; backends: BackendState[] }
  | { type: 'stop'; deadlineMs: number }
  | { type: 'report'; id: number };

export type FromWorker =
  | { type: 'ready'; host: string; port: number }
  | { type: 'failed'; message: string; code: string | undefined; configError: boolean }
  | { type: 'stats'; batch: StatsBatch }
  | { type: 'stopped' }
  | { type: 'report'; id: number; report: WorkerReport };

/** What a worker runs now, as it sees it (for operators' debugging and the tests). */
export interface WorkerReport {
  index: number;
  strategy: string;
  /** Addresses of the backends taking new requests here. */
  ready: string[];
  servers: string[];
  /** In-flight requests this worker holds (its row of the shared counters). */
  inflight: number;
}
