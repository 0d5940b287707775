/**
 * RawSocket: the part of net.Socket the L7 proxy uses, on a raw libuv handle (handles.ts says
 * why), with callbacks on one listener object instead of events and streams.
 *
 * What it keeps of net.Socket's behaviour, because the proxy relies on it:
 * - write() returns false once 16 KiB wait in the kernel's stead (Node's highWaterMark), and
 *   the listener's onDrain follows when they are out;
 * - cork()/uncork(): what is written in between leaves in one write syscall (head + body);
 * - end(): the FIN follows the last byte written; the socket closes once the peer's FIN came
 *   too (a half-closed peer can still read what we send until then);
 * - setTimeout(ms): onTimeout once per quiet period of `ms`, where reading, writing and write
 *   progress count as activity, re-armed by the next activity;
 * - errors arrive as onError then onClose, never synchronously inside a call the owner made.
 * What it leaves out: encodings other than latin1 for strings, 'readable' mode, listeners.
 *
 * DATA LIFETIME (differs from net.Socket): the chunk given to onData lies in the read buffer
 * shared by every raw socket (read-buffer.ts), and the next read (of any socket) overwrites
 * it. It is valid only during the onData call. Whoever keeps it longer (a parked request
 * tail, a body kept for a replay) keeps `keepable(chunk)`. Writing it to a RawSocket is safe:
 * write() copies it.
 */
import {
  UV_EOF,
  WriteWrap,
  connectTo,
  kLastWriteWasAsync,
  kReadBytesOrError,
  peerAddress,
  shutdownHandle,
  streamBaseState,
  type Connecting,
  uvError,
  type UvTcp,
  type UvWriteReq,
} from './handles.js';
import { IdleTimer } from './idle-timer.js';
import { keepable, lastRead, readBuffer } from './read-buffer.js';
import type { ProxySocket } from '../socket.js';

const HIGH_WATER_MARK = 16 * 1024;

/** Corked writes up to this size are copied into one Buffer; larger ones go out with writev. */
const COALESCE_LIMIT = 16 * 1024;

export interface RawSocketListener {
  onConnect?(): void;
  onData(chunk: Buffer): void;
  /** The peer sent its FIN. */
  onEnd(): void;
  onDrain(): void;
  onTimeout(): void;
  onError(err: NodeJS.ErrnoException): void;
  onClose(): void;
}

const monotonicNow = (): number => performance.now();

interface WriteReq extends UvWriteReq {
  socket: RawSocket;
  bytes: number;
}

function onWriteComplete(this: WriteReq, status: number): void {
  this.socket.writeCompleted(this, status);
}

export class RawSocket implements ProxySocket {
  listener: RawSocketListener;
  readonly encrypted = false;
  remoteAddress = '';
  destroyed = false;
  /** end() was called: nothing more may be written. */
  writableEnded = false;
  /** Bytes written but not yet taken by the kernel (queued in libuv), plus corked ones. */
  writableLength = 0;
  private handle: UvTcp | null;
  private connecting = false;
  private attempt: Connecting | null = null;
  /** A shutdown (our FIN) was asked of libuv: a reset can no longer be done. */
  private shutdownRequested = false;
  private reading = false;
  private paused = false;
  private peerEnded = false;
  private shutDown = false;
  private needDrain = false;
  private corked = 0;
  private readonly corkedChunks: Array<Buffer | string> = [];
  private readonly idle = new IdleTimer(monotonicNow, () => this.listener.onTimeout());
  private pendingError: NodeJS.ErrnoException | undefined;
  /** A write request libuv gave back at once (the usual case), reused by the next write. */
  private spareReq: WriteReq | null = null;

  /** A socket on an accepted handle (null: see connect); reading starts with start(). */
  constructor(handle: UvTcp | null, listener: RawSocketListener) {
    this.handle = handle;
    this.listener = listener;
    if (handle === null) return;
    handle.onread = this.onRead;
    handle.useUserBuffer(readBuffer);
    handle.setNoDelay(true);
    this.remoteAddress = peerAddress(handle);
  }

