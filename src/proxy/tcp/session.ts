/**
 * One client connection in TCP (L4) mode: one balancing decision, a connect that fails over
 * to the next backend (nothing was sent yet, so this is safe for any protocol), then two
 * Flows moving bytes until both sides have sent their FIN (half-close honoured both ways).
 */
import type { Backend, InflightEntry, OutcomeKind } from '../../pool/backend.js';
import { PickContext } from '../../strategies/types.js';
import type { ProxyDeps } from '../deps.js';
import { IdleTimer } from '../uv/idle-timer.js';
import { connectTo, peerAddress, shutdownHandle, uvError, type Connecting, type UvTcp } from '../uv/handles.js';
import { Flow, type FlowOwner } from './flow.js';

export class TcpSession implements InflightEntry, FlowOwner {
  startedAt = 0;
  inflightPrev: InflightEntry | null = null;
  inflightNext: InflightEntry | null = null;
  closed = false;
  private readonly ctx = new PickContext();
  private backend: Backend | undefined;
  private upstream: UvTcp | undefined;
  private connecting: Connecting | undefined;
  private toBackend: Flow | undefined;
  private toClient: Flow | undefined;
  private attempts = 0;
  private attemptOpen = false;
  private connected = false;
  /** The backend failed mid-session: what it sent is being flushed to the client, then close. */
  private flushing = false;
  private connectTimer: NodeJS.Timeout | undefined;
  // HAProxy's `timeout client` for L4: a connection quiet in both directions for
  // clientIdleMs is closed, so idle connections cannot pile up to the connection limit.
  private readonly idle: IdleTimer;
  private readonly opened: number;
  private readonly outcome = { kind: 'ok' as OutcomeKind, status: 0, latencyMs: 0 };

  constructor(
    private readonly client: UvTcp,
    private readonly onClosed: (session: TcpSession) => void,
    private readonly deps: ProxyDeps,
  ) {
    this.opened = deps.now();
    this.idle = new IdleTimer(deps.now, () => this.close('ok'));
    client.setNoDelay(true);
    this.ctx.clientAddress = peerAddress(client);
    if (deps.active.needsKey) this.ctx.key = this.ctx.clientAddress;
  }

  /** Picks a backend and connects; after the proxy has counted this session (it may close at once). */
  start(): void {
    this.deps.policy.onRequest();
    this.connectNext();
  }

  private connectNext(): void {
    const b = this.deps.active.pick(this.ctx);
    if (b === undefined) return this.close('cancelled');
    this.backend = b;
    this.ctx.attempt = this.attempts++;
    this.ctx.tried.push(b);
    this.startedAt = this.deps.now();
    this.deps.active.started(b, this, this.ctx);
    this.attemptOpen = true;
    const attempt = this.attempts;
    this.connectTimer = setTimeout(() => this.onConnectFailed(attempt, 'connect timeout'), this.deps.config.timeouts.connectMs);
    this.connecting = connectTo(b.host, b.port, (err, handle) => {
      this.connecting = undefined;
      if (err !== null) this.onConnectFailed(attempt, err.code ?? err.message);
      else this.onConnect(attempt, handle!);
    });
  }

  private onConnectFailed(attempt: number, reason: string): void {
    if (this.closed || attempt !== this.attempts || this.connected) return;
    clearTimeout(this.connectTimer);
    this.connecting?.cancel();
    this.connecting = undefined;
    this.endAttempt('connect');
    const decision = this.deps.policy.afterFailure('connect', { idempotent: false, replayable: true, responseStarted: false, attempts: this.attempts });
    this.deps.log.debug({ backend: this.backend?.address, err: reason }, 'tcp connect failed');
    if (decision === 'failover') {
      this.deps.stats.retried(this.backend, 'failover');
      this.connectNext();
    } else {
      this.close('cancelled');
    }
  }

  private onConnect(attempt: number, upstream: UvTcp): void {
    if (this.closed || attempt !== this.attempts) return upstream.close();
    clearTimeout(this.connectTimer);
    this.upstream = upstream;
    this.connected = true;
    this.outcome.latencyMs = this.deps.now() - this.startedAt;
    upstream.setNoDelay(true);
    this.toBackend = new Flow(this.client, upstream, this);
    this.toClient = new Flow(upstream, this.client, this);
    this.idle.set(this.deps.config.timeouts.clientIdleMs);
    this.toBackend.start();
    this.toClient.start();
  }

  touch(): void {
    this.idle.touch();
  }

  flowEnded(flow: Flow): void {
    if (this.flushing ? flow === this.toClient : this.toBackend!.shut && this.toClient!.shut) this.close('ok');
  }

  flowFailed(flow: Flow, side: 'read' | 'write', status: number): void {
    if (this.closed) return;
    const clientSide = side === 'read' ? flow.from === this.client : flow.to === this.client;
    if (this.deps.log.isLevelEnabled('debug')) {
      this.deps.log.debug({ backend: this.backend?.address, side: clientSide ? 'client' : 'backend', err: uvError(status, side).code }, 'tcp session failed');
    }
    if (clientSide) this.close('ok');
    else this.flushThenClose();
  }

  /** The backend is gone for good: send the client what it already sent, then close. */
  private flushThenClose(): void {
    if (this.flushing) return;
    this.flushing = true;
    this.toBackend!.stop();
    this.upstream?.close();
    this.upstream = undefined;
    const toClient = this.toClient!;
    if (toClient.shut) return this.close('ok');
    if (toClient.eof) return; // the client's shutdown is under way; flowEnded closes.
    if (shutdownHandle(this.client, () => this.close('ok')) !== 0) this.close('ok');
  }

  private endAttempt(kind: OutcomeKind): void {
    if (!this.attemptOpen || this.backend === undefined) return;
    this.attemptOpen = false;
    this.outcome.kind = kind;
    if (kind !== 'ok') this.outcome.latencyMs = this.deps.now() - this.startedAt;
    this.deps.active.ended(this.backend, this, this.outcome, this.ctx);
  }

  close(kind: OutcomeKind): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    this.idle.stop();
    this.connecting?.cancel();
    this.endAttempt(kind);
    const bytesIn = this.client.bytesRead;
    const bytesOut = this.client.bytesWritten;
    this.upstream?.close();
    this.client.close();
    this.deps.stats.connectionFinished(this.backend, this.connected, this.deps.now() - this.opened, bytesIn, bytesOut);
    this.onClosed(this);
  }
}
