/**
 * Discovery from etcd v3 (key layout in etcd-keys.ts). A view is one read of PREFIX/servers/
 * and PREFIX/strategy; its version is the etcd revision of that read. A watch on the same range
 * triggers a re-read on every change (milliseconds, not a poll), and each (re)attached watch
 * re-reads too, so changes made while it was away are not lost.
 *
 * The last good view stays in force whatever happens to the store: while etcd is unreachable
 * (status says so) and when the keys say something unusable (no servers, a malformed strategy).
 * Recovery is by itself: etcd3 reattaches the watch, and while not connected a read is retried
 * every RETRY_MS.
 *
 * Each instance also writes PREFIX/instances/ID under a lease (kept alive by etcd3), saying which
 * view version it runs (and a digest of it), so `ballast fleet` can show who is behind. The key
 * dies with the lease if the instance does.
 */
import os from 'node:os';
import type { Etcd3, IWatchResponse, Lease, Watcher } from 'etcd3';
import type { Logger } from '../util/log.js';
import { SerialRerun } from '../util/serial-rerun.js';
import { etcdClient, etcdErrorText, CALL_DEADLINE_MS } from './etcd-client.js';
import { fleetKeys, readViewContent, sameContent, viewDigest, type FleetKeys, type InstanceRecord } from './etcd-keys.js';
import type { DiscoveredView, Discovery, DiscoveryStatus } from './types.js';

/** The instance key outlives a dead instance by at most this (etcd3 renews it every third of it). */
const LEASE_TTL_S = 5;
/** While not connected, reads (and a failed registration) are retried this often. */
const RETRY_MS = 1_000;
/** stop() waits this long for etcd to confirm the watch's end; the client is closed after anyway. */
const CANCEL_WAIT_MS = 1_000;

export interface EtcdSettings {
  endpoints: string[];
  prefix: string;
  instanceId?: string | undefined;
}

/** Where this instance serves, as written under PREFIX/instances/ID. */
export interface EtcdRegistration {
  /** HOST:PORT of the balancer. */
  listen: string;
  /** HOST:PORT of the admin API, or null when it is off. */
  admin: string | null;
}

/** Resolves with `p`, or with nothing once `ms` passed; never rejects. */
function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((r) => (timer = setTimeout(r, ms)));
  return Promise.race([p.then(() => undefined, () => undefined), timeout]).finally(() => clearTimeout(timer));
}

export class EtcdDiscovery implements Discovery {
  readonly instanceId: string;
  private readonly keys: FleetKeys;
  private readonly instanceKey: string;
  private client: Etcd3 | null = null;
  private watcher: Watcher | null = null;
  private lease: Lease | null = null;
  private onView: ((view: DiscoveredView) => void) | null = null;
  private firstView: { resolve(): void; reject(err: Error): void } | null = null;
  private stopped = false;
  private since = 0;

  /** The view in force (last one emitted) and when it was. */
  private view: DiscoveredView | null = null;
  private updatedAt: number | null = null;
  /** The latest read whose content equals the view in force: the view's version, or newer. */
  private version: string | null = null;

  /** The last read worked. */
  private readOk = false;
  /** The watch is attached (etcd confirmed it). */
  private watchUp = false;
  /** Connected as last logged, so the log says "lost" and "connected" once each, not per retry. */
  private loggedConnected = false;
  /** Why the store is unreachable (kept until a read and the watch both work again). */
  private storeError: string | null = null;
  /** Why the last read was refused or entries skipped; null when it was clean. */
  private viewError: string | null = null;
  private lastProblems = '';