  /** Connects to host:port (a host name is resolved first); writes before the connect wait for it. */
  static connect(host: string, port: number, listener: RawSocketListener): RawSocket {
    const socket = new RawSocket(null, listener);
    socket.connecting = true;
    // On the next tick, as net.connect does: the caller may still drop the socket in the
    // current one (a request found malformed further down the same read), and then no
    // connection reaches the backend at all.
    process.nextTick(() => {
      if (socket.destroyed) return;
      socket.attempt = connectTo(host, port, (err, handle) => {
        socket.attempt = null;
        if (err !== null) return socket.destroy(err);
        socket.onConnected(handle!);
      });
    });
    return socket;
  }

  private onConnected(handle: UvTcp): void {
    this.handle = handle;
    handle.onread = this.onRead;
    handle.useUserBuffer(readBuffer);
    handle.setNoDelay(true);
    this.connecting = false;
    this.idle.touch();
    this.startReading();
    if (this.corked === 0) this.flushCorked();
    if (this.writableEnded) this.shutdown();
    this.listener.onConnect?.();
  }

  private startReading(): void {
    if (this.reading || this.paused || this.peerEnded || this.destroyed || this.connecting) return;
    this.reading = true;
    this.handle!.readStart();
  }

  /** Called by the owner of an accepted socket once its listener is ready for data. */
  start(): void {
    this.startReading();
  }

  private readonly onRead = (): void => {
    const n = streamBaseState[kReadBytesOrError]!;
    if (n > 0) {
      this.idle.touch();
      this.listener.onData(lastRead(n));
      return;
    }
    if (n === 0) return;
    this.reading = false;
    this.handle!.readStop();
    if (n !== UV_EOF) return this.destroy(uvError(n, 'read'));
    this.peerEnded = true;
    if (this.shutDown) return this.destroy();
    this.listener.onEnd();
  };

  pause(): void {
    this.paused = true;
    if (this.reading) {
      this.reading = false;
      this.handle!.readStop();
    }
  }

  resume(): void {
    this.paused = false;
    this.startReading();
  }

  isPaused(): boolean {
    return this.paused;
  }

  cork(): void {
    this.corked++;
  }

  uncork(): void {
    if (this.corked > 0 && --this.corked === 0 && !this.connecting) this.flushCorked();
  }

