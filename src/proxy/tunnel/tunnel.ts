/**
 * A two-way byte tunnel between a client and a backend connection, after an HTTP upgrade
 * (WebSocket and the like) was accepted with a 101: bytes read from one side are written to
 * the other, untouched, until both sides are done.
 *
 * - Backpressure: a write the other socket cannot take at once (ProxySocket.write false) stops
 *   reading this side until that socket drains, so at most about one socket buffer (16 KiB)
 *   plus one read waits in memory per direction, however slow the reader.
 * - Half-close: a side's FIN is passed on as our FIN to the other side after the last byte;
 *   the other direction keeps flowing until its own FIN (a socket closes once both
 *   directions are done).
 * - A side that closes abruptly (reset, error, timeout of ours) ends the tunnel: the other
 *   side gets what was already written to it, then our FIN, and is closed at the latest
 *   FLUSH_MS later.
 * - Idle: no byte either way for `idleMs` closes both (every byte is read on one socket and
 *   written on the other, so the client socket's idle timer sees traffic in both directions).
 *   Lifetime: `maxMs` after the 101 both are closed whatever they do.
 *
 * Plain or TLS on either side: both are ProxySockets (src/proxy/socket.ts).
 *
 * The owner (the HTTP exchange that was upgraded) hears `tunnelClosed` once, after both
 * sockets closed, with the bytes that went each way.
 */
import type { ProxySocket, ProxySocketListener } from '../socket.js';

/** How long a side whose peer is gone may take to flush what was written to it. */
const FLUSH_MS = 5_000;

export interface TunnelSettings {
  /** Close after this long without a byte either way (0: never). */
  idleMs: number;
  /** Close this long after the upgrade, busy or not (0: never). */
  maxMs: number;
}

/** Why a tunnel ended, for the owner's outcome and log. */
export type TunnelEnding = 'closed' | 'idle' | 'lifetime' | 'backend_error' | 'client_error' | 'stopped';

export interface TunnelOwner {
  tunnelClosed(tunnel: Tunnel): void;
}

/** One side of the tunnel: the listener of its socket, writing what it reads to its peer. */
class TunnelEnd implements ProxySocketListener {
  peer!: TunnelEnd;
  /** Bytes read from this side (and written to the peer). */
  bytesRead = 0;
  /** The socket closed (onClose came). */
  closed = false;
  /** This side's peer is gone: close once what was written here is out. */
  private flushing = false;

  constructor(
    readonly socket: ProxySocket,
    private readonly tunnel: Tunnel,
    private readonly backend: boolean,
  ) {}

  onData(chunk: Buffer): void {
    this.bytesRead += chunk.length;
    const peer = this.peer;
    if (peer.closed || peer.flushing) return;
    if (!peer.socket.write(chunk)) this.socket.pause();
  }

  onEnd(): void {
    // Half-close: the FIN goes on after the last byte; the other direction keeps flowing.
    if (!this.peer.closed) this.peer.socket.end();
  }

  onDrain(): void {
    if (this.flushing) {
      this.socket.destroy();
      return;
    }
    if (!this.peer.closed) this.peer.socket.resume();
  }

  onTimeout(): void {
    this.tunnel.close('idle');
  }

  onError(): void {
    this.tunnel.failed(this.backend);
  }

  onClose(): void {
    this.closed = true;
    this.tunnel.endClosed();
  }

  /** The peer is gone: send what was written here, then the FIN, then close (bounded by FLUSH_MS). */
  flushAndClose(): void {
    if (this.closed || this.flushing) return;
    this.flushing = true;
    this.socket.end();
    if (this.socket.writableLength === 0) {
      this.socket.destroy();
      return;
    }
    this.socket.setTimeout(FLUSH_MS);
  }

  /** A timeout while flushing means the reader never took the rest: give up. */
  get isFlushing(): boolean {
    return this.flushing;
  }
}

export class Tunnel {
  readonly client: TunnelEnd;
  readonly backend: TunnelEnd;
  ending: TunnelEnding | undefined;
  done = false;
  private readonly lifetime: NodeJS.Timeout | undefined;

  /**
   * Takes over both sockets (their listeners change to the tunnel's). `clientHead` are bytes
   * the client sent after its upgrade request, `backendHead` bytes the backend sent after its
   * 101; each goes to the other side first. The client socket may be paused: reading resumes.
   */
  constructor(
    clientSocket: ProxySocket,
    backendSocket: ProxySocket,
    clientHead: Buffer | null,
    backendHead: Buffer | null,
    settings: TunnelSettings,
    private readonly owner: TunnelOwner,
  ) {
    const client = new TunnelEnd(clientSocket, this, false);
    const backend = new TunnelEnd(backendSocket, this, true);
    client.peer = backend;
    backend.peer = client;
    this.client = client;
    this.backend = backend;
    clientSocket.listener = client;
    backendSocket.listener = backend;
    backendSocket.setTimeout(0);
    clientSocket.setTimeout(settings.idleMs);
    this.lifetime = settings.maxMs > 0 ? setTimeout(() => this.close('lifetime'), settings.maxMs).unref() : undefined;
    if (backendHead !== null && backendHead.length > 0) backend.onData(backendHead);
    let clientBlocked = false;
    if (clientHead !== null && clientHead.length > 0) {
      client.bytesRead += clientHead.length;
      clientBlocked = !backendSocket.write(clientHead);
    }
    // The client connection paused reading while the upgrade was pending; it resumes now,
    // unless its first bytes already filled the backend socket (the drain resumes it then).
    if (!clientBlocked) clientSocket.resume();
  }

  /** Bytes from the client to the backend, and back. */
  get bytesIn(): number {
    return this.client.bytesRead;
  }

  get bytesOut(): number {
    return this.backend.bytesRead;
  }

  /** A side failed (reset, write error): the other gets what it was sent, then closes. */
  failed(backendSide: boolean): void {
    this.ending ??= backendSide ? 'backend_error' : 'client_error';
  }

  /** Closes both sides now (idle, lifetime, shutdown). */
  close(why: TunnelEnding): void {
    const flushing = this.client.isFlushing || this.backend.isFlushing;
    this.ending ??= flushing ? 'closed' : why;
    this.client.socket.destroy();
    this.backend.socket.destroy();
  }

  /** @internal one socket closed: the other follows; the owner hears once both are closed. */
  endClosed(): void {
    const { client, backend } = this;
    if (client.closed && backend.closed) {
      if (this.done) return;
      this.done = true;
      this.ending ??= 'closed';
      if (this.lifetime !== undefined) clearTimeout(this.lifetime);
      this.owner.tunnelClosed(this);
      return;
    }
    (client.closed ? backend : client).flushAndClose();
  }
}
