/**
 * One client request: its head rewritten for the backends, its body streamed (and kept for a
 * replay while small: request-body.ts), its attempts run by the attempt race
 * (src/balancer/race.ts, for which this is the port), and its response relayed. The first
 * response head wins; the race cancels the other attempt.
 *
 * Body handling: request bodies stream to the backend as they arrive, with backpressure. A
 * body up to `replayLimit` is also kept, so the request can be retried or hedged; a larger one
 * is forgotten once written (only a connect failure, which sends nothing, can still fail over).
 * Response bodies stream to the client with backpressure and are never buffered whole.
 *
 * Every way a request ends goes through `end()`: stats, timers and queue released once.
 */
import type { Backend, OutcomeKind } from '../../pool/backend.js';
import { AttemptRace, type RaceLoss, type RacePort } from '../../balancer/race.js';
import { idempotentMethod } from '../../balancer/policy.js';
import type { HasDeadline } from '../deadlines.js';
import { Attempt, AttemptState, type AttemptOwner } from './attempt.js';
import { LAST_CHUNK, writeChunk } from './chunks.js';
import type { ProxyContext } from './context.js';
import { Framing, rewriteRequest, rewriteResponse, type RequestFacts } from './headers.js';
import { SKIP_BODY } from './llhttp.js';
import { RequestBody } from './request-body.js';
import { responses, type CannedResponse } from './responses.js';
import type { SlotWaiter } from './slot-queue.js';
import type { ProxiedClient, UpstreamConn } from './upstream.js';
import type { ProxySocket } from '../socket.js';
import { Tunnel, type TunnelOwner } from '../tunnel/tunnel.js';

/** What an exchange needs of its client connection, and nothing more. */
export interface ExchangeClient extends ProxiedClient {
  readonly socket: ProxySocket;
  readonly remoteAddress: string;
  /** The client is a trusted proxy (proxy.trustedProxies). */
  readonly trustForwarded: boolean;
  /** Stop reading the client: the backend is slow to take the body ('upstream'), or no attempt can take it yet ('pending'). */
  pauseReading(reason: 'upstream' | 'pending'): void;
  resumeReading(reason: 'upstream' | 'pending'): void;
  /** The request is answered; `keepOpen`: the connection may serve another. */
  exchangeDone(ex: Exchange, keepOpen: boolean): void;
  /** The upgrade was accepted: the connection stops parsing HTTP; returns the bytes the client sent after its request. */
  takeForTunnel(ex: Exchange): Buffer | null;
  /** The tunnel that took over the connection closed. */
  tunnelEnded(ex: Exchange): void;
  destroy(): void;
}

/** How `end()` leaves the client connection. */
const enum After {
  /** The response is complete: the connection serves the next request, or closes (`keepOpen`). */
  Done,
  /** A response was under way and cannot be completed: cut the connection. */
  Cut,
  /** The caller deals with the connection (client gone, malformed body). */
  Nothing,
}

export class Exchange implements RacePort<Attempt>, AttemptOwner, SlotWaiter, HasDeadline, TunnelOwner {
  readonly race: AttemptRace<Attempt>;
  readonly facts: RequestFacts;
  readonly startTime: number;
  private readonly body: RequestBody;
  requestComplete = false;
  /** Chunked: not started until the first chunk-size line parsed (set by the client connection). */
  awaitingFirstChunk = false;
  /** The balancer answered `Expect: 100-continue` itself; a backend's 100 is not relayed again. */
  private continueSent = false;
  private responseFraming = Framing.None;
  private responseKeepAlive = false;
  private upstreamPaused = false;
  private hedgeTimer: NodeJS.Timeout | undefined;
  finished = false;
  /** The backend accepted the upgrade (101 relayed): the connection becomes a tunnel. */
  private switching = false;
  /** The tunnel this upgrade became, while it runs. */
  tunnel: Tunnel | null = null;
  /** Request body bytes received from the client, and bytes sent back (for the access log). */
  bytesIn = 0;
  bytesOut = 0;

  // SlotWaiter and queue deadline
  queued = false;
  queuePrev: SlotWaiter | null = null;
  queueNext: SlotWaiter | null = null;
  deadline = 0;

