/**
 * The HTTP (L7) proxy: accepts client connections on raw sockets and hands each to a
 * ClientConn. Owns what all connections share: the upstream keep-alive pools, the deadline
 * sweeper, the slot queue, and the graceful shutdown.
 */
import { LoadReportReader } from '../../orca/reported-load.js';
import type { Config } from '../../config/schema.js';
import type { RaceSettings } from '../../balancer/race.js';
import type { Pool } from '../../pool/pool.js';
import { RateLimitedLog } from '../../util/log.js';
import { DeadlineSweeper, tickFor } from '../deadlines.js';
import type { ProxyDeps } from '../deps.js';
import { keySource } from '../key.js';
import { ClientConn } from './client.js';
import type { ProxyContext } from './context.js';
import { SlotQueue } from './slot-queue.js';
import { UpstreamPool } from './upstream.js';
import { Acceptor, type ListenSpec } from '../uv/acceptor.js';
import { AddressRanges } from '../../util/address.js';
import { requestPolicy } from '../../strategies/registry.js';
import { AccessLog, type AccessLineSink } from '../../accesslog/access-log.js';
import { ProxyHeaderGate, inboundSettings } from '../proxy-protocol/gate.js';
import type { ProxyAddresses } from '../proxy-protocol/header.js';
import type { UvTcp } from '../uv/handles.js';
import { RawSocket } from '../uv/socket.js';
import { NO_LISTENER, type ProxySocket } from '../socket.js';
import { loadListenerCerts, type ListenerCerts } from '../tls/certs.js';
import { TlsTerminator } from '../tls/listener.js';
import type { Backend } from '../../pool/backend.js';

/** Request bodies up to this size are kept for retries even when no strategy hedges larger ones. */
const MIN_REPLAY_BYTES = 64 * 1024;

function timeoutsOf(config: Config): number[] {
  const t = config.timeouts;
  return [t.connectMs, t.responseHeadersMs, t.clientHeadersMs, t.clientBodyMs, config.limits.queueTimeoutMs];
}

export class HttpProxy {
  private readonly acceptor: Acceptor;
  private readonly px: ProxyContext;
  private readonly conns = new Set<ClientConn>();
  private readonly rejections: RateLimitedLog;
  /** listen.proxyProtocol: connections wait here for their header before a ClientConn exists. */
  private readonly gate: ProxyHeaderGate;
  /** TLS termination (listen.tls), or null: plain HTTP on raw sockets. */
  private readonly tls: TlsTerminator | null;
  /** Where a worker's access-log lines go (ProxyDeps.accessLogSink), or null: its own file. */
  private readonly accessLogSink: AccessLineSink | null;

