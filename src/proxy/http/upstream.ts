/**
 * Connections to backends: a response reader per connection (response-reader.ts: a fast path
 * for plain responses, llhttp for the rest), and a keep-alive pool per backend (a LIFO stack of
 * idle connections, so the warmest is reused and the coldest time out). The connection
 * reports everything to its current owner (an attempt) and knows nothing about balancing.
 *
 * A backend sent PROXY protocol headers (servers[].sendProxy) learns the client's address once,
 * at the start of the connection, and applies it to every request on it. So such a connection
 * is bound to the client connection whose header it carried: kept idle on that client
 * (`ProxiedClient.boundIdle`, one per backend) and reused only for its later requests, closed
 * when the client connection closes. limits.maxIdlePerBackend caps them too, counted per
 * backend over all clients, so idle connections a backend holds for Ballast stay bounded. HAProxy does the same (a connection with send-proxy is
 * private to its session).
 */
import { performance } from 'node:perf_hooks';
import type { Backend } from '../../pool/backend.js';
import { isParseError, type ParseError } from './llhttp.js';
import { ResponseReader, type ResponseSink } from './response-reader.js';
import { RawSocket } from '../uv/socket.js';
import type { ProxySocket, ProxySocketListener } from '../socket.js';
import { TlsSocket } from '../tls/socket.js';
import type { ProxyVersion } from '../proxy-protocol/encode.js';

export type UpstreamFailure = 'reset' | 'timeout' | 'protocol';

/** Whoever is using a connection right now: an attempt of a client request. */
export interface UpstreamOwner {
  onConnected(conn: UpstreamConn): void;
  onConnectError(conn: UpstreamConn, err: Error): void;
  /** Return SKIP_BODY (1) when no body follows (the request was HEAD), else 0. */
  onResponseHead(conn: UpstreamConn, statusCode: number, statusMessage: string, headers: string[], versionMinor: number, keepAlive: boolean): number;
  onResponseBody(conn: UpstreamConn, chunk: Buffer): void;
  onResponseComplete(conn: UpstreamConn): void;
  onUpstreamFailure(conn: UpstreamConn, kind: UpstreamFailure, detail: string): void;
  onUpstreamDrain(conn: UpstreamConn): void;
  /** The client socket whose writes are corked while one upstream read is parsed. */
  readonly clientSocket: ProxySocket;
}

/** A client connection, as far as backend connections that carry its PROXY header care. */
export interface ProxiedClient {
  /** The client connection closed: nothing may be bound to it any more. */
  readonly closed: boolean;
  /** The header naming this client, in `version` (built once per client connection). */
  proxyHeader(version: ProxyVersion): Buffer;
  /** Idle backend connections that carried this client's header, at most one per backend; owned by the UpstreamPool. */
  boundIdle: UpstreamConn[] | null;
}

export interface UpstreamSettings {
  maxIdlePerBackend: number;
  /** Idle pooled connections close after this (keep it below the backends' own keep-alive timeout). */
  keepAliveMs: number;
  /** A busy connection silent this long fails with a timeout. */
  bodyIdleMs: number;
}

export class UpstreamConn implements ProxySocketListener, ResponseSink {
  readonly socket: ProxySocket;
  readonly backend: Backend;
  owner: UpstreamOwner | null;
  connected = false;
  /** Bytes of the current response received so far. */
  received = 0;
  /** Response said keep-alive. */
  responseKeepAlive = false;
  /** Set by the owner when the whole request was written, so the connection may be reused. */
  requestDone = false;
  closed = false;
  /** False for a connection that must never return to the pool (one opened for an upgrade). */
  reusable = true;
  private readonly reader: ResponseReader;
  /** Set during the read holding a 101: where the socket goes once that read is parsed. */
  private switchTo: ((socket: ProxySocket, rest: Buffer | null) => void) | null = null;
  private inExecute = false;
  /** A response head arrived while no request was waiting for one. */
  private unsolicited = false;
  private releaseAfterExecute = false;
  /** When the last bytes arrived (performance.now()), for the body-idle check. */
  private lastReadAt = 0;
  /** Socket timeout: the shorter of the pool keep-alive and the body-idle limit. */
  private readonly tickMs: number;

