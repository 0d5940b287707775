/**
 * One client connection: parses requests with llhttp (strict), runs them one at a time in
 * order, and enforces the client-side limits: a new connection must send a request head
 * within `clientHeadersMs` (a connection that sends nothing is closed then, one that sent
 * part of a head gets 408), a request body must be whole within `clientBodyMs`, an idle
 * keep-alive connection closes after `clientIdleMs`, a malformed request gets a 4xx and the
 * connection closes. Nothing a client sends can throw out of here.
 *
 * Pipelining: a request arriving while an earlier one is being answered is parsed up to the
 * end of its head, then parsing stops (llhttp pause) and reading stops until its turn; its
 * body is not read ahead. So a connection holds at most: the current request's body (up to
 * the replay limit, plus one replay limit not yet written to a slow backend), one pipelined
 * head, and the rest of one socket read (64 KiB).
 *
 * A chunked request is started (a backend picked, its head forwarded) only once its first
 * chunk-size line has parsed: a malformed one reaches no backend. With `Expect: 100-continue`
 * the balancer answers the 100 itself so the client sends that first chunk.
 */
import type { RejectReason } from '../../stats/recorder.js';
import type { RateLimitedLog } from '../../util/log.js';
import type { HasDeadline } from '../deadlines.js';
import type { ProxyContext } from './context.js';
import { Exchange, type ExchangeClient } from './exchange.js';
import { Framing } from './headers.js';
import { PAUSE, PAUSED_CODE, isParseError, methodName, type LlhttpParser, type ParseError } from './llhttp.js';
import { lendRequestParser, returnRequestParser, type RequestParserOwner } from './request-parsers.js';
import { readSimpleRequest } from './request-head.js';
import { responses, type CannedResponse } from './responses.js';
import { untunnelable } from '../tunnel/upgrade.js';
import type { ProxySocket, ProxySocketListener } from '../socket.js';
import type { UvTcp } from '../uv/handles.js';
import type { ProxyAddresses } from '../proxy-protocol/header.js';
import { encodeProxyHeader, type ProxyVersion } from '../proxy-protocol/encode.js';
import { socketAddresses } from '../proxy-protocol/endpoints.js';
import type { ProxiedClient, UpstreamConn } from './upstream.js';
import { keepable } from '../uv/read-buffer.js';

type PauseReason = 'upstream' | 'pending' | 'pipeline' | 'upgrade';

export class ClientConn implements HasDeadline, ProxySocketListener, ExchangeClient, ProxiedClient, RequestParserOwner {
  readonly socket: ProxySocket;
  /** The client's address: from its PROXY header (listen.proxyProtocol), else the socket's peer. */
  readonly remoteAddress: string;
  /** The client is in proxy.trustedProxies: its forwarding headers are kept. */
  readonly trustForwarded: boolean;
  /** Head deadline (from accept or the head's first byte), then the body deadline; 0 when none. */
  deadline = 0;
  /** Lent while a request is read or answered (request-parsers.ts); null while idle. */
  private parser: LlhttpParser | null = null;
  /** Inside parser.execute(): the parser may not be given back now. */
  private executing = false;
  /** The request being answered. */
  private current: Exchange | null = null;
  /** The request whose bytes the parser is reading (the current one or a pipelined one). */
  private parsing: Exchange | null = null;
  /** A request pipelined behind the current one: its head is parsed, its body not yet. */
  private next: Exchange | null = null;
  /** Bytes after `next`'s head, parsed when its turn comes (reading is paused meanwhile). */
  private held: Buffer | null = null;
  /** Bytes of a request head arrived since the last head completed. */
  private headBytes = false;
  private partialHeaders: string[] | null = null;
  private partialUrl = '';
  private pauses = 0;
  private pausedFor = { upstream: false, pending: false, pipeline: false, upgrade: false };
  /** An upgrade request whose head was parsed: nothing after it is HTTP, reading stops until the backend answers. */
  private upgrading: Exchange | null = null;
  /** Bytes the client sent after its upgrade request: the tunnel's first, if the backend accepts. */
  private upgradeHead: Buffer | null = null;
  /** The client half-closed or we decided to close after the current response. */
  private closeAfterCurrent = false;
  /** An error to send once the response in progress is done (bad pipelined request). */
  private pendingError: CannedResponse | undefined;
  closed = false;
  /** A request was refused: ignore whatever else the parser finds in the buffer. */
  private refusing = false;
  /** At least one request head arrived on this connection. */
  private sawRequest = false;
  /** ProxiedClient: idle backend connections that carry this client's PROXY header. */
  boundIdle: UpstreamConn[] | null = null;
  /** The PROXY headers sent for this client (servers[].sendProxy), built on first use. */
  private headers: { v1?: Buffer; v2?: Buffer } | null = null;

