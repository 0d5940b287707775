/**
 * One client request and its attempts on backends: the first, failovers and retries after a
 * failure, and at most one hedge racing the first. The first response head wins; the other
 * attempt is cancelled and its connection closed.
 *
 * Body handling: request bodies stream to the backend as they arrive, with backpressure. A
 * body up to `replayLimit` is also kept, so the request can be retried or hedged; a larger one
 * is forgotten once written (only a connect failure, which sends nothing, can still fail over).
 * Response bodies stream to the client with backpressure and are never buffered whole.
 */
import type { Backend, InflightEntry, OutcomeKind } from '../../pool/backend.js';
import { PickContext } from '../../strategies/types.js';
import { idempotentMethod } from '../attempts.js';
import { NO_HEDGE, hedgeDelay, hedgeSettled, hedgeable, sendHedge } from '../hedging.js';
import type { HasDeadline } from '../deadlines.js';
import type { ProxyContext } from './context.js';
import { Framing, rewriteRequest, rewriteResponse, type RequestFacts } from './headers.js';
import { SKIP_BODY } from './llhttp.js';
import { responses, type CannedResponse } from './responses.js';
import type { SlotWaiter } from './slot-queue.js';
import type { UpstreamConn, UpstreamFailure, UpstreamOwner } from './upstream.js';
import type { ClientConn } from './client.js';

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

const enum AttemptState {
  Connecting,
  /** Connected, request body still streaming. */
  Sending,
  /** Request written, waiting for the response head. */
  Waiting,
  /** Response head received (the winner). */
  Responding,
}

/** One try of a request on one backend; also the pool's in-flight list entry. */
export class Attempt implements InflightEntry, HasDeadline, UpstreamOwner {
  startedAt = 0;
  inflightPrev: InflightEntry | null = null;
  inflightNext: InflightEntry | null = null;
  deadline = 0;
  conn: UpstreamConn | null = null;
  state = AttemptState.Connecting;
  /** Connected and the request body is still being written (independent of the response: a backend may answer early). */
  sending = false;
  ended = false;
  headersAt = 0;
  readonly outcome = { kind: 'ok' as OutcomeKind, status: 0, latencyMs: 0 };

  constructor(
    readonly exchange: Exchange,
    readonly backend: Backend,
    readonly hedge: boolean,
  ) {}

  get clientSocket() {
    return this.exchange.client.socket;
  }
  onConnected(conn: UpstreamConn): void {
    this.exchange.attemptConnected(this, conn);
  }
  onConnectError(_conn: UpstreamConn, err: Error): void {
    this.exchange.attemptFailed(this, 'connect', (err as NodeJS.ErrnoException).code ?? err.message);
  }
  onResponseHead(_c: UpstreamConn, status: number, message: string, headers: string[], versionMinor: number): number {
    return this.exchange.responseHead(this, status, message, headers, versionMinor);
  }
  onResponseBody(_c: UpstreamConn, chunk: Buffer): void {
    this.exchange.responseBody(this, chunk);
  }
  onResponseComplete(): void {
    this.exchange.responseComplete(this);
  }
  onUpstreamFailure(_c: UpstreamConn, kind: UpstreamFailure, detail: string): void {
    this.exchange.attemptFailed(this, kind === 'timeout' ? 'timeout' : 'reset', detail);
  }
  onUpstreamDrain(): void {
    if (this.exchange.primary === this) this.exchange.client.resumeReading('upstream');
  }
  onDeadline(): void {
    if (this.state === AttemptState.Connecting) this.exchange.attemptFailed(this, 'connect', 'connect timeout');
    else this.exchange.attemptFailed(this, 'timeout', 'no response headers in time');
  }
}

export class Exchange implements SlotWaiter, HasDeadline {
  readonly ctx = new PickContext();
  readonly facts: RequestFacts;
  readonly startTime: number;
  readonly idempotent: boolean;