  constructor(
    readonly client: ExchangeClient,
    private readonly px: ProxyContext,
    readonly method: string,
    readonly url: string,
    readonly versionMinor: number,
    readonly clientKeepAlive: boolean,
    headers: string[],
    /** A protocol upgrade (WebSocket...) to tunnel if the backend accepts it. */
    readonly upgrade = false,
  ) {
    this.startTime = px.now();
    const keyHeader = px.active.needsKey ? px.keySource.header : '';
    this.facts = rewriteRequest({
      method,
      url,
      versionMinor,
      headers,
      clientIp: client.remoteAddress,
      via: px.config.proxy.via,
      keyHeader,
      idempotentHeader: px.idempotentHeader,
      wantCookie: px.active.needsKey && px.keySource.wantCookie,
      trustForwarded: client.trustForwarded,
      upgrade,
      proto: client.socket.encrypted ? 'https' : 'http',
    });
    const f = this.facts;
    this.body = new RequestBody(
      f.framing,
      f.framing === Framing.None || f.framing === Framing.Chunked || (f.framing === Framing.Length && f.contentLength <= px.replayLimit),
      px.replayLimit,
    );
    const race = new AttemptRace<Attempt>(this, px.race);
    // An upgrade is never sent twice: only a failed connect (nothing sent) moves to another backend.
    race.idempotent = !upgrade && (idempotentMethod(method) || f.idempotentMark);
    race.replayable = this.body.replayable;
    this.race = race;
  }

  get clientSocket(): ProxySocket {
    return this.client.socket;
  }

  /** Request body bytes held in memory (for replay, or not yet written to a backend). */
  get bufferedBytes(): number {
    return this.body.bytes;
  }

  /** Tells the client to send its body (Expect: 100-continue) before any backend is asked. */
  sendContinue(): void {
    this.continueSent = true;
    if (!this.client.socket.destroyed) this.client.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
  }

  /** The request's turn has come (first on its connection, or the previous response is done). */
  begin(): void {
    const px = this.px;
    const ctx = this.race.ctx;
    ctx.clientAddress = this.client.remoteAddress;
    if (px.active.needsKey) {
      ctx.key = px.keySource.extract(this.url, this.facts.keyHeaderValue, this.facts.cookie, this.client.remoteAddress);
    }
    this.race.start();
  }

  // --- RacePort ---------------------------------------------------------------------------

  create(b: Backend, hedge: boolean): Attempt {
    return new Attempt(this, b, hedge);
  }

  send(a: Attempt): void {
    const px = this.px;
    if (!a.hedge) this.body.restart();
    // An upgrade gets a connection of its own: the backend keeps it for the tunnel.
    const conn = this.upgrade ? px.upstreams.connect(a.backend, a, this.client) : px.upstreams.acquire(a.backend, a, this.client);
    a.conn = conn;
    px.sweeper.add(a);
    if (conn.connected) this.attemptConnected(a, conn);
    else a.deadline = a.startedAt + px.config.timeouts.connectMs;
    if (!a.hedge && this.requestComplete) this.race.requestComplete(this.body.bytes);
  }

  abort(a: Attempt): void {
    const conn = a.conn;
    a.conn = null;
    conn?.abandon();
  }

  released(a: Attempt): void {
    const px = this.px;
    px.sweeper.delete(a);
    if (px.queue.length > 0) px.queue.slotFreed();
  }

  armHedge(delayMs: number): void {
    this.hedgeTimer = setTimeout(Exchange.hedgeFired, delayMs, this);
  }

  /** The hedge timer's callback, one function for every exchange (no closure per request). */
  private static hedgeFired(ex: Exchange): void {
    ex.hedgeTimer = undefined;
    if (!ex.finished) ex.race.hedgeDue();
  }

  disarmHedge(): void {
    if (this.hedgeTimer === undefined) return;
    clearTimeout(this.hedgeTimer);
    this.hedgeTimer = undefined;
  }

  wait(): boolean {
    const px = this.px;
    if (!px.queue.push(this)) {
      px.stats.rejected('queue_full');
      return false;
    }
    this.deadline = px.now() + px.config.limits.queueTimeoutMs;
    px.sweeper.add(this);
    return true;
  }