  /**
   * Takes over `socket` (a RawSocket, or a TlsSocket after its handshake) and starts reading it.
   * @param handle the connection's TCP handle, for its endpoints in a PROXY header sent on (null: unknown).
   * @param origin the client's endpoints from its PROXY header (listen.proxyProtocol), or null.
   * @param preface the client's bytes that came with that header: parsed first.
   */
  constructor(
    socket: ProxySocket,
    private readonly px: ProxyContext,
    private readonly rejections: RateLimitedLog,
    private readonly onClosed: (conn: ClientConn) => void,
    private readonly handle: UvTcp | null,
    private readonly origin: ProxyAddresses | null,
    preface: Buffer | null,
  ) {
    socket.listener = this;
    this.socket = socket;
    this.remoteAddress = origin?.source ?? socket.remoteAddress;
    this.trustForwarded = px.trustedProxies.has(this.remoteAddress);

    socket.setTimeout(px.config.timeouts.clientIdleMs);
    // A connection that never sends a byte must not hold a slot for longer than a slow head.
    this.deadline = px.now() + px.config.timeouts.clientHeadersMs;
    px.sweeper.add(this);
    socket.start();
    if (preface !== null) this.onData(preface);
  }

  /** ProxiedClient: the header naming this client, for a backend that wants one. */
  proxyHeader(version: ProxyVersion): Buffer {
    const headers = (this.headers ??= {});
    // No origin and no handle (a TLS connection): the header says UNKNOWN / LOCAL.
    return (headers[version] ??= encodeProxyHeader(version, this.origin ?? (this.handle === null ? null : socketAddresses(this.handle))));
  }

  // --- the lent parser's callbacks (RequestParserOwner) ------------------------------------

  parsedBegin(): void {
    // A head has begun: the parser must stay with this connection until it is read (a
    // pipelined head cut at the end of a read lives only in the parser), and it must be
    // whole within clientHeadersMs, as any head.
    this.headBytes = true;
    if (this.deadline === 0) this.deadline = this.px.now() + this.px.config.timeouts.clientHeadersMs;
  }

  parsedHeaders(headers: string[], url: string): void {
    this.partialHeaders = this.partialHeaders === null ? headers : this.partialHeaders.concat(headers);
    this.partialUrl += url;
  }

  parsedHead(versionMajor: number, versionMinor: number, headers: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    return this.onHead(versionMajor, versionMinor, headers, method, url, upgrade, keepAlive);
  }

  parsedBody(chunk: Buffer): void {
    const ex = this.parsing;
    if (ex === null) return;
    if (ex.awaitingFirstChunk) this.firstChunkParsed(ex);
    ex.requestBody(chunk);
  }

  parsedMessage(): void {
    const ex = this.parsing;
    this.parsing = null;
    if (ex === null) return;
    if (this.deadline !== 0 && ex === this.current) this.deadline = 0; // the body deadline is met
    // A client that said "Connection: close" sends nothing more we would answer.
    if (!ex.clientKeepAlive) this.refusing = true;
    if (ex.awaitingFirstChunk) this.firstChunkParsed(ex);
    ex.requestCompleted();
  }

  /**
   * Gives the parser back when the connection is between requests: nothing parsed and
   * unanswered, no pipelined head or bytes parked, no partial head. Not from inside execute().
   */
  private returnParserIfIdle(): void {
    const parser = this.parser;
    if (parser === null || this.executing || this.refusing || this.current !== null || this.parsing !== null || this.next !== null || this.held !== null || this.headBytes || this.partialHeaders !== null) return;
    this.parser = null;
    returnRequestParser(parser);
  }

  /** A chunked request's first chunk-size line parsed: its framing is sound, start it. */
  private firstChunkParsed(ex: Exchange): void {
    ex.awaitingFirstChunk = false;
    if (ex === this.current && !ex.finished) ex.begin();
  }

  /** The request's turn: start it, or for a chunked one wait for its first chunk-size line. */
  private startExchange(ex: Exchange): void {
    if (this.parsing === ex && !ex.requestComplete && ex.facts.framing !== Framing.None) {
      this.deadline = this.px.now() + this.px.config.timeouts.clientBodyMs;
      if (ex.facts.framing === Framing.Chunked) {
        ex.awaitingFirstChunk = true;
        if (ex.facts.expectContinue && ex.versionMinor >= 1) ex.sendContinue();
        return;
      }
    }
    ex.begin();
  }

