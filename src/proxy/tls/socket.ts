/**
 * TlsSocket: a ProxySocket (../socket.ts) over a node:tls TLSSocket, so ClientConn and
 * UpstreamConn run unchanged on TLS connections while plain ones keep RawSocket's speed.
 *
 * The encryption itself is native: the TLSSocket wraps the TCP handle in C++ (TLSWrap), and
 * what this adapter adds is turning stream events into listener calls, plus RawSocket's
 * semantics where net.Socket's differ:
 * - setTimeout counts write progress as activity, as RawSocket does (a client reading a large
 *   response slowly but steadily is not idle); progress is read from the stream's counters
 *   when the quiet period ends, not stamped on every write;
 * - errors come as onError then onClose, once (the stream's own 'error'/'close' order);
 * - resetAndDestroy sends a RST through the TCP socket under the TLS one when there is one
 *   (accepted connections), else closes.
 */
import net from 'node:net';
import tls from 'node:tls';
import { IdleTimer } from '../uv/idle-timer.js';
import type { ProxySocket, ProxySocketListener } from '../socket.js';

const monotonicNow = (): number => performance.now();

/** What a TLS connection to a backend needs (resolved from servers[].tls by backend.ts). */
export interface TlsConnectOptions {
  secureContext: tls.SecureContext;
  /** SNI and the name checked against the certificate; undefined: the host (no SNI for an IP). */
  servername: string | undefined;
  /** Verify the backend's certificate (off only with insecureSkipVerify). */
  verify: boolean;
}

/** node:tls options for a backend with servers[].tls: the same for its traffic and its health checks. */
export function backendTlsOptions(t: TlsConnectOptions): tls.ConnectionOptions {
  return {
    secureContext: t.secureContext,
    // Node sends no SNI for an IP address and checks the certificate against the host then.
    ...(t.servername === undefined ? {} : { servername: t.servername }),
    rejectUnauthorized: t.verify,
    ALPNProtocols: ['http/1.1'],
  };
}

/**
 * A TLS connection to host:port. With `preamble` (a PROXY protocol header, servers[].sendProxy)
 * that goes first, in clear, on the TCP connection the handshake then runs over, as a backend
 * that reads the header off TCP expects; `written` is called once it is out (never on failure:
 * 'error' says so).
 */
export function connectTls(host: string, port: number, options: tls.ConnectionOptions, preamble: Buffer | null, written?: () => void): tls.TLSSocket {
  if (preamble === null) return tls.connect({ ...options, host, port });
  // Half-open as the TLS socket over it is (node:tls reads the option; its types lack it).
  const allowHalfOpen = (options as { allowHalfOpen?: boolean }).allowHalfOpen ?? false;
  const tcp = net.connect({ host, port, allowHalfOpen } as net.NetConnectOpts);
  // Written before the connect completes: net.Socket sends it first, ahead of the handshake.
  tcp.write(preamble, (err) => err == null && written?.());
  const secure = tls.connect({ ...options, host, port, socket: tcp });
  // Node passes the TCP socket's errors (refused, reset) on to the TLS one already; said here
  // too, so that no version leaves a refusal unseen until a timeout.
  tcp.once('error', (err) => secure.destroy(err));
  return secure;
}

export class TlsSocket implements ProxySocket {
  listener: ProxySocketListener;
  readonly encrypted = true;
  remoteAddress: string;
  destroyed = false;
  writableEnded = false;
  private readonly sock: tls.TLSSocket;
  /** The TCP socket under an accepted TLS socket (for a RST); null for outgoing ones. */
  private readonly raw: net.Socket | null;
  private paused = false;
  private started = false;
  private error: NodeJS.ErrnoException | undefined;
  /** Bytes the stream had handed to the connection when the last quiet period was checked. */
  private flushedAtCheck = 0;
  private readonly idle: IdleTimer;