  lost(reason: RaceLoss, last: Backend | undefined): void {
    const canned =
      reason === 'no_backend'
        ? this.px.draining
          ? responses.shuttingDown
          : responses.noBackend
        : reason === 'queue_full'
          ? responses.queueFull
          : reason === 'timeout'
            ? responses.gatewayTimeout
            : responses.badGateway;
    this.respond(canned, last);
  }

  retried(b: Backend, decision: 'failover' | 'retry'): void {
    this.px.stats.retried(b, decision);
  }

  hedgeSent(): void {
    this.px.stats.hedgeSent();
  }

  hedgeWon(): void {
    this.px.stats.hedgeWon();
  }

  // --- the slot queue ---------------------------------------------------------------------

  /** SlotWaiter: a slot freed up somewhere. */
  wake(): void {
    this.px.sweeper.delete(this);
    this.deadline = 0;
    if (!this.finished) this.race.woken();
  }

  /** Queue wait expired. */
  onDeadline(): void {
    if (!this.queued) return;
    this.px.stats.rejected('queue_timeout');
    this.respond(responses.queueTimeout, undefined);
  }

  // --- request body -----------------------------------------------------------------------

  attemptConnected(a: Attempt, conn: UpstreamConn): void {
    if (a.ended) return;
    const sock = conn.socket;
    sock.cork();
    if (this.facts.missingHost) sock.write(`${this.facts.head.slice(0, -2)}Host: ${a.backend.address}\r\n\r\n`);
    else sock.write(this.facts.head);
    const primary = a === this.race.primary;
    this.body.writeTo(sock, primary);
    if (primary) this.client.resumeReading('pending');
    if (this.requestComplete) this.finishRequestOn(a, sock);
    else {
      // Connected: the connect deadline no longer applies, and the response-headers one starts
      // when the request is complete. A slow upload is the client's (clientIdleMs), not the backend's.
      a.state = AttemptState.Sending;
      a.sending = true;
      a.deadline = 0;
    }
    sock.uncork();
  }

  private finishRequestOn(a: Attempt, sock: ProxySocket): void {
    if (this.facts.framing === Framing.Chunked) sock.write(LAST_CHUNK);
    a.conn!.requestDone = true;
    a.sending = false;
    if (a.state !== AttemptState.Responding) {
      a.state = AttemptState.Waiting;
      a.deadline = this.px.now() + this.px.config.timeouts.responseHeadersMs;
    }
  }

  /** A body chunk from the client parser. */
  requestBody(chunk: Buffer): void {
    if (this.finished) return;
    this.bytesIn += chunk.length;
    const body = this.body;
    body.push(chunk);
    this.race.replayable = body.replayable;
    const a = this.race.primary;
    if (a !== null && !a.ended && a.sending) {
      if (!body.writeLast(a.conn!.socket)) this.client.pauseReading('upstream');
    } else if (body.unsentTooLarge) {
      // Not connected yet and the unsent part is large: stop reading until it can be written.
      this.client.pauseReading('pending');
    }
  }

  /** The client parser saw the end of this request. */
  requestCompleted(): void {
    this.requestComplete = true;
    if (this.finished) return;
    const a = this.race.primary;
    if (a !== null && !a.ended && a.sending) this.finishRequestOn(a, a.conn!.socket);
    this.race.requestComplete(this.body.bytes);
  }

  upstreamDrained(a: Attempt): void {
    if (a === this.race.primary) this.client.resumeReading('upstream');
  }

  // --- response ---------------------------------------------------------------------------