  constructor(
    backend: Backend,
    owner: UpstreamOwner,
    private readonly pool: UpstreamPool,
    /** The client whose PROXY header opened this connection (it serves only that client), or null. */
    readonly boundTo: ProxiedClient | null,
    proxyHeader: Buffer | null,
  ) {
    this.backend = backend;
    this.owner = owner;
    this.reader = new ResponseReader(this);

    const tls = backend.tls;
    if (tls === null) {
      this.socket = RawSocket.connect(backend.host, backend.port, this);
      // Queued until connected, then sent ahead of the request (writes keep their order).
      if (proxyHeader !== null) this.socket.write(proxyHeader);
    } else {
      // In clear before the handshake: the backend reads the header off TCP, then speaks TLS.
      this.socket = TlsSocket.connect(backend.host, backend.port, tls, this, proxyHeader);
    }
    this.tickMs = Math.max(1, Math.min(pool.settings.keepAliveMs, pool.settings.bodyIdleMs));
    this.socket.setTimeout(this.tickMs);
  }

  // --- ResponseSink: the reader's events, passed to the owner ----------------------------

  responseHead(statusCode: number, statusMessage: string, headers: string[], versionMinor: number, keepAlive: boolean): number {
    const owner = this.owner;
    if (owner === null) {
      // A response nobody asked for, in the read that ended the last one: not reusable.
      this.unsolicited = true;
      return 0;
    }
    this.responseKeepAlive = keepAlive;
    return owner.onResponseHead(this, statusCode, statusMessage, headers, versionMinor, keepAlive);
  }

  responseBody(chunk: Buffer): void {
    this.owner?.onResponseBody(this, chunk);
  }

  responseComplete(): void {
    this.owner?.onResponseComplete(this);
  }

  // --- ProxySocketListener --------------------------------------------------------------

  onConnect(): void {
    this.connected = true;
    this.owner?.onConnected(this);
  }

  onDrain(): void {
    this.owner?.onUpstreamDrain(this);
  }

  onData(chunk: Buffer): void {
    this.lastReadAt = performance.now();
    const owner = this.owner;
    if (owner === null) {
      // Bytes on an idle connection are a protocol violation; the connection cannot be trusted.
      this.destroy();
      return;
    }
    this.received += chunk.length;
    const client = owner.clientSocket;
    // One upstream read usually holds head, body and end: cork so they leave in one write.
    client.cork();
    this.inExecute = true;
    let result: number | ParseError;
    try {
      result = this.reader.execute(chunk);
    } catch (err) {
      // A throw in one of our parser callbacks (a bug, in a strategy hook say) must cost one
      // connection, never the process. The exchange's state is not to be trusted any more:
      // its attempt fails, and its client connection is cut (which ends the exchange).
      this.inExecute = false;
      client.uncork();
      this.pool.onInternalError(err);
      this.fail(`internal error: ${(err as Error).message}`, client);
      client.destroy();
      return;
    }
    this.inExecute = false;
    client.uncork();
    if (isParseError(result)) {
      this.fail(`${result.code}: ${result.reason}`, client);
      return;
    }
    if (this.switchTo !== null) {
      this.handOver(chunk, result);
      return;
    }
    if (this.releaseAfterExecute) {
      this.releaseAfterExecute = false;
      // Bytes after the response in the same read (a response nobody asked for, or the start
      // of one) would be read as the next request's answer: such a connection is closed.
      if (this.reader.between && !this.unsolicited) this.pool.release(this);
      else this.destroy();
    }
  }

  /** The response cannot be read on: the owner fails the attempt, the connection closes. */
  private fail(detail: string, client: ProxySocket): void {
    const current = this.owner;
    this.owner = null;
    try {
      current?.onUpstreamFailure(this, 'protocol', detail);
    } catch (err) {
      this.pool.onInternalError(err);
      client.destroy();
    }
    this.destroy();
  }

  /**
   * The socket was quiet for `tickMs` (Node fires 'timeout' once per quiet period, so each
   * call re-arms it). Idle in the pool: close. Busy: a body that stalls longer than
   * `bodyIdleMs` fails; time spent paused by our own backpressure (a slow client) or before
   * the response began (the response-headers deadline applies) does not count.
   */
  onTimeout(): void {
    if (this.owner === null) {
      this.destroy(); // idle too long in the pool
      return;
    }
    const settings = this.pool.settings;
    const quiet = performance.now() - this.lastReadAt;
    if (this.received === 0 || this.socket.isPaused() || quiet < settings.bodyIdleMs) {
      this.socket.setTimeout(this.tickMs);
      return;
    }
    const owner = this.owner;
    this.owner = null;
    owner.onUpstreamFailure(this, 'timeout', 'backend connection idle');
    this.destroy();
  }