  onDrain(): void {
    this.current?.clientDrained();
  }

  onError(): void {
    /* onClose follows; a client's network error is not ours to log */
  }

  onData(chunk: Buffer): void {
    // We sent our FIN (closing after a response): nothing more is answered, but reading goes
    // on so the client's own FIN is seen and the connection closes.
    if (this.socket.writableEnded) return;
    if (this.parsing === null && !this.headBytes && this.pendingError === undefined) {
      // First bytes of a new request head: it must be complete within clientHeadersMs (on a
      // new connection, counted from the accept).
      this.headBytes = true;
      if (this.deadline === 0) this.deadline = this.px.now() + this.px.config.timeouts.clientHeadersMs;
    }
    this.execute(chunk);
  }

  private execute(chunk: Buffer): void {
    // Between requests, nothing parked or half read: the plainest request (a whole head and no
    // body, alone in this read) is read without llhttp (request-head.ts); anything else, or a
    // head the fast path declines, goes to llhttp below.
    if (this.parser === null && this.current === null && this.parsing === null && this.next === null && this.held === null && !this.refusing && this.partialHeaders === null) {
      const simple = readSimpleRequest(chunk, this.px.config.limits.maxHeaderBytes);
      if (simple !== null) {
        try {
          this.onHead(1, simple.versionMinor, simple.headers, simple.method, simple.url, false, simple.keepAlive);
          this.parsedMessage();
        } catch (err) {
          this.px.log.error({ err }, 'request handling failed');
          this.destroy();
        }
        return;
      }
    }
    const parser = (this.parser ??= lendRequestParser(this, this.px.config.limits.maxHeaderBytes));
    let result: number | ParseError;
    this.executing = true;
    try {
      result = parser.execute(chunk);
    } catch (err) {
      this.executing = false;
      // A bug of ours must cost one connection, never the process.
      this.px.log.error({ err }, 'request handling failed');
      this.destroy();
      return;
    }
    this.executing = false;
    if (!isParseError(result)) {
      // llhttp stops after an upgrade request: what follows is not HTTP. Kept (copied: a read's
      // bytes may be valid only during the read) for the tunnel; nothing more is read until then.
      if (this.upgrading !== null && this.upgrading.requestComplete) {
        if (result < chunk.length) this.upgradeHead = Buffer.from(chunk.subarray(result));
        this.pauseReading('upgrade');
        return;
      }
      // The usual keep-alive case: the response went out within this read; idle again.
      this.returnParserIfIdle();
      return;
    }
    if (result.code === PAUSED_CODE) {
      // Stopped after a pipelined head (onHead returned PAUSE): keep the rest for its turn
      // (a copy: the chunk lies in the read buffer the next read overwrites).
      this.held = keepable(chunk.subarray(result.bytesParsed));
      this.pauseReading('pipeline');
    } else if (!this.refusing) {
      this.onParseError(result);
    }
  }

  /** Parses the bytes held behind a pipelined head, now that it is being answered. */
  private readonly feedHeld = (): void => {
    const held = this.held;
    if (held === null || this.closed || this.refusing) return;
    this.held = null;
    this.parser!.resume();
    this.execute(held);
    if (this.held === null && !this.refusing) this.resumeReading('pipeline');
  };

  private onHead(
    versionMajor: number,
    versionMinor: number,
    headers: string[] | undefined,
    method: number,
    url: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    if (this.partialHeaders !== null) {
      headers = headers === undefined ? this.partialHeaders : this.partialHeaders.concat(headers);
      url = this.partialUrl + (url ?? '');
      this.partialHeaders = null;
      this.partialUrl = '';
    }
    this.deadline = 0;
    this.headBytes = false;
    if (this.refusing) return 0;
    if (versionMajor !== 1) {
      this.reject(responses.versionNotSupported, 'bad_request', 'unsupported HTTP version');
      return 0;
    }
    const name = methodName(method);
    if (name === 'CONNECT') {
      this.reject(responses.notImplemented, 'bad_request', 'CONNECT');
      return 0;
    }
    // After an upgrade request the connection is a tunnel or closes (a refused upgrade is answered with Connection: close).
    const ex = new Exchange(this, this.px, name, url ?? '/', versionMinor, keepAlive && !upgrade, headers ?? [], upgrade);
    if (ex.facts.invalid !== undefined) {
      this.reject(responses.badRequest, 'bad_request', ex.facts.invalid);
      return 0;
    }
    if (upgrade) {
      const refused = untunnelable(ex.facts);
      if (refused !== undefined) {
        this.reject(responses.notImplemented, 'bad_request', refused);
        return 0;
      }
      this.upgrading = ex;
    }
    this.parsing = ex;
    this.sawRequest = true;
    if (this.current === null) {
      this.current = ex;
      this.startExchange(ex);
      return 0;
    }
    // Pipelined behind a request still being answered: read nothing more until its turn.
    this.next = ex;
    return PAUSE;
  }