  /** Body chunks kept for replay, or waiting to be written to the primary attempt. */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** chunks[pendingFrom..] are not yet written to the primary attempt. */
  private pendingFrom = 0;
  private replayable: boolean;
  requestComplete = false;
  /** Chunked: not started until the first chunk-size line parsed (set by the client connection). */
  awaitingFirstChunk = false;
  /** The balancer answered `Expect: 100-continue` itself; a backend's 100 is not relayed again. */
  private continueSent = false;

  primary: Attempt | null = null;
  private attempts: Attempt[] = [];
  private attemptCount = 0;
  private lastFailure: OutcomeKind = 'connect';
  winner: Attempt | null = null;
  /** Some bytes of a response (a 100 Continue included) reached the client. */
  private responseStarted = false;
  private responseFraming = Framing.None;
  private responseKeepAlive = false;
  private upstreamPaused = false;
  private hedgeTimer: NodeJS.Timeout | undefined;
  private hedged = false;
  finished = false;

  // SlotWaiter and queue deadline
  queued = false;
  queuePrev: SlotWaiter | null = null;
  queueNext: SlotWaiter | null = null;
  deadline = 0;

  constructor(
    readonly client: ClientConn,
    private readonly px: ProxyContext,
    readonly method: string,
    readonly url: string,
    readonly versionMinor: number,
    readonly clientKeepAlive: boolean,
    headers: string[],
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
    });
    const f = this.facts;
    this.idempotent = idempotentMethod(method) || f.idempotentMark;
    this.replayable =
      f.framing === Framing.None || f.framing === Framing.Chunked || (f.framing === Framing.Length && f.contentLength <= px.replayLimit);
  }

  /** Request body bytes held in memory (for replay, or not yet written to a backend). */
  get bufferedBytes(): number {
    return this.chunkBytes;
  }

  /** Tells the client to send its body (Expect: 100-continue) before any backend is asked. */
  sendContinue(): void {
    this.continueSent = true;
    if (!this.client.socket.destroyed) this.client.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
  }

  /** The request's turn has come (first on its connection, or the previous response is done). */
  begin(): void {
    const px = this.px;
    const ctx = this.ctx;
    ctx.clientAddress = this.client.remoteAddress;
    if (px.active.needsKey) {
      ctx.key = px.keySource.extract(this.url, this.facts.keyHeaderValue, this.facts.cookie, this.client.remoteAddress);
    }
    px.policy.onRequest();
    this.dispatch();
  }

  /** Picks a backend and starts an attempt; queues or answers when it cannot. */
  private dispatch(): void {
    const px = this.px;
    const max = px.config.limits.maxConnectionsPerBackend;
    const ctx = this.ctx;
    let b = px.active.pick(ctx);
    let full = 0;
    if (max > 0) {
      // Backends at their connection limit are skipped for this pick only.
      while (b !== undefined && b.inflight >= max) {
        ctx.tried.push(b);
        full++;
        b = px.active.pick(ctx);
      }
      ctx.tried.length -= full;
    }
    if (b !== undefined) {
      this.startAttempt(b, false);
      return;
    }
    if (full > 0) {
      if (px.queue.push(this)) {
        this.deadline = px.now() + px.config.limits.queueTimeoutMs;
        px.sweeper.add(this);
      } else {
        px.stats.rejected('queue_full');
        this.respond(responses.queueFull, undefined);
      }
      return;
    }
    if (this.attemptCount === 0) this.respond(px.draining ? responses.shuttingDown : responses.noBackend, undefined);
    else this.respond(this.lastFailure === 'timeout' ? responses.gatewayTimeout : responses.badGateway, undefined);
  }

  /** SlotWaiter: a slot freed up somewhere. */
  wake(): void {
    this.px.sweeper.delete(this);
    this.deadline = 0;
    if (!this.finished) this.dispatch();
  }

  /** Queue wait expired. */
  onDeadline(): void {
    if (!this.queued) return;
    this.px.queue.leave(this);
    this.px.sweeper.delete(this);
    this.px.stats.rejected('queue_timeout');
    this.respond(responses.queueTimeout, undefined);
  }

  private startAttempt(b: Backend, hedge: boolean): void {
    const px = this.px;
    const a = new Attempt(this, b, hedge);
    a.startedAt = px.now();
    this.ctx.attempt = this.attemptCount++;
    this.ctx.tried.push(b);
    px.active.started(b, a, this.ctx);
    this.attempts.push(a);
    if (!hedge) {
      this.primary = a;
      this.pendingFrom = 0;
    }
    const conn = px.upstreams.acquire(b, a);
    a.conn = conn;
    px.sweeper.add(a);
    if (conn.connected) this.attemptConnected(a, conn);
    else a.deadline = a.startedAt + px.config.timeouts.connectMs;
    if (this.attemptCount === 1) this.maybeScheduleHedge();
  }

  attemptConnected(a: Attempt, conn: UpstreamConn): void {
    if (a.ended) return;
    const sock = conn.socket;
    sock.cork();
    if (this.facts.missingHost) sock.write(`${this.facts.head.slice(0, -2)}Host: ${a.backend.address}\r\n\r\n`);
    else sock.write(this.facts.head);
    const from = a === this.primary ? this.pendingFrom : 0;
    for (let i = from; i < this.chunks.length; i++) this.writeBody(sock, this.chunks[i]!);
    if (a === this.primary) {
      this.pendingFrom = this.chunks.length;
      this.dropWrittenChunks();
      this.client.resumeReading('pending');
    }
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

  private finishRequestOn(a: Attempt, sock: UpstreamConn['socket']): void {
    if (this.facts.framing === Framing.Chunked) sock.write(LAST_CHUNK);
    a.conn!.requestDone = true;
    a.sending = false;
    if (a.state !== AttemptState.Responding) {
      a.state = AttemptState.Waiting;
      a.deadline = this.px.now() + this.px.config.timeouts.responseHeadersMs;
    }
  }

  private writeBody(sock: UpstreamConn['socket'], chunk: Buffer): boolean {
    if (this.facts.framing === Framing.Chunked) {
      sock.write(chunk.length.toString(16) + CRLF);
      sock.write(chunk);
      return sock.write(CRLF);
    }
    return sock.write(chunk);
  }

  /** A body chunk from the client parser. */
  requestBody(chunk: Buffer): void {
    if (this.finished) return;
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    if (this.replayable && this.chunkBytes > this.px.replayLimit) this.replayable = false;
    const a = this.primary;
    if (a !== null && !a.ended && a.sending) {
      const ok = this.writeBody(a.conn!.socket, chunk);
      this.pendingFrom = this.chunks.length;
      this.dropWrittenChunks();
      if (!ok) this.client.pauseReading('upstream');
    } else if (!this.replayable && this.chunkBytes - this.writtenBytes() > this.px.replayLimit) {
      // Not connected yet and the unsent part is large: stop reading until it can be written.
      this.client.pauseReading('pending');
    }
  }

  private writtenBytes(): number {
    let n = 0;
    for (let i = 0; i < this.pendingFrom; i++) n += this.chunks[i]!.length;
    return n;
  }

  /** A body too large to replay is forgotten once written. */
  private dropWrittenChunks(): void {
    if (this.replayable || this.pendingFrom === 0) return;
    this.chunks = this.chunks.slice(this.pendingFrom);
    this.chunkBytes = 0;
    for (const c of this.chunks) this.chunkBytes += c.length;
    this.pendingFrom = 0;
  }

  /** The client parser saw the end of this request. */
  requestCompleted(): void {
    this.requestComplete = true;
    if (this.finished) return;
    const a = this.primary;
    if (a !== null && !a.ended && a.sending) this.finishRequestOn(a, a.conn!.socket);
    this.maybeScheduleHedge();
  }

  private maybeScheduleHedge(): void {
    if (this.hedgeTimer !== undefined || this.hedged || this.winner !== null || this.attemptCount !== 1) return;
    if (!this.requestComplete || !hedgeable(this.idempotent, this.replayable, this.chunkBytes, this.px.maxHedgeBodyBytes)) return;
    const delay = hedgeDelay(this.px.active.strategy, this.ctx);
    if (delay === NO_HEDGE) return;
    this.hedgeTimer = setTimeout(() => this.onHedgeTimer(), delay);
  }

  private onHedgeTimer(): void {
    this.hedgeTimer = undefined;
    if (this.finished || this.winner !== null || this.attempts.length !== 1 || this.responseStarted) return;
    // A hedge never goes to a backend at its connection limit (it would not queue: the first
    // attempt is still running). Such backends are hidden from this one pick.
    const max = this.px.config.limits.maxConnectionsPerBackend;
    const tried = this.ctx.tried;
    const before = tried.length;
    if (max > 0) for (const b of this.px.pool.ready) if (b.inflight >= max && !tried.includes(b)) tried.push(b);
    const sent = sendHedge(this.px.active, this.ctx, (b) => {
      tried.length = before;
      this.hedged = true;
      this.px.stats.hedgeSent();
      this.startAttempt(b, true);
    });
    if (!sent) tried.length = before;
  }

  responseHead(a: Attempt, status: number, message: string, headers: string[], _versionMinor: number): number {
    if (this.finished || a.ended) return 0;
    const px = this.px;
    if (status < 200) {
      // Interim response. 100 Continue is relayed to a client that asked for it; others dropped.
      if (status === 100 && this.facts.expectContinue && !this.continueSent && this.versionMinor >= 1 && !this.client.socket.destroyed) {
        this.client.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
        this.responseStarted = true;
      } else if (status === 101) {
        this.attemptFailed(a, 'reset', 'unexpected 101 Switching Protocols');
      }
      return 0;
    }
    const now = px.now();
    this.winner = a;
    a.state = AttemptState.Responding;
    a.deadline = 0;
    a.headersAt = now;
    a.outcome.status = status;
    if (this.hedgeTimer !== undefined) {
      clearTimeout(this.hedgeTimer);
      this.hedgeTimer = undefined;
    }
    if (this.attempts.length > 1) this.cancelAttempts(a);
    if (this.hedged) {
      hedgeSettled(px.active, a.hedge);
      if (a.hedge) px.stats.hedgeWon();
    }
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
    });
    if (rf.watchedValue !== undefined) strategy.onResponseHeader?.(a.backend, rf.watchedValue);
    this.responseFraming = rf.framing;
    this.responseKeepAlive = rf.keepAlive;
    this.responseStarted = true;
    if (!this.client.socket.destroyed) this.client.socket.write(rf.head);
    return isHead ? SKIP_BODY : 0;
  }

  responseBody(a: Attempt, chunk: Buffer): void {
    if (a !== this.winner || this.finished) return;
    const sock = this.client.socket;
    if (sock.destroyed) return;
    let ok: boolean;
    if (this.responseFraming === Framing.Chunked) {
      sock.write(chunk.length.toString(16) + CRLF);
      sock.write(chunk);
      ok = sock.write(CRLF);
    } else {
      ok = sock.write(chunk);
    }
    if (!ok && a.conn !== null) {
      a.conn.socket.pause();
      this.upstreamPaused = true;
    }
  }

  /** The client socket drained: let the winning backend send more. */
  clientDrained(): void {
    if (this.upstreamPaused && this.winner !== null && this.winner.conn !== null) {
      this.upstreamPaused = false;
      this.winner.conn.socket.resume();
    }
  }

  responseComplete(a: Attempt): void {
    if (a !== this.winner || this.finished) return;
    const sock = this.client.socket;
    if (this.responseFraming === Framing.Chunked && !sock.destroyed) sock.write(LAST_CHUNK);
    const conn = a.conn;
    this.endAttempt(a, a.outcome.status >= 500 ? 'http_5xx' : 'ok');
    if (conn !== null) {
      a.conn = null;
      if (this.upstreamPaused) conn.socket.resume();
      conn.release();
    }
    this.finish(a.backend, a.outcome.status, this.responseKeepAlive && this.responseFraming !== Framing.UntilClose);
  }

  attemptFailed(a: Attempt, kind: OutcomeKind, detail: string): void {
    if (a.ended) return;
    const conn = a.conn;
    a.conn = null;
    conn?.abandon();
    this.endAttempt(a, kind);
    if (this.finished) return;
    this.lastFailure = kind;
    if (a === this.winner) {
      // The response was under way: nothing can be retried; the client sees the connection cut.
      this.px.log.debug({ backend: a.backend.address, kind, detail }, 'backend failed mid-response');
      this.abort(a.backend, 502);
      return;
    }
    if (this.attempts.length > 0) return; // the hedge twin may still answer
    const decision = this.px.policy.afterFailure(kind, {
      idempotent: this.idempotent,
      replayable: this.replayable,
      responseStarted: this.responseStarted,
      attempts: this.attemptCount,
    });
    if (decision !== 'give_up') {
      this.px.stats.retried(a.backend, decision);
      this.dispatch();
      return;
    }
    this.respond(kind === 'timeout' ? responses.gatewayTimeout : responses.badGateway, a.backend);
  }

  private endAttempt(a: Attempt, kind: OutcomeKind): void {
    if (a.ended) return;
    a.ended = true;
    const px = this.px;
    px.sweeper.delete(a);
    const i = this.attempts.indexOf(a);
    if (i >= 0) this.attempts.splice(i, 1);
    const now = px.now();
    a.outcome.kind = kind;
    a.outcome.latencyMs = (a.headersAt !== 0 ? a.headersAt : now) - a.startedAt;
    px.active.ended(a.backend, a, a.outcome, this.ctx);
    if (px.queue.length > 0) px.queue.slotFreed();
  }

  private cancelAttempts(except: Attempt | null): void {
    for (const a of this.attempts.slice()) {
      if (a === except) continue;
      const conn = a.conn;
      a.conn = null;
      conn?.abandon();
      this.endAttempt(a, 'cancelled');
    }
  }

  /** Answers with a response of the balancer's own (an error), if no response has started. */
  private respond(canned: CannedResponse, backend: Backend | undefined): void {
    if (this.finished) return;
    if (this.winner !== null) {
      this.abort(backend, canned.status);
      return;
    }
    const keepAlive = this.clientKeepAlive && this.requestComplete && !this.px.draining;
    const sock = this.client.socket;
    if (!sock.destroyed) sock.write(keepAlive ? canned.keepAlive : canned.close);
    this.finish(backend, canned.status, keepAlive);
  }

  private finish(backend: Backend | undefined, status: number, keepOpen: boolean): void {
    this.finished = true;
    this.clearPending();
    this.px.stats.requestFinished(backend, status, this.px.now() - this.startTime, this.client.remoteAddress);
    this.client.exchangeDone(this, keepOpen);
  }

  /** Cuts the client connection: a response was under way and cannot be completed. */
  private abort(backend: Backend | undefined, status: number): void {
    this.finished = true;
    this.clearPending();
    this.cancelAttempts(null);
    this.px.stats.requestFinished(backend, status, this.px.now() - this.startTime, this.client.remoteAddress);
    this.client.destroy();
  }

  /**
   * The client's request turned out malformed after its head was forwarded (a bad chunk):
   * abandon the attempts (the backend sees an aborted request, never a complete one).
   * True when the caller may still answer (no response byte was sent).
   */
  abandonMalformed(): boolean {
    if (this.finished) return false;
    this.finished = true;
    this.clearPending();
    this.cancelAttempts(null);
    this.px.stats.requestFinished(undefined, 400, this.px.now() - this.startTime, this.client.remoteAddress);
    return !this.responseStarted;
  }

  /** The client went away: stop everything this request started. */
  clientGone(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearPending();
    this.cancelAttempts(null);
    // 499 (nginx's "client closed request"): not a backend or balancer failure.
    this.px.stats.requestFinished(this.winner?.backend, 499, this.px.now() - this.startTime, this.client.remoteAddress);
  }

  private clearPending(): void {
    if (this.hedgeTimer !== undefined) {
      clearTimeout(this.hedgeTimer);
      this.hedgeTimer = undefined;
    }
    if (this.queued) {
      this.px.queue.leave(this);
      this.px.sweeper.delete(this);
    }
    this.deadline = 0;
    this.chunks = [];
    this.chunkBytes = 0;
  }
}
