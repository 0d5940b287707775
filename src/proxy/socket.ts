/**
 * ProxySocket: the part of a connection the L7 proxy uses (ClientConn, UpstreamConn, the
 * exchange writing responses), so they never know whether they hold a plain RawSocket
 * (uv/socket.ts, on a raw libuv handle: the fast path) or a TlsSocket (tls/socket.ts, over
 * node:tls). RawSocket's header comment states the behaviour both keep: write() returns false
 * past 16 KiB waiting and onDrain follows, cork()/uncork() send what is written between in one
 * go, end() sends the FIN after the last byte, setTimeout() is per quiet period, errors come
 * as onError then onClose and never synchronously inside a call the owner made.
 */

export interface ProxySocketListener {
  /** An outgoing connection is ready (for TLS: the handshake is done and the peer verified). */
  onConnect?(): void;
  /**
   * Bytes read. Valid only during this call: RawSocket reads every socket into one shared
   * buffer, which the next read overwrites. Keep `keepable(chunk)` (uv/read-buffer.ts) past it.
   */
  onData(chunk: Buffer): void;
  /** The peer sent its FIN. */
  onEnd(): void;
  onDrain(): void;
  onTimeout(): void;
  onError(err: NodeJS.ErrnoException): void;
  onClose(): void;
}

export interface ProxySocket {
  listener: ProxySocketListener;
  readonly remoteAddress: string;
  /** The connection is TLS: the client side sets X-Forwarded-Proto: https from it. */
  readonly encrypted: boolean;
  readonly destroyed: boolean;
  /** end() was called: nothing more may be written. */
  readonly writableEnded: boolean;
  /** Bytes written but not yet taken by the kernel. */
  readonly writableLength: number;
  /** Starts reading an accepted connection once its listener is ready. */
  start(): void;
  /** Writes a Buffer, or a string as latin1. False: wait for onDrain before writing more. */
  write(data: Buffer | string): boolean;
  cork(): void;
  uncork(): void;
  /** Writes `data` if given, then the FIN after the last byte. */
  end(data?: Buffer | string): void;
  /** Closes now; unsent data is dropped. */
  destroy(err?: NodeJS.ErrnoException): void;
  /** Closes with a RST where the transport allows it (else as destroy). */
  resetAndDestroy(): void;
  pause(): void;
  resume(): void;
  isPaused(): boolean;
  /** onTimeout after `ms` without reading, writing or write progress (0: never). */
  setTimeout(ms: number): void;
}

/** A listener for a socket whose owner is not built yet (the owner replaces it at once). */
export const NO_LISTENER: ProxySocketListener = {
  onData() {},
  onEnd() {},
  onDrain() {},
  onTimeout() {},
  onError() {},
  onClose() {},
};