  private onParseError(err: ParseError): void {
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    this.reject(tooLarge ? responses.headersTooLarge : responses.badRequest, tooLarge ? 'header_too_large' : 'bad_request', `${err.code}: ${err.reason}`);
  }

  /**
   * Refuses the request being parsed: answers `canned` and closes. If an earlier request is
   * still being answered, the refusal waits for it (responses stay in order).
   */
  private reject(canned: CannedResponse, reason: RejectReason, detail: string): void {
    if (this.refusing) return;
    this.refusing = true;
    this.px.stats.rejected(reason);
    this.rejections.warn(reason, { client: this.remoteAddress, detail }, `rejected request: ${detail}`);
    this.deadline = 0;
    this.socket.pause();
    const current = this.current;
    const inCurrentBody = current !== null && this.parsing === current;
    this.parsing = null;
    this.next = null;
    this.held = null;
    this.closeAfterCurrent = true;
    if (current !== null && inCurrentBody) {
      // The request being answered is itself malformed (its body): stop it and answer now.
      this.current = null;
      if (current.abandonMalformed()) this.sendAndClose(canned);
      else this.destroy();
      return;
    }
    if (current !== null && !current.finished) {
      // A pipelined request is bad: answer it once the response in progress is done.
      this.pendingError = canned;
      return;
    }
    this.sendAndClose(canned);
  }

  private sendAndClose(canned: CannedResponse): void {
    if (!this.socket.destroyed) this.socket.end(canned.close);
  }

  /** The current request is answered. `keepOpen`: the connection may serve another. */
  exchangeDone(ex: Exchange, keepOpen: boolean): void {
    if (ex !== this.current) return;
    this.current = null;
    // Pauses for its body (a slow backend, no attempt yet) were this request's: none outlives it.
    this.resumeReading('upstream');
    this.resumeReading('pending');
    if (this.pendingError !== undefined) {
      const canned = this.pendingError;
      this.pendingError = undefined;
      this.sendAndClose(canned);
      return;
    }
    if (!keepOpen || this.closeAfterCurrent || this.px.draining) {
      if (this.parsing !== null && this.parsing !== ex) this.parsing = null;
      this.next = null;
      this.held = null;
      this.deadline = 0; // a body still arriving is no longer awaited
      this.upgrading = null;
      this.upgradeHead = null;
      if (!this.socket.destroyed) this.socket.end();
      // Read on (onData ignores the bytes) so the client's FIN is seen and the socket closes.
      this.resumeReading('pipeline');
      this.resumeReading('upgrade');
      return;
    }
    const next = this.next;
    if (next === null) {
      this.returnParserIfIdle();
      return;
    }
    this.next = null;
    this.current = next;
    this.startExchange(next);
    // Its body (and whatever follows) is parsed outside this call: we may be inside a
    // backend's parser callback here.
    if (this.held !== null) queueMicrotask(this.feedHeld);
  }

  pauseReading(reason: PauseReason): void {
    if (this.pausedFor[reason]) return;
    this.pausedFor[reason] = true;
    if (this.pauses++ === 0) this.socket.pause();
  }

  resumeReading(reason: PauseReason): void {
    if (!this.pausedFor[reason]) return;
    this.pausedFor[reason] = false;
    if (--this.pauses === 0 && !this.closed) this.socket.resume();
  }

  /** The head deadline (slowloris, or a connection that sends nothing) or the body deadline passed. */
  onDeadline(): void {
    if (this.closed) return;
    const current = this.current;
    if (current !== null && this.parsing === current && !current.requestComplete) {
      if (this.pauses > 0) {
        // We stopped reading (a slow backend, no attempt yet): that time is ours, not the
        // client's. Look again a full period later.
        this.deadline = this.px.now() + this.px.config.timeouts.clientBodyMs;
        return;
      }
      this.rejections.warn('timeout', { client: this.remoteAddress }, 'request body not received in time');
      this.bodyTimedOut(current);
      return;
    }
    this.px.stats.rejected('timeout');
    if (current === null && !this.headBytes) {
      // Not a byte of a request: close without an answer, as nginx does (a browser's
      // speculative connection must not see a 408 it never asked for).
      this.destroy();
      return;
    }
    this.rejections.warn('timeout', { client: this.remoteAddress }, 'request head not received in time');
    if (this.current === null) this.sendAndClose(responses.requestTimeout);
    else this.reject(responses.requestTimeout, 'timeout', 'request head not received in time');
  }