  responseHead(a: Attempt, status: number, message: string, headers: string[]): number {
    if (this.finished || a.ended) return 0;
    const px = this.px;
    if (status === 101 && this.upgrade) return this.switchingHead(a, message, headers);
    if (status < 200) {
      // Interim response. 100 Continue is relayed to a client that asked for it; others dropped.
      if (status === 100 && this.facts.expectContinue && !this.continueSent && this.versionMinor >= 1 && !this.client.socket.destroyed) {
        this.client.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
        this.race.responseStarted = true;
      } else if (status === 101) {
        this.attemptFailed(a, 'reset', 'unexpected 101 Switching Protocols');
      }
      return 0;
    }
    if (!this.race.won(a)) return 0;
    a.state = AttemptState.Responding;
    a.deadline = 0;
    a.outcome.status = status;
    const isHead = this.method === 'HEAD';
    const strategy = px.active.strategy;
    const watch = strategy.responseHeader ?? '';
    const rf = rewriteResponse({
      statusCode: status,
      statusMessage: message,
      headers,
      clientVersionMinor: this.versionMinor,
      clientKeepAlive: this.clientKeepAlive && this.requestComplete && !px.draining,
      noBody: isHead || status === 204 || status === 304,
      via: px.config.proxy.via,
      backendLine: px.backendHeaderName === '' ? '' : `${px.backendHeaderName}: ${a.backend.name}\r\n`,
      watchHeader: watch,
      forwardLoadReports: px.config.proxy.forwardLoadReports,
    });
    if (rf.watchedValue !== undefined) strategy.onResponseHeader?.(a.backend, rf.watchedValue);
    if (rf.loadReport !== undefined) {
      const report = px.loadReports.read(a.backend.reported, rf.loadReport, px.now());
      if (report !== null) px.active.loadReported(a.backend, report);
    }
    this.responseFraming = rf.framing;
    this.responseKeepAlive = rf.keepAlive;
    this.bytesOut += rf.head.length;
    if (!this.client.socket.destroyed) this.client.socket.write(rf.head);
    return isHead ? SKIP_BODY : 0;
  }

  /** The backend accepts the upgrade: its 101 is relayed, and the tunnel starts once the read is parsed. */
  private switchingHead(a: Attempt, message: string, headers: string[]): number {
    if (!this.race.won(a)) return 0;
    const px = this.px;
    a.state = AttemptState.Responding;
    a.deadline = 0;
    a.outcome.status = 101;
    const rf = rewriteResponse({
      statusCode: 101,
      statusMessage: message,
      headers,
      clientVersionMinor: this.versionMinor,
      clientKeepAlive: false,
      noBody: true,
      via: px.config.proxy.via,
      backendLine: px.backendHeaderName === '' ? '' : `${px.backendHeaderName}: ${a.backend.name}\r\n`,
      watchHeader: '',
      forwardLoadReports: px.config.proxy.forwardLoadReports,
      switching: true,
    });
    this.switching = true;
    this.bytesOut += rf.head.length;
    if (!this.client.socket.destroyed) this.client.socket.write(rf.head);
    return 0;
  }

  /** Both connections become one tunnel; the attempt stays in flight (one long request) until it closes. */
  private startTunnel(a: Attempt): void {
    const conn = a.conn!;
    a.conn = null;
    // No deadline applies to the attempt any more; the tunnel's own timeouts do.
    this.px.sweeper.delete(a);
    conn.switchProtocols((backendSocket, rest) => {
      if (this.finished) {
        backendSocket.destroy();
        return;
      }
      const head = this.client.takeForTunnel(this);
      const t = this.px.config.timeouts;
      this.tunnel = new Tunnel(this.client.socket, backendSocket, head, rest, { idleMs: t.tunnelIdleMs, maxMs: t.tunnelMaxMs }, this);
    });
  }

  /** TunnelOwner: both sides closed. The attempt and the request end now, counted once. */
  tunnelClosed(tunnel: Tunnel): void {
    this.tunnel = null;
    const a = this.race.winner;
    if (a === null || this.finished) return;
    this.race.finished(a, tunnel.ending === 'backend_error' ? 'reset' : 'ok');
    this.px.stats.tunnelFinished(a.backend, tunnel.bytesIn, tunnel.bytesOut);
    this.bytesIn += tunnel.bytesIn;
    this.bytesOut += tunnel.bytesOut;
    this.end(a.backend, 101, After.Nothing, false);
    this.client.tunnelEnded(this);
  }

  /** Graceful stop ran out of time, or the proxy closes: end the tunnel now. */
  closeTunnel(): void {
    this.tunnel?.close('stopped');
  }

