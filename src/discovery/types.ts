/**
 * Service discovery: where the list of backends (and, from etcd, optionally the strategy and its
 * options) comes from when it is not the config file. A source produces views; the app applies
 * each view as a reload of the servers (src/app/discovery.ts). A source that loses its store
 * keeps its last good view and says so in its status; it recovers by itself.
 */
import type { ServerConfig } from '../config/schema.js';

/** What a discovery source says the fleet should run now. */
export interface DiscoveredView {
  /** The backends, already validated like the config file's `servers` (never empty). */
  servers: ServerConfig[];
  /** From etcd only: the strategy every instance should run, and its options (merged over the file's). */
  strategy?: { name: string; options?: Record<string, unknown> } | undefined;
  /**
   * Identifies the view. DNS SRV: a digest of the records, equal on every instance that reads the
   * same ones. etcd: the revision of the read, which moves with every write to the store, so two
   * instances running the same view may show different revisions (`ballast fleet` compares the
   * views' digests to say who is behind).
   */
  version: string;
}

export interface DiscoveryStatus {
  source: 'etcd' | 'dns-srv';
  /** Reaching the store now (the last read or watch worked). */
  connected: boolean;
  /** The view in force (the last good one), or null before the first. */
  version: string | null;
  /** Backends in the view in force. */
  servers: number;
  /** When the view in force was received (ms since the epoch), or null. */
  updatedAt: number | null;
  /** Why the store is unreachable or the last view was refused, or null. */
  lastError: string | null;
}

/** What /api/status and /metrics show: the source's status and the view this instance runs. */
export interface FleetStatus extends DiscoveryStatus {
  /** The version of the view applied here (see DiscoveredView.version), or null. */
  applied: string | null;
  /** Why the newest view was not applied, or null. */
  refused: string | null;
}

export interface Discovery {
  /**
   * Starts watching; `onView` receives each new view (the first one too). Resolves once the
   * first view arrived, or rejects after `firstViewMs` without one (the source keeps trying).
   */
  start(onView: (view: DiscoveredView) => void, firstViewMs: number): Promise<void>;
  status(): DiscoveryStatus;
  stop(): Promise<void>;
}
