/**
 * One direction of an L4 session: bytes read from `from` are written to `to`, on raw libuv
 * handles (see uv/handles.ts for why).
 *
 * Backpressure the way HAProxy does it with its buffers: a chunk the kernel takes at once
 * (the usual case) costs one read and one write syscall and nothing else; a chunk it does not
 * take at once stops reading from `from` until that write completes, so at most one chunk
 * per direction waits in memory, however slow the reader on the other side.
 *
 * Reads land in the read buffer every raw socket shares (uv/read-buffer.ts), not in a fresh
 * 64 KiB allocation per read; each chunk is copied out of it before its write (from Node's
 * pooled slab when small), because a write libuv cannot finish at once keeps pointing at its
 * bytes, and the next read of any socket overwrites that buffer. The write request is reused
 * after every write that finished at once (the usual case). Measured on one core under
 * wrk -c50 (nginx backends): 46-49k req/s with a fresh buffer per read, 51-53k with this.
 */
import {
  UV_EOF,
  WriteWrap,
  kLastWriteWasAsync,
  kReadBytesOrError,
  shutdownHandle,
  streamBaseState,
  type UvTcp,
  type UvWriteReq,
} from '../uv/handles.js';
import { copyOfLastRead, readBuffer } from '../uv/read-buffer.js';

/** What a flow tells the session it belongs to. */
export interface FlowOwner {
  /** Set once the session is closed: late callbacks (cancelled writes) are ignored. */
  readonly closed: boolean;
  /** A chunk went through: the session is not idle. */
  touch(): void;
  /** `from` sent its FIN and `to` has been shut down for writing after the last chunk. */
  flowEnded(flow: Flow): void;
  /** Reading `from`, writing `to` or shutting `to` down failed (reset, broken pipe). */
  flowFailed(flow: Flow, side: 'read' | 'write', status: number): void;
}

export class Flow {
  /** `from` sent its FIN. */
  eof = false;
  /** `to` was shut down for writing and the shutdown completed: everything sent got out. */
  shut = false;
  private waiting = false;
  /** The session gave this direction up (its writing side is gone): late callbacks do nothing. */
  private stopped = false;
  /** A write request libuv gave back at once, for the next write (one in flight at most: reading stops while one waits). */
  private spareReq: UvWriteReq | null = null;

  constructor(
    readonly from: UvTcp,
    readonly to: UvTcp,
    private readonly owner: FlowOwner,
  ) {
    from.onread = this.onRead;
    from.useUserBuffer(readBuffer);
  }

  start(): void {
    if (!this.eof && !this.waiting) this.from.readStart();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.eof) this.from.readStop();
  }

  private readonly onRead = (): void => {
    if (this.stopped) return;
    const n = streamBaseState[kReadBytesOrError]!;
    if (n > 0) {
      this.owner.touch();
      const chunk = copyOfLastRead(n);
      let req = this.spareReq;
      if (req === null) {
        req = new WriteWrap();
        req.handle = this.to;
        req.oncomplete = this.onWritten;
        req.async = false;
      } else {
        this.spareReq = null;
      }
      const status = this.to.writeBuffer(req, chunk);
      if (status !== 0) return this.owner.flowFailed(this, 'write', status);
      if (streamBaseState[kLastWriteWasAsync] !== 0) {
        // libuv holds this request (and the chunk) until onWritten; the next write takes a new one.
        req.buffer = chunk;
        this.waiting = true;
        this.from.readStop();
      } else {
        this.spareReq = req;
      }
      return;
    }
    if (n === 0) return;
    this.from.readStop();
    if (n !== UV_EOF) return this.owner.flowFailed(this, 'read', n);
    this.eof = true;
    // libuv queues the shutdown behind pending writes, so the FIN follows the last byte.
    const status = shutdownHandle(this.to, this.onShutdown);
    if (status !== 0) this.owner.flowFailed(this, 'write', status);
  };

  private readonly onWritten = (status: number): void => {
    if (this.owner.closed || this.stopped) return;
    if (status < 0) return this.owner.flowFailed(this, 'write', status);
    this.waiting = false;
    if (!this.eof) this.from.readStart();
  };

  private readonly onShutdown = (status: number): void => {
    if (this.owner.closed || this.stopped) return;
    if (status < 0) return this.owner.flowFailed(this, 'write', status);
    this.shut = true;
    this.owner.flowEnded(this);
  };
}
