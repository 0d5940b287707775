/**
 * One client connection in TCP (L4) mode: one balancing decision, a connect that fails over
 * to the next backend (nothing was sent yet, so this is safe for any protocol), then two
 * Flows moving bytes until both sides have sent their FIN (half-close honoured both ways).
 */
import type { Backend, InflightEntry, Outcome, OutcomeKind } from '../../pool/backend.js';
import { AttemptRace, type RaceAttempt, type RaceEnv, type RacePort } from '../../balancer/race.js';
import type { ProxyDeps } from '../deps.js';
import { IdleTimer } from '../uv/idle-timer.js';
import { WriteWrap, connectTo, kLastWriteWasAsync, peerAddress, shutdownHandle, streamBaseState, uvError, type Connecting, type UvTcp } from '../uv/handles.js';
import { Flow, type FlowOwner } from './flow.js';
import type { ProxyAddresses } from '../proxy-protocol/header.js';
import { encodeProxyHeader } from '../proxy-protocol/encode.js';
import { socketAddresses } from '../proxy-protocol/endpoints.js';

/** One connect attempt; a session has one at a time, so the object is reused across failovers. */
class TcpAttempt implements RaceAttempt {
  startedAt = 0;
  inflightPrev: InflightEntry | null = null;
  inflightNext: InflightEntry | null = null;
  backend!: Backend;
  readonly hedge = false;
  ended = true;
  headersAt = 0;
  readonly outcome: Outcome = { kind: 'ok', status: 0, latencyMs: 0 };
}

export class TcpSession implements RacePort<TcpAttempt>, FlowOwner {
  closed = false;
  /** The connect attempts: the first, then failovers (AttemptPolicy); won once connected. */
  private readonly race: AttemptRace<TcpAttempt>;
  private readonly attempt = new TcpAttempt();
  /** Counts connects, so a callback of one that was given up is recognised. */
  private connectGen = 0;
  private upstream: UvTcp | undefined;
  private connecting: Connecting | undefined;
  private toBackend: Flow | undefined;
  private toClient: Flow | undefined;
  /** The backend failed mid-session: what it sent is being flushed to the client, then close. */
  private flushing = false;
  private connectTimer: NodeJS.Timeout | undefined;
  // HAProxy's `timeout client` for L4: a connection quiet in both directions for
  // clientIdleMs is closed, so idle connections cannot pile up to the connection limit.
  private readonly idle: IdleTimer;
  private readonly opened: number;

  /**
   * @param origin the client's endpoints from an incoming PROXY header (listen.proxyProtocol),
   *   or null: the socket's own.
   * @param preface the client's bytes that arrived with that header, sent to the backend first.
   */
  constructor(
    private readonly client: UvTcp,
    private readonly onClosed: (session: TcpSession) => void,
    private readonly deps: ProxyDeps,
    raceEnv: RaceEnv,
    private readonly origin: ProxyAddresses | null = null,
    private preface: Buffer | null = null,
  ) {
    this.opened = deps.now();
    this.idle = new IdleTimer(deps.now, () => this.close('ok'));
    client.setNoDelay(true);
    const race = new AttemptRace(this, raceEnv);
    // Nothing is sent before the connect succeeds: any backend may be tried, none retried after.
    race.idempotent = false;
    race.ctx.clientAddress = origin?.source ?? peerAddress(client);
    if (deps.active.needsKey) race.ctx.key = race.ctx.clientAddress;
    this.race = race;
  }

  private get backend(): Backend | undefined {
    return this.race.attempts === 0 ? undefined : this.attempt.backend;
  }

  private get connected(): boolean {
    return this.race.winner !== null;
  }

  /** Picks a backend and connects; after the proxy has counted this session (it may close at once). */
  start(): void {
    this.race.start();
  }

  // --- RacePort ---------------------------------------------------------------------------

  create(b: Backend): TcpAttempt {
    const a = this.attempt;
    a.backend = b;
    a.ended = false;
    a.headersAt = 0;
    return a;
  }

  send(a: TcpAttempt): void {
    const gen = ++this.connectGen;
    this.connectTimer = setTimeout(() => this.onConnectFailed(gen, 'connect timeout'), this.deps.config.timeouts.connectMs);
    this.connecting = connectTo(a.backend.host, a.backend.port, (err, handle) => {
      this.connecting = undefined;
      if (err !== null) this.onConnectFailed(gen, err.code ?? err.message);
      else this.onConnect(gen, handle!);
    });
  }

  abort(): void {
    clearTimeout(this.connectTimer);
    this.connecting?.cancel();
    this.connecting = undefined;
  }

  released(): void {}

  armHedge(): void {
    // Never asked: a TCP session does not tell the race its request is whole, so it never hedges.
  }

  disarmHedge(): void {}

  wait(): boolean {
    return false; // no slot queue in TCP mode
  }

  lost(): void {
    this.close('cancelled');
  }

  retried(b: Backend, decision: 'failover' | 'retry'): void {
    this.deps.stats.retried(b, decision);
  }

  hedgeSent(): void {}

  hedgeWon(): void {}

  // --- connecting -------------------------------------------------------------------------

  private onConnectFailed(gen: number, reason: string): void {
    if (this.closed || gen !== this.connectGen || this.connected) return;
    this.deps.log.debug({ backend: this.attempt.backend.address, err: reason }, 'tcp connect failed');
    this.race.failed(this.attempt, 'connect');
  }

  private onConnect(gen: number, upstream: UvTcp): void {
    if (this.closed || gen !== this.connectGen || !this.race.won(this.attempt)) return upstream.close();
    clearTimeout(this.connectTimer);
    this.upstream = upstream;
    upstream.setNoDelay(true);
    this.toBackend = new Flow(this.client, upstream, this);
    this.toClient = new Flow(upstream, this.client, this);
    this.idle.set(this.deps.config.timeouts.clientIdleMs);
    // Before any relayed byte: the backend's PROXY header, then what came with ours.
    const version = this.attempt.backend.sendProxy;
    if (version !== null) this.sendFirst(encodeProxyHeader(version, this.origin ?? socketAddresses(this.client)));
    if (this.preface !== null) {
      this.sendFirst(this.preface);
      this.preface = null;
    }
    if (this.closed || this.flushing) return;
    this.toBackend.start();
    this.toClient.start();
  }

  /** Writes `data` to the backend ahead of the relay (libuv keeps write order); a failure ends the session like a relay write's. */
  private sendFirst(data: Buffer): void {
    if (this.closed) return;
    const upstream = this.upstream!;
    const req = new WriteWrap();
    req.handle = upstream;
    req.async = false;
    req.oncomplete = (status: number) => {
      if (status < 0 && !this.closed) this.flowFailed(this.toBackend!, 'write', status);
    };
    const status = upstream.writeBuffer(req, data);
    if (status !== 0) return this.flowFailed(this.toBackend!, 'write', status);
    if (streamBaseState[kLastWriteWasAsync] !== 0) req.buffer = data;
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

  close(kind: OutcomeKind): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    this.idle.stop();
    // A connected session's attempt ends with it; one still connecting is cancelled.
    const winner = this.race.winner;
    if (winner !== null) this.race.finished(winner, kind);
    else this.race.abandon();
    const bytesIn = this.client.bytesRead;
    const bytesOut = this.client.bytesWritten;
    this.upstream?.close();
    this.client.close();
    this.deps.stats.connectionFinished(this.backend, this.connected, this.deps.now() - this.opened, bytesIn, bytesOut);
    this.onClosed(this);
  }
}