  onEnd(): void {
    // A response delimited by close ends here; anything else in progress was cut short.
    if (this.owner !== null && this.received > 0) {
      const result = this.reader.finish();
      if (isParseError(result)) {
        const owner = this.owner;
        this.owner = null;
        owner?.onUpstreamFailure(this, 'reset', `${result.code}: ${result.reason}`);
      }
    }
    const owner = this.owner;
    if (owner !== null) {
      this.owner = null;
      owner.onUpstreamFailure(this, 'reset', this.received > 0 ? 'backend closed mid-response' : 'backend closed the connection');
    }
    this.destroy();
  }

  onError(err: NodeJS.ErrnoException): void {
    const owner = this.owner;
    this.owner = null;
    if (owner !== null) {
      if (!this.connected) owner.onConnectError(this, err);
      else owner.onUpstreamFailure(this, 'reset', err.code ?? err.message);
    }
    this.destroy();
  }

  onClose(): void {
    this.closed = true;
    const owner = this.owner;
    this.owner = null;
    if (owner !== null) {
      if (!this.connected) owner.onConnectError(this, new Error('connection closed before connect'));
      else owner.onUpstreamFailure(this, 'reset', 'backend closed the connection');
    }
    this.pool.forget(this);
    this.reader.free();
  }

  /** Owner is done with a complete response: back to the pool if reusable, else closed. */
  release(): void {
    this.owner = null;
    if (this.inExecute) this.releaseAfterExecute = true;
    else this.pool.release(this);
  }

  /**
   * The owner relayed a 101 (called from its response callbacks, inside a read): once the read
   * is parsed, the socket leaves this connection and the pool for good and goes to `start`,
   * with the bytes the backend sent after the 101 (already in the new protocol).
   */
  switchProtocols(start: (socket: ProxySocket, rest: Buffer | null) => void): void {
    this.switchTo = start;
  }

  private handOver(chunk: Buffer, parsed: number): void {
    const start = this.switchTo!;
    this.switchTo = null;
    this.owner = null;
    this.closed = true;
    this.pool.forget(this);
    this.reader.free();
    // Copied: a read's bytes may be valid only during the read callback.
    const rest = parsed < chunk.length ? Buffer.from(chunk.subarray(parsed)) : null;
    start(this.socket, rest);
  }

  /** Owner gives up on this connection (hedge loser, client gone, failure): close it. */
  abandon(): void {
    this.owner = null;
    this.destroy();
  }

  destroy(): void {
    this.owner = null;
    if (!this.closed) {
      this.closed = true;
      this.socket.destroy();
    }
  }

  /** @internal by the pool when handing an idle connection to a new owner. */
  assign(owner: UpstreamOwner): void {
    this.owner = owner;
    this.received = 0;
    this.requestDone = false;
    this.responseKeepAlive = false;
  }
}

export class UpstreamPool {
  /** Idle connections by backend id. */
  private readonly idle: UpstreamConn[][] = [];
  /** Every open connection, to close them all at shutdown. */
  private readonly open = new Set<UpstreamConn>();
  /** Idle connections bound to clients (kept on the clients), counted by backend id. */
  private readonly boundIdleCount: number[] = [];

  constructor(
    public settings: UpstreamSettings,
    /** Told of a throw from our own code inside a connection's parser callbacks (logged). */
    readonly onInternalError: (err: unknown) => void,
  ) {}

  /**
   * An idle connection to `backend` (connected, assigned to `owner`), or a new one being
   * connected. For a backend sent PROXY headers, only one bound to `client` is reused.
   */
  acquire(backend: Backend, owner: UpstreamOwner, client: ProxiedClient): UpstreamConn {
    const version = backend.sendProxy;
    if (version !== null) return this.acquireBound(backend, owner, client, version);
    const stack = this.idle[backend.id];
    while (stack !== undefined && stack.length > 0) {
      const conn = stack.pop()!;
      if (conn.closed) continue;
      conn.assign(owner);
      return conn;
    }
    const conn = new UpstreamConn(backend, owner, this, null, null);
    this.open.add(conn);
    return conn;
  }