  constructor(deps: ProxyDeps) {
    const { config } = deps;
    const sweeper = new DeadlineSweeper(deps.now, tickFor(timeoutsOf(config)));
    const requests = requestPolicy(config);
    this.accessLogSink = deps.accessLogSink ?? null;
    this.px = {
      config,
      pool: deps.pool,
      active: deps.active,
      policy: deps.policy,
      stats: deps.stats,
      now: deps.now,
      sweeper,
      upstreams: new UpstreamPool(HttpProxy.upstreamSettings(config), (err) => deps.log.error({ err }, 'response handling failed')),
      queue: new SlotQueue(HttpProxy.queueCapacity(config, deps.pool)),
      log: deps.log,
      race: { active: deps.active, policy: deps.policy, now: deps.now, settings: HttpProxy.raceSettings(config, requests) },
      keySource: keySource(deps.active.requestKey),
      backendHeaderName: config.proxy.backendHeader ?? '',
      idempotentHeader: requests.idempotentHeader?.toLowerCase() ?? '',
      replayLimit: Math.max(MIN_REPLAY_BYTES, requests.maxHedgeBodyBytes),
      trustedProxies: new AddressRanges(config.proxy.trustedProxies),
      accessLog: AccessLog.create(config.accessLog, Math.random, this.accessLogSink),
      loadReports: new LoadReportReader(),
      draining: false,
    };
    this.rejections = new RateLimitedLog(deps.log);
    this.gate = new ProxyHeaderGate(inboundSettings(config), deps.stats, this.rejections);
    // Certificates are checked before anything listens: a bad file fails the start, naming it.
    const certs = config.listen.tls === undefined ? null : loadListenerCerts(config.listen.tls);
    this.tls =
      certs === null
        ? null
        : new TlsTerminator(certs, config.timeouts.clientHeadersMs, {
            secured: (socket, origin) => this.serve(socket, null, origin, null),
            failed: (err, client) => {
              deps.stats.rejected('tls_handshake');
              this.rejections.warn('tls_handshake', { client, err: err.code ?? err.message }, 'TLS handshake failed');
            },
          });
    // Client connections are half-open capable: a client's FIN means "no more requests",
    // and what it asked for is still answered (see ClientConn.onEnd).
    this.acceptor = new Acceptor(
      {
        accept: (client) => {
          if (this.px.config.listen.proxyProtocol) this.gate.admit(client, this.startConn);
          else if (this.tls === null) this.serve(new RawSocket(client, NO_LISTENER), client, null, null);
          else this.tls.accept(client);
        },
        // Connections still waiting for their PROXY header or in their TLS handshake count too.
        openCount: () => this.conns.size + this.gate.pending + (this.tls?.pending ?? 0),
        limit: () => this.px.config.limits.maxClientConnections,
        draining: () => this.px.draining,
      },
      deps.stats,
      this.rejections,
    );
    // The key follows the running strategy: a switch (admin API) or a reload may change it.
    deps.active.onChange(() => {
      this.px.keySource = keySource(deps.active.requestKey);
    });
    // Backends leaving the pool (removed, disabled) keep no idle connections.
    deps.pool.onChange((pool) => {
      for (const b of pool.backends) if (!b.ready) this.px.upstreams.closeIdle(b);
      this.px.queue.capacity = HttpProxy.queueCapacity(this.px.config, pool);
    });
  }

  private static upstreamSettings(config: Config) {
    return {
      maxIdlePerBackend: config.limits.maxIdlePerBackend,
      keepAliveMs: config.timeouts.backendKeepAliveMs,
      bodyIdleMs: config.timeouts.upstreamIdleMs,
    };
  }

  private static raceSettings(config: Config, requests: ReturnType<typeof requestPolicy>): RaceSettings {
    return { maxConnectionsPerBackend: config.limits.maxConnectionsPerBackend, maxHedgeBodyBytes: requests.maxHedgeBodyBytes };
  }

  private static queueCapacity(config: Config, pool: Pool): number {
    return config.limits.maxQueuePerBackend * Math.max(1, pool.backends.length);
  }

  /**
   * A connection whose PROXY header was read: it serves requests from now on, or starts its
   * TLS handshake (the header comes before the handshake on the wire).
   */
  private readonly startConn = (client: UvTcp, origin: ProxyAddresses | null, preface: Buffer | null): void => {
    if (this.px.draining) return client.close();
    if (this.tls !== null) this.tls.accept(client, origin, preface);
    else this.serve(new RawSocket(client, NO_LISTENER), client, origin, preface);
  };

  /** A client connection ready for HTTP (plain at once, TLS after its handshake). */
  private serve(socket: ProxySocket, handle: UvTcp | null, origin: ProxyAddresses | null, preface: Buffer | null): void {
    const conn = new ClientConn(socket, this.px, this.rejections, this.forget, handle, origin, preface);
    this.conns.add(conn);
    // Its handshake ended after the stop began: it gets what drain() gives idle connections.
    if (this.px.draining) conn.drain();
  }

  /** Whether the listener terminates TLS. */
  get terminatesTls(): boolean {
    return this.tls !== null;
  }

  /** New certificates and handshake timeout (reload, already checked by loadListenerCerts). */
  updateCertificates(certs: ListenerCerts, handshakeTimeoutMs: number): void {
    this.tls?.update(certs, handshakeTimeoutMs);
  }