  /** Wraps a TLS socket whose handshake is done (accepted) or under way (connect). */
  constructor(sock: tls.TLSSocket, raw: net.Socket | null, listener: ProxySocketListener) {
    this.sock = sock;
    this.raw = raw;
    this.listener = listener;
    this.remoteAddress = sock.remoteAddress ?? raw?.remoteAddress ?? '';
    this.idle = new IdleTimer(monotonicNow, this.onIdle);
    sock.setNoDelay(true);
    sock.on('end', () => this.listener.onEnd());
    sock.on('drain', () => {
      this.idle.touch();
      this.listener.onDrain();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err;
    });
    sock.on('close', () => {
      this.destroyed = true;
      this.idle.stop();
      const err = this.error;
      if (err !== undefined) this.listener.onError(err);
      this.listener.onClose();
    });
  }

  /**
   * A TLS connection to a backend; writes before the handshake wait for it (the stream queues
   * them). `preamble` (a PROXY protocol header, servers[].sendProxy) goes first, in clear, on
   * the TCP connection the TLS one then runs over.
   */
  static connect(host: string, port: number, options: TlsConnectOptions, listener: ProxySocketListener, preamble: Buffer | null = null): TlsSocket {
    // As RawSocket: the backend's FIN ends a response, our side stays open (Node reads it; its types lack it).
    const sock = connectTls(host, port, { ...backendTlsOptions(options), allowHalfOpen: true } as tls.ConnectionOptions, preamble);
    const socket = new TlsSocket(sock, null, listener);
    sock.once('secureConnect', () => {
      socket.remoteAddress = sock.remoteAddress ?? '';
      socket.idle.touch();
      socket.listener.onConnect?.();
    });
    socket.start();
    return socket;
  }

  get writableLength(): number {
    return this.sock.writableLength;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.sock.on('data', (chunk: Buffer) => {
      this.idle.touch();
      this.listener.onData(chunk);
    });
    if (this.paused) this.sock.pause();
  }

  write(data: Buffer | string): boolean {
    if (this.destroyed) return false;
    this.idle.touch();
    return typeof data === 'string' ? this.sock.write(data, 'latin1') : this.sock.write(data);
  }

  cork(): void {
    this.sock.cork();
  }

  uncork(): void {
    this.sock.uncork();
  }

  end(data?: Buffer | string): void {
    if (this.destroyed || this.writableEnded) return;
    this.writableEnded = true;
    this.idle.touch();
    // end() flushes whatever cork() held back; the close_notify and the FIN follow the data.
    if (data === undefined) this.sock.end();
    else if (typeof data === 'string') this.sock.end(data, 'latin1');
    else this.sock.end(data);
  }

  destroy(err?: NodeJS.ErrnoException): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.idle.stop();
    if (err !== undefined) this.error ??= err;
    this.sock.destroy();
  }

  resetAndDestroy(): void {
    if (this.destroyed) return;
    const raw = this.raw;
    if (raw === null || raw.destroyed) return this.destroy();
    this.destroyed = true;
    this.idle.stop();
    // The TLS socket closes when the TCP one under it does.
    raw.resetAndDestroy();
  }

  pause(): void {
    this.paused = true;
    if (this.started) this.sock.pause();
  }

  resume(): void {
    this.paused = false;
    if (this.started) this.sock.resume();
  }

  isPaused(): boolean {
    return this.paused;
  }

  setTimeout(ms: number): void {
    this.flushedAtCheck = this.flushed();
    this.idle.set(ms);
  }

  /** Bytes the connection has taken from the stream so far. */
  private flushed(): number {
    return this.sock.bytesWritten - this.sock.writableLength;
  }

  private readonly onIdle = (): void => {
    const flushed = this.flushed();
    if (flushed > this.flushedAtCheck) {
      // The peer took bytes in this period: not idle, look again a period later.
      this.flushedAtCheck = flushed;
      this.idle.touch();
      return;
    }
    this.listener.onTimeout();
  };
}