  private acquireBound(backend: Backend, owner: UpstreamOwner, client: ProxiedClient, version: ProxyVersion): UpstreamConn {
    const bound = client.boundIdle;
    if (bound !== null) {
      for (let i = 0; i < bound.length; i++) {
        const conn = bound[i]!;
        if (conn.backend !== backend || conn.closed) continue;
        bound.splice(i, 1);
        this.boundIdleCount[backend.id]!--;
        conn.assign(owner);
        return conn;
      }
    }
    const conn = new UpstreamConn(backend, owner, this, client, client.proxyHeader(version));
    this.open.add(conn);
    return conn;
  }

  /** A new connection to `backend` for an upgrade: never an idle one, and never pooled after (it becomes a tunnel). */
  connect(backend: Backend, owner: UpstreamOwner, client: ProxiedClient): UpstreamConn {
    const version = backend.sendProxy;
    const conn = version === null ? new UpstreamConn(backend, owner, this, null, null) : new UpstreamConn(backend, owner, this, client, client.proxyHeader(version));
    conn.reusable = false;
    this.open.add(conn);
    return conn;
  }

  /** @internal a complete exchange: keep the connection if both sides allow it. */
  release(conn: UpstreamConn): void {
    if (conn.closed || !conn.reusable || !conn.responseKeepAlive || !conn.requestDone || conn.backend.removed) {
      conn.destroy();
      return;
    }
    const client = conn.boundTo;
    if (client !== null) {
      // Kept for its own client only, one per backend (a client runs one request at a time).
      const id = conn.backend.id;
      const idle = this.boundIdleCount[id] ?? 0;
      if (client.closed || idle >= this.settings.maxIdlePerBackend || client.boundIdle?.some((c) => c.backend === conn.backend)) {
        conn.destroy();
      } else {
        (client.boundIdle ??= []).push(conn);
        this.boundIdleCount[id] = idle + 1;
      }
      return;
    }
    // Opened without a header, and the backend wants one now (a reload): not reusable.
    if (conn.backend.sendProxy !== null) {
      conn.destroy();
      return;
    }
    const stack = (this.idle[conn.backend.id] ??= []);
    if (stack.length >= this.settings.maxIdlePerBackend) {
      conn.destroy();
      return;
    }
    stack.push(conn);
  }

  /** @internal a connection closed: drop it from the idle stack if it was there. */
  forget(conn: UpstreamConn): void {
    this.open.delete(conn);
    const bound = conn.boundTo?.boundIdle;
    if (bound != null) {
      const i = bound.indexOf(conn);
      if (i >= 0) {
        bound.splice(i, 1);
        this.boundIdleCount[conn.backend.id]!--;
      }
    }
    const stack = this.idle[conn.backend.id];
    if (stack !== undefined) {
      const i = stack.indexOf(conn);
      if (i >= 0) stack.splice(i, 1);
    }
  }

  /** Idle connections per backend (shared ones, and ones bound to clients), for the API and tests. */
  idleCount(backend: Backend): number {
    return (this.idle[backend.id]?.length ?? 0) + (this.boundIdleCount[backend.id] ?? 0);
  }

  /** Closes idle connections to a backend (removed by reload, or disabled). */
  closeIdle(backend: Backend): void {
    // Bound ones too: they idle on their clients, not in the stack. Rare (a backend leaving), so a scan.
    for (const conn of [...this.open]) if (conn.boundTo !== null && conn.owner === null && conn.backend === backend) conn.destroy();
    const stack = this.idle[backend.id];
    if (stack === undefined) return;
    this.idle[backend.id] = [];
    for (const conn of stack) conn.destroy();
  }

  /** A client connection closed: the backend connections kept for it close too (nobody else may use them). */
  unbind(client: ProxiedClient): void {
    const bound = client.boundIdle;
    if (bound === null) return;
    client.boundIdle = null;
    for (const conn of bound) {
      this.boundIdleCount[conn.backend.id]!--;
      conn.destroy();
    }
  }

  closeAll(): void {
    for (const conn of this.open) conn.destroy();
    this.open.clear();
    this.idle.length = 0;
  }

  get openCount(): number {
    return this.open.size;
  }
}
