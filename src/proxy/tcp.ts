/**
 * The TCP (L4) proxy: one balancing decision per client connection, then bytes piped both
 * ways with backpressure. Half-close is honoured (a client that shuts down its sending side
 * still gets the rest of the answer). A failed connect moves on to the next backend; nothing
 * was sent, so this is safe for any protocol.
 */
import { listenOn } from './listen.js';
import net from 'node:net';
import type { Config } from '../config/schema.js';
import type { Backend, InflightEntry, OutcomeKind } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { ActiveStrategy } from '../strategies/active.js';
import { PickContext } from '../strategies/types.js';
import type { StatsRecorder } from '../stats/recorder.js';
import { RateLimitedLog, type Logger } from '../util/log.js';
import type { AttemptPolicy } from './attempts.js';

export interface TcpProxyDeps {
  config: Config;
  pool: Pool;
  active: ActiveStrategy;
  policy: AttemptPolicy;
  stats: StatsRecorder;
  log: Logger;
  now: () => number;
}

/**
 * Copies `from` to `to` with backpressure and turns `from`'s end into `to`'s half-close.
 * Direct 'data' handlers instead of stream.pipe(): pipe's bookkeeping per chunk showed up as
 * a measurable share of L4 CPU (bench:proxy), and this is all the proxy needs of it.
 * `activity` is told of every chunk, for the idle timeout.
 */
function relay(from: net.Socket, to: net.Socket, activity: () => void): void {
  from.on('data', (chunk: Buffer) => {
    activity();
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => {
    if (!to.destroyed && !to.writableEnded) to.end();
  });
}

class TcpSession implements InflightEntry {
  startedAt = 0;
  inflightPrev: InflightEntry | null = null;
  inflightNext: InflightEntry | null = null;
  readonly ctx = new PickContext();
  backend: Backend | undefined;
  upstream: net.Socket | undefined;
  attempts = 0;
  private attemptOpen = false;
  private connected = false;
  private done = false;
  private lastActivity = 0;
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly opened: number;
  private readonly outcome = { kind: 'ok' as OutcomeKind, status: 0, latencyMs: 0 };

  constructor(
    readonly client: net.Socket,
    private readonly proxy: TcpProxy,
    private readonly deps: TcpProxyDeps,
  ) {
    this.opened = deps.now();
    this.ctx.clientAddress = client.remoteAddress ?? '';
    if (deps.active.needsKey) this.ctx.key = this.ctx.clientAddress;
    client.on('error', () => {});
    client.on('close', () => this.close(this.connected ? 'ok' : 'cancelled'));
    deps.policy.onRequest();
    this.connectNext();
  }

  private connectNext(): void {
    const b = this.deps.active.pick(this.ctx);
    if (b === undefined) {
      this.deps.stats.connectionFinished(this.backend, false, this.deps.now() - this.opened, 0, 0);
      this.done = true;
      this.client.destroy();
      return;
    }
    this.backend = b;
    this.ctx.attempt = this.attempts++;
    this.ctx.tried.push(b);
    this.startedAt = this.deps.now();
    this.deps.active.started(b, this, this.ctx);
    this.attemptOpen = true;
    const upstream = net.connect({ host: b.host, port: b.port, allowHalfOpen: true, noDelay: true });
    this.upstream = upstream;
    this.connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), this.deps.config.timeouts.connectMs);
    upstream.once('connect', () => this.onConnect(upstream));
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.connected) this.onConnectFailed(upstream, err);
    });
  }

  private onConnectFailed(upstream: net.Socket, err: NodeJS.ErrnoException): void {
    clearTimeout(this.connectTimer);
    upstream.destroy();
    if (this.done || !this.attemptOpen) return;
    this.endAttempt('connect');
    if (this.client.destroyed) return;
    const decision = this.deps.policy.afterFailure('connect', { idempotent: false, replayable: true, responseStarted: false, attempts: this.attempts });
    this.deps.log.debug({ backend: this.backend?.address, err: err.code ?? err.message }, 'tcp connect failed');
    if (decision === 'failover') {
      this.deps.stats.retried(this.backend, 'failover');
      this.connectNext();
    } else {
      this.client.destroy();
    }
  }

  private onConnect(upstream: net.Socket): void {
    clearTimeout(this.connectTimer);
    if (this.done || this.client.destroyed) {
      upstream.destroy();
      return;
    }
    this.connected = true;
    this.outcome.latencyMs = this.deps.now() - this.startedAt;
    upstream.on('error', () => {});
    // HAProxy's `timeout client` for L4: a connection quiet in both directions for
    // clientIdleMs is closed, so idle connections cannot pile up to the connection limit.
    // One socket's timer firing is not enough: a long one-way stream keeps the other side busy.
    const idleMs = this.deps.config.timeouts.clientIdleMs;
    const touch = (): void => {
      this.lastActivity = this.deps.now();
    };
    touch();
    relay(this.client, upstream, touch);
    relay(upstream, this.client, touch);
    if (idleMs > 0) {
      const onTimeout = (socket: net.Socket): void => {
        const quiet = this.deps.now() - this.lastActivity;
        if (quiet >= idleMs) this.close('ok');
        else socket.setTimeout(Math.max(1, idleMs - quiet));
      };
      this.client.setTimeout(idleMs, () => onTimeout(this.client));
      upstream.setTimeout(idleMs, () => onTimeout(upstream));
    }
    // The backend is gone for good: flush what it sent, then close the client too.
    upstream.on('close', () => {
      const c = this.client;
      if (c.destroyed) return;
      if (!c.writableEnded) c.end();
      if (c.writableFinished) c.destroy();
      else c.once('finish', () => c.destroy());
    });
    this.client.on('close', () => upstream.destroy());
    this.client.resume();
  }

  private endAttempt(kind: OutcomeKind): void {
    if (!this.attemptOpen || this.backend === undefined) return;
    this.attemptOpen = false;
    this.outcome.kind = kind;
    if (kind !== 'ok') this.outcome.latencyMs = this.deps.now() - this.startedAt;
    this.deps.active.ended(this.backend, this, this.outcome, this.ctx);
  }

  close(kind: OutcomeKind): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.connectTimer);
    this.endAttempt(kind);
    this.upstream?.destroy();
    if (!this.client.destroyed) this.client.destroy();
    this.deps.stats.connectionFinished(this.backend, this.connected, this.deps.now() - this.opened, this.client.bytesRead, this.client.bytesWritten);
    this.proxy.forget(this);
  }
}