  responseBody(a: Attempt, chunk: Buffer): void {
    if (a !== this.race.winner || this.finished) return;
    const sock = this.client.socket;
    if (sock.destroyed) return;
    this.bytesOut += chunk.length;
    if (!writeChunk(sock, chunk, this.responseFraming) && a.conn !== null) {
      a.conn.socket.pause();
      this.upstreamPaused = true;
    }
  }

  /** The client socket drained: let the winning backend send more. */
  clientDrained(): void {
    const winner = this.race.winner;
    if (this.upstreamPaused && winner !== null && winner.conn !== null) {
      this.upstreamPaused = false;
      winner.conn.socket.resume();
    }
  }

  responseComplete(a: Attempt): void {
    if (a !== this.race.winner || this.finished) return;
    if (this.switching) return this.startTunnel(a);
    const sock = this.client.socket;
    if (this.responseFraming === Framing.Chunked && !sock.destroyed) sock.write(LAST_CHUNK);
    const conn = a.conn;
    this.race.finished(a, a.outcome.status >= 500 ? 'http_5xx' : 'ok');
    if (conn !== null) {
      a.conn = null;
      if (this.upstreamPaused) conn.socket.resume();
      conn.release();
    }
    this.end(a.backend, a.outcome.status, After.Done, this.responseKeepAlive && this.responseFraming !== Framing.UntilClose);
  }

  attemptFailed(a: Attempt, kind: OutcomeKind, detail: string): void {
    if (!this.race.failed(a, kind) || this.finished) return;
    // The response was under way: nothing can be retried; the client sees the connection cut.
    this.px.log.debug({ backend: a.backend.address, kind, detail }, 'backend failed mid-response');
    this.end(a.backend, 502, After.Cut, false);
  }

  // --- endings ----------------------------------------------------------------------------

  /** Answers with a response of the balancer's own (an error), if no response has started. */
  private respond(canned: CannedResponse, backend: Backend | undefined): void {
    if (this.finished) return;
    if (this.race.winner !== null) {
      this.end(backend, canned.status, After.Cut, false);
      return;
    }
    const keepAlive = this.clientKeepAlive && this.requestComplete && !this.px.draining;
    const sock = this.client.socket;
    const reply = keepAlive ? canned.keepAlive : canned.close;
    this.bytesOut += reply.length;
    if (!sock.destroyed) sock.write(reply);
    this.end(backend, canned.status, After.Done, keepAlive);
  }

  /**
   * The client's request turned out malformed after its head was forwarded (a bad chunk):
   * abandon the attempts (the backend sees an aborted request, never a complete one).
   * True when the caller may still answer (no response byte was sent).
   */
  abandonMalformed(): boolean {
    if (this.finished) return false;
    this.end(undefined, 400, After.Nothing, false);
    return !this.race.responseStarted;
  }

  /** The client went away: stop everything this request started. */
  clientGone(): void {
    if (this.finished) return;
    // 499 (nginx's "client closed request"): not a backend or balancer failure.
    this.end(this.race.winner?.backend, 499, After.Nothing, false);
  }

  /** The one way a request ends: attempts, timers and queue released, counted once. */
  private end(backend: Backend | undefined, status: number, after: After, keepOpen: boolean): void {
    this.finished = true;
    this.disarmHedge();
    if (this.queued) {
      this.px.queue.leave(this);
      this.px.sweeper.delete(this);
    }
    this.deadline = 0;
    this.race.abandon();
    this.body.clear();
    const durationMs = this.px.now() - this.startTime;
    this.px.stats.requestFinished(backend, status, durationMs, this.client.remoteAddress);
    const log = this.px.accessLog;
    if (log !== null && log.sampled()) {
      log.write({
        client: this.client.remoteAddress,
        method: this.method,
        path: this.url,
        status,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        backend: backend?.name ?? null,
        attempts: this.race.attempts,
        hedged: this.race.wasHedged,
        durationMs: Math.round(durationMs * 1000) / 1000,
      });
    }
    if (after === After.Done) this.client.exchangeDone(this, keepOpen);
    else if (after === After.Cut) this.client.destroy();
  }
}