  /** Writes a Buffer, or a string as latin1. False: wait for onDrain before writing more. */
  write(data: Buffer | string): boolean {
    if (this.destroyed) return false;
    if (this.writableEnded) {
      // As net.Socket: an error, so a writer that missed the end cannot wait for a drain forever.
      this.failLater(Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' }));
      return false;
    }
    this.idle.touch();
    // A chunk of the shared read buffer may outlive this call (corked, or in a write libuv
    // finishes later): copy it now, before the next read overwrites it.
    if (typeof data !== 'string') data = keepable(data);
    if (this.corked > 0 || this.connecting) {
      this.corkedChunks.push(data);
      this.writableLength += data.length;
    } else {
      this.dispatch(data, data.length);
    }
    if (this.writableLength < HIGH_WATER_MARK) return true;
    this.needDrain = true;
    return false;
  }

  private flushCorked(): void {
    const chunks = this.corkedChunks;
    if (chunks.length === 0 || this.destroyed) return;
    let total = 0;
    for (const c of chunks) total += c.length;
    this.writableLength -= total;
    if (chunks.length === 1) {
      this.dispatch(chunks[0]!, total);
    } else if (total <= COALESCE_LIMIT) {
      const out = Buffer.allocUnsafe(total);
      let at = 0;
      for (const c of chunks) at += typeof c === 'string' ? out.write(c, at, 'latin1') : c.copy(out, at);
      this.dispatch(out, total);
    } else {
      this.dispatch(
        chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'latin1') : c)),
        total,
      );
    }
    chunks.length = 0;
    // Everything went out at once: a writer told to wait must still hear it can go on.
    if (this.needDrain && this.writableLength === 0) process.nextTick(this.drainLater);
  }

  private readonly drainLater = (): void => {
    if (this.destroyed || !this.needDrain || this.writableLength !== 0) return;
    this.needDrain = false;
    this.listener.onDrain();
  };

  private dispatch(data: Buffer | string | Buffer[], bytes: number): void {
    if (this.pendingError !== undefined) return;
    const handle = this.handle!;
    // Reused: a fresh WriteWrap and its four properties per write cost more than the write's JS.
    let req = this.spareReq;
    if (req === null) {
      req = new WriteWrap() as WriteReq;
      req.handle = handle;
      req.oncomplete = onWriteComplete;
      req.async = false;
      req.socket = this;
    } else {
      this.spareReq = null;
    }
    req.bytes = bytes;
    const status =
      typeof data === 'string' ? handle.writeLatin1String(req, data) : Array.isArray(data) ? handle.writev(req, data, true) : handle.writeBuffer(req, data);
    if (status !== 0) return this.failLater(uvError(status, 'write'));
    if (streamBaseState[kLastWriteWasAsync] !== 0) {
      // libuv holds this request (and the data) until oncomplete: a new one for the next write.
      req.buffer = data as UvWriteReq['buffer'];
      this.writableLength += bytes;
    } else {
      this.spareReq = req;
    }
  }

  /** @internal a write that went asynchronous is done. */
  writeCompleted(req: WriteReq, status: number): void {
    if (this.destroyed) return;
    if (status < 0) return this.destroy(uvError(status, 'write'));
    this.writableLength -= req.bytes;
    this.idle.touch();
    if (this.needDrain && this.writableLength === 0) {
      this.needDrain = false;
      this.listener.onDrain();
    }
  }

  /** Writes `data` if given, then the FIN after the last byte. */
  end(data?: Buffer | string): void {
    if (this.destroyed || this.writableEnded) return;
    if (data !== undefined) this.write(data);
    this.writableEnded = true;
    this.corked = 0;
    if (this.connecting) return; // flushed, then shut down, once connected
    this.flushCorked();
    this.shutdown();
  }

  private shutdown(): void {
    this.shutdownRequested = true;
    const status = shutdownHandle(this.handle!, (done) => {
      if (this.destroyed) return;
      this.shutDown = true;
      // Both directions are done (or the peer is gone): nothing is left to wait for.
      if (done < 0 || this.peerEnded) this.destroy();
    });
    if (status !== 0) this.failLater(uvError(status, 'shutdown'));
  }

  /** Closes the connection now; what was not yet written is dropped. */
  destroy(err?: NodeJS.ErrnoException): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.idle.stop();
    const done = (): void => {
      if (err !== undefined) this.listener.onError(err);
      this.listener.onClose();
    };
    this.attempt?.cancel();
    this.attempt = null;
    if (this.handle === null) queueMicrotask(done);
    else this.handle.close(done);
  }

  /** Closes with a RST: the peer learns at once, and unsent data does not linger in the kernel. */
  resetAndDestroy(): void {
    if (this.destroyed) return;
    const handle = this.handle;
    // libuv refuses a reset once a shutdown is queued, and Node then marks the handle closing
    // without closing it: a plain close is the only safe way out then.
    if (handle === null || this.connecting || this.shutdownRequested) return this.destroy();
    this.destroyed = true;
    this.idle.stop();
    handle.reset(() => this.listener.onClose());
  }

  /** An error found inside a call of the owner's: reported on the next tick, as net.Socket does. */
  private failLater(err: NodeJS.ErrnoException): void {
    if (this.pendingError !== undefined) return;
    this.pendingError = err;
    process.nextTick(() => this.destroy(err));
  }

  /** onTimeout after `ms` without reading, writing or write progress (0: never); see IdleTimer. */
  setTimeout(ms: number): void {
    this.idle.set(ms);
  }
}