  onTimeout(): void {
    if (this.current === null && this.parsing === null) {
      this.destroy(); // idle keep-alive connection
    } else if (this.socket.writableLength > 0) {
      // A response is being written and the client has not taken a byte for clientIdleMs
      // (write progress counts as activity): a slow-read client; free the backend.
      this.px.stats.rejected('timeout');
      this.rejections.warn('slow_reader', { client: this.remoteAddress }, 'client stopped reading its response');
      // A reset, not a FIN: the unsent response would otherwise linger in the kernel for it.
      this.socket.resetAndDestroy();
    } else if (this.socket.writableEnded) {
      // Closing (our FIN is sent), and the client has been quiet since: nothing is left to do.
      this.destroy();
    } else if (this.parsing !== null && this.parsing === this.current && !this.parsing.requestComplete && this.pauses === 0) {
      // The client stopped sending its request body.
      this.bodyTimedOut(this.current);
    }
    // Otherwise we are waiting for a backend; its own timeouts apply.
  }

  /** The request body stalled or missed its deadline: 408 if no response began, else cut. */
  private bodyTimedOut(current: Exchange): void {
    this.px.stats.rejected('timeout');
    this.refusing = true;
    this.deadline = 0;
    if (current.race.winner === null) {
      current.clientGone();
      this.current = null;
      this.sendAndClose(responses.requestTimeout);
    } else {
      this.destroy();
    }
  }

  onEnd(): void {
    // Half-close: answer what was asked, then close (allowHalfOpen keeps our side writable).
    if (this.current === null) this.socket.end();
    else this.closeAfterCurrent = true;
  }

  destroy(): void {
    const tunnel = this.current?.tunnel;
    if (tunnel !== undefined && tunnel !== null) tunnel.close('stopped');
    else this.socket.destroy();
  }

  /** The backend accepted the upgrade: the socket goes to a tunnel, and this stops parsing for good. */
  takeForTunnel(ex: Exchange): Buffer | null {
    if (ex !== this.current) return null;
    const head = this.upgradeHead;
    this.upgradeHead = null;
    this.upgrading = null;
    this.deadline = 0;
    this.px.sweeper.delete(this);
    // Freed, not lent again: it stopped at an upgrade.
    const parser = this.parser;
    this.parser = null;
    parser?.free();
    return head;
  }

  /** The tunnel closed (the socket with it): this connection is gone. */
  tunnelEnded(ex: Exchange): void {
    if (ex !== this.current || this.closed) return;
    this.closed = true;
    this.current = null;
    this.onClosed(this);
  }

  /** Graceful shutdown: close now if idle, else after the response in progress (a tunnel runs on until the drain deadline). */
  drain(): void {
    this.closeAfterCurrent = true;
    if (this.current !== null || this.parsing !== null) return;
    if (this.sawRequest) {
      this.socket.end();
      return;
    }
    // Accepted but nothing read yet: its request may already be on its way (sent before the
    // stop). Give it a moment to arrive and be answered rather than hang up on it.
    setTimeout(() => {
      if (this.current === null && this.parsing === null && !this.socket.destroyed) this.socket.end();
    }, 250).unref();
  }

  /** Request bytes this connection holds in memory: bodies buffered and bytes parked behind a pipelined head. */
  get bufferedBytes(): number {
    return (this.current?.bufferedBytes ?? 0) + (this.next?.bufferedBytes ?? 0) + (this.held?.length ?? 0);
  }

  get busy(): boolean {
    return this.current !== null;
  }

  onClose(): void {
    this.closed = true;
    this.px.sweeper.delete(this);
    const current = this.current;
    this.current = null;
    current?.clientGone();
    this.next = null;
    this.held = null;
    this.parsing = null;
    const parser = this.parser;
    this.parser = null;
    // Closed from inside execute() (a bug caught there): that parser is not safe to lend again.
    if (parser !== null) {
      if (this.executing) parser.free();
      else returnRequestParser(parser);
    }
    this.px.upstreams.unbind(this);
    this.onClosed(this);
  }
}