  /** Reads of the view range, one at a time (a watch event during a read asks for one more). */
  private readonly reads = new SerialRerun(() => this.readOnce(), () => !this.stopped && this.client !== null);
  private retryTimer: NodeJS.Timeout | null = null;
  private rewatchTimer: NodeJS.Timeout | null = null;
  /** Writes of the instance key, one at a time. */
  private readonly registrations = new SerialRerun(() => this.registerOnce(), () => !this.stopped && this.client !== null);
  private registerTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly settings: EtcdSettings,
    private readonly log: Logger,
    private readonly registration: EtcdRegistration,
  ) {
    this.keys = fleetKeys(settings.prefix);
    const listenPort = registration.listen.slice(registration.listen.lastIndexOf(':') + 1);
    this.instanceId = settings.instanceId ?? `${os.hostname()}:${listenPort}:${process.pid}`;
    this.instanceKey = `${this.keys.instances}${this.instanceId}`;
  }

  start(onView: (view: DiscoveredView) => void, firstViewMs: number): Promise<void> {
    if (this.client !== null || this.stopped) return Promise.reject(new Error('EtcdDiscovery.start(): already started'));
    this.onView = onView;
    this.since = Date.now();
    this.client = etcdClient(this.settings.endpoints);
    const first = new Promise<void>((resolve, reject) => (this.firstView = { resolve, reject }));
    const timer = setTimeout(() => {
      const why = this.viewError ?? this.storeError ?? 'no answer yet';
      this.firstView?.reject(new Error(`etcd ${this.settings.endpoints.join(',')}: no view under ${this.keys.prefix} within ${firstViewMs} ms (${why}); still trying`));
      this.firstView = null;
    }, firstViewMs);
    this.watch();
    this.register();
    this.refresh();
    return first.finally(() => clearTimeout(timer));
  }

  status(): DiscoveryStatus {
    return {
      source: 'etcd',
      connected: this.connected(),
      version: this.version,
      servers: this.view?.servers.length ?? 0,
      updatedAt: this.updatedAt,
      lastError: (this.connected() ? null : this.storeError) ?? this.viewError,
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.retryTimer, this.rewatchTimer, this.registerTimer]) if (t !== null) clearTimeout(t);
    this.firstView?.reject(new Error('etcd discovery stopped before its first view'));
    this.firstView = null;
    const client = this.client;
    if (client === null) return;
    // A watcher left attached keeps etcd3 reconnecting it forever, even after close().
    if (this.watcher !== null) await settleWithin(this.watcher.cancel(), CANCEL_WAIT_MS);
    // Revoking deletes the instance key now rather than when the lease runs out.
    if (this.lease !== null) await settleWithin(this.lease.revoke(), CALL_DEADLINE_MS);
    client.close();
  }

  private connected(): boolean {
    return this.readOk && this.watchUp;
  }

  private watch(): void {
    // watcher(), not create(): create() hands the watcher over only once it attached, so one
    // started while etcd is down could not be cancelled by stop().
    const w = this.client!.watch().inRange(this.keys.view).watcher();
    this.watcher = w;
    w.on('connected', () => {
      this.watchUp = true;
      this.noteConnection();
      this.refresh();
    });
    w.on('disconnected', (err: Error) => {
      this.watchUp = false;
      this.lost(err);
    });
    w.on('data', (res: IWatchResponse) => {
      // Progress notifications carry no events and change nothing.
      if (res.events.length > 0) this.refresh();
    });
    w.on('error', (err: Error) => {
      // etcd cancelled the watch (say its revision was compacted while we were away); etcd3 has
      // dropped it. A new one from now, after a pause so a watch refused at once does not spin.
      if (this.stopped) return;
      this.watchUp = false;
      this.lost(err);
      if (this.watcher !== w || this.rewatchTimer !== null) return;
      this.watcher = null;
      this.rewatchTimer = setTimeout(() => {
        this.rewatchTimer = null;
        if (!this.stopped) this.watch();
      }, RETRY_MS);
    });
  }

  /** Reads the view range now, or once more after the read in progress. */
  private refresh(): void {
    this.reads.request();
  }

  private async readOnce(): Promise<void> {
    try {
      const res = await this.client!.getAll().inRange(this.keys.view).exec();
      if (this.stopped) return;
      this.readOk = true;
      this.noteConnection();
      this.apply(res.kvs, res.header.revision);
    } catch (err) {
      if (this.stopped) return;
      this.readOk = false;
      this.lost(err);
    }
  }

  private apply(kvs: Parameters<typeof readViewContent>[0], revision: string): void {
    const content = readViewContent(kvs, this.keys);
    const problems = content.problems.join('; ');
    if (problems !== this.lastProblems) for (const p of content.problems) this.log.warn({ prefix: this.keys.prefix, revision }, `etcd discovery: ${p}`);
    this.lastProblems = problems;

    let refused: string | null = null;
    if (content.strategyRefused) refused = `${problems}: keeping the last view`;
    else if (content.servers.length === 0) refused = [...content.problems, `no servers under ${this.keys.prefix}/servers: keeping the last view`].join('; ');
    if (refused !== null) {
      if (refused !== this.viewError) this.log.warn({ prefix: this.keys.prefix, revision }, `etcd discovery: ${refused}`);
      this.viewError = refused;
      return;
    }
    this.viewError = problems === '' ? null : problems;

    if (this.view !== null && sameContent(this.view, content)) {
      this.setVersion(revision);
      return;
    }
    const view: DiscoveredView = { servers: content.servers, version: revision };
    if (content.strategy !== undefined) view.strategy = content.strategy;
    try {
      this.onView!(view);
    } catch (err) {
      // Not applied, so not in force: the next read offers it again.
      this.viewError = `view ${revision} not applied: ${(err as Error).message}`;
      this.log.error({ err, revision }, 'etcd discovery: applying a view failed');
      return;
    }
    this.view = view;
    this.updatedAt = Date.now();
    this.setVersion(revision);
    this.log.info({ prefix: this.keys.prefix, revision, servers: view.servers.length, strategy: view.strategy?.name }, 'etcd discovery: new view');
    this.firstView?.resolve();
    this.firstView = null;
  }

  private setVersion(version: string): void {
    if (this.version === version) return;
    this.version = version;
    this.register();
  }

  /** The store did not answer (a read, the watch, the lease keep-alive): say so and retry. */
  private lost(err: unknown): void {
    if (this.stopped) return;
    this.storeError = `etcd unreachable: ${etcdErrorText(err)}`;
    this.noteConnection();
  }

  /**
   * Called after every change of readOk or watchUp: logs a change of connection state, and
   * schedules a read while not connected.
   */
  private noteConnection(): void {
    if (this.stopped) return;
    if (this.connected()) {
      if (!this.loggedConnected) this.log.info({ prefix: this.keys.prefix, version: this.version }, 'etcd discovery: connected');
      this.loggedConnected = true;
      this.storeError = null;
      if (this.retryTimer !== null) clearTimeout(this.retryTimer);
      this.retryTimer = null;
      return;
    }
    if (this.loggedConnected) this.log.warn({ prefix: this.keys.prefix, err: this.storeError }, 'etcd discovery: lost etcd, keeping the last view');
    this.loggedConnected = false;
    if (this.retryTimer === null) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.refresh();
      }, RETRY_MS);
    }
  }

  /** Writes the instance key now, or once more after the write in progress. */
  private register(): void {
    this.registrations.request();
  }

  /** One write of the instance key; false when it failed (a retry is scheduled). */
  private async registerOnce(): Promise<boolean> {
    const record: InstanceRecord = {
      id: this.instanceId,
      listen: this.registration.listen,
      admin: this.registration.admin,
      version: this.version,
      digest: this.view === null ? null : viewDigest(this.view),
      since: this.since,
    };
    try {
      this.lease ??= this.newLease();
      await this.lease.put(this.instanceKey).value(JSON.stringify(record)).exec();
      return true;
    } catch (err) {
      if (this.stopped) return false;
      this.log.debug({ err: etcdErrorText(err) }, 'etcd discovery: writing the instance key failed; retrying');
      this.retryRegister();
      return false;
    }
  }

  private retryRegister(): void {
    if (this.stopped || this.registerTimer !== null) return;
    this.registerTimer = setTimeout(() => {
      this.registerTimer = null;
      this.register();
    }, RETRY_MS);
  }

  private newLease(): Lease {
    const lease = this.client!.lease(LEASE_TTL_S);
    lease.on('lost', (err: Error) => {
      // etcd3 gave the lease up (not renewed for two TTLs, or etcd says it expired): the key
      // went with it. A new lease and a new write, once etcd answers.
      if (this.lease === lease) this.lease = null;
      if (this.stopped) return;
      this.log.warn({ err: etcdErrorText(err) }, 'etcd discovery: instance lease lost; registering again');
      this.retryRegister();
    });
    // The keep-alive stream notices a silent etcd (frozen, partitioned) within a TTL, where the
    // watch stream may not: re-read to find out.
    lease.on('keepaliveFailed', (err: unknown) => {
      this.readOk = false;
      this.lost(err);
    });
    return lease;
  }
}