export class TcpProxy {
  private readonly server: net.Server;
  private readonly sessions = new Set<TcpSession>();
  private draining = false;

  constructor(private deps: TcpProxyDeps) {
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => {
      if (this.draining) {
        socket.destroy();
        return;
      }
      this.sessions.add(new TcpSession(socket, this, this.deps));
    });
    this.server.maxConnections = deps.config.limits.maxClientConnections;
    const rejections = new RateLimitedLog(deps.log);
    this.server.on('drop', () => {
      deps.stats.rejected('too_many_connections');
      rejections.warn('too_many_connections', {}, 'client connection refused: limit reached');
    });
  }

  /** @internal */
  forget(session: TcpSession): void {
    this.sessions.delete(session);
  }

  listen(port: number, host: string): Promise<{ host: string; port: number }> {
    return listenOn(this.server, port, host);
  }

  reconfigure(config: Config): void {
    this.deps = { ...this.deps, config };
    this.server.maxConnections = config.limits.maxClientConnections;
  }

  connections(): { open: number; busy: number } {
    return { open: this.sessions.size, busy: this.sessions.size };
  }

  /** Stops accepting; open connections get `deadlineMs` to finish, then are cut. */
  async close(deadlineMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const start = Date.now();
    while (this.sessions.size > 0 && Date.now() - start < deadlineMs) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sessions) s.close('cancelled');
    await closed;
  }
}