  /** Closes the idle keep-alive connections to a backend (its TLS settings changed on reload). */
  closeIdle(backend: Backend): void {
    this.px.upstreams.closeIdle(backend);
  }

  private readonly forget = (conn: ClientConn): void => {
    this.conns.delete(conn);
  };

  listen(port: number, host: string, spec?: ListenSpec): Promise<{ host: string; port: number }> {
    return this.acceptor.listen(port, host, spec);
  }

  /**
   * New config (reload): timeouts, limits and header settings apply to new requests. The key
   * source is the running strategy's, updated when the ActiveStrategy is reconfigured.
   */
  reconfigure(config: Config): void {
    const px = this.px;
    const requests = requestPolicy(config);
    px.config = config;
    px.backendHeaderName = config.proxy.backendHeader ?? '';
    px.idempotentHeader = requests.idempotentHeader?.toLowerCase() ?? '';
    px.replayLimit = Math.max(MIN_REPLAY_BYTES, requests.maxHedgeBodyBytes);
    px.trustedProxies = new AddressRanges(config.proxy.trustedProxies);
    this.gate.settings = inboundSettings(config);
    px.upstreams.settings = HttpProxy.upstreamSettings(config);
    Object.assign(px.race.settings, HttpProxy.raceSettings(config, requests));
    px.queue.capacity = HttpProxy.queueCapacity(config, px.pool);
    const log = px.accessLog?.settings;
    const next = config.accessLog;
    if (log === undefined ? next.enabled : log.enabled !== next.enabled || log.path !== next.path || log.sample !== next.sample) {
      void px.accessLog?.close();
      px.accessLog = AccessLog.create(next, Math.random, this.accessLogSink);
    }
  }

  /** Appends access-log lines a worker formatted (src/workers); dropped when the log is off here. */
  writeAccessLines(lines: readonly string[]): void {
    this.px.accessLog?.writeLines(lines);
  }

  /** SIGUSR1: the access log file is reopened (logrotate moved it away). */
  reopenAccessLog(): void {
    this.px.accessLog?.reopen();
  }

  /**
   * Wakes the oldest request waiting for a backend slot, if one waits. Alone, a slot frees when
   * one of this proxy's requests ends, which wakes a waiter already; on several workers the
   * slot may free on another worker, which cannot reach this queue, so workers call this on a
   * short tick (src/workers/thread.ts).
   */
  wakeQueued(): void {
    // Each waiter looks once: one that finds no slot joins the end of the queue again.
    const queue = this.px.queue;
    for (let n = queue.length; n > 0 && queue.length > 0; n--) queue.slotFreed();
  }

  /** Client connections open now, how many are answering a request, and the request bytes they hold. */
  connections(): { open: number; busy: number; bufferedBytes: number } {
    let busy = 0;
    let bufferedBytes = 0;
    for (const c of this.conns) {
      if (c.busy) busy++;
      bufferedBytes += c.bufferedBytes;
    }
    return { open: this.conns.size, busy, bufferedBytes };
  }

  /**
   * Graceful stop: no new connections; idle ones close now, busy ones after their response;
   * after `deadlineMs` whatever is left is cut. Resolves when every connection is gone.
   */
  async close(deadlineMs: number): Promise<void> {
    this.px.draining = true;
    const closed = this.acceptor.close();
    this.gate.closeAll();
    for (const c of this.conns) c.drain();
    const start = Date.now();
    while (this.conns.size + (this.tls?.pending ?? 0) > 0 && Date.now() - start < deadlineMs) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.tls?.destroyPending();
    for (const c of this.conns) c.destroy();
    // Closing is asynchronous (libuv close callbacks): wait, briefly, until every connection
    // reported itself closed, so the counts (a tunnel's in-flight entry) are final on return.
    const cut = Date.now();
    while (this.conns.size > 0 && Date.now() - cut < 1_000) await new Promise((r) => setTimeout(r, 5));
    this.px.upstreams.closeAll();
    this.px.sweeper.stop();
    await Promise.all([closed, this.px.accessLog?.close()]);
  }
}
