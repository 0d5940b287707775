/**
 * One direction of an L4 session: bytes read from `from` are written to `to`, on raw libuv
 * handles (see uv/handles.ts for why).
 *
 * Backpressure the way HAProxy does it with its buffers: a chunk the kernel takes at once
 * (the usual case) costs one read and one write syscall and nothing else; a chunk it does not
 * take at once stops reading from `from` until that write completes, so at most one chunk
 * per direction waits in memory, however slow the reader on the other side.
 */
import {
  UV_EOF,
  WriteWrap,
  kArrayBufferOffset,
  kLastWriteWasAsync,
  kReadBytesOrError,
  shutdownHandle,
  streamBaseState,
  type UvTcp,
} from '../uv/handles.js';

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

  constructor(
    readonly from: UvTcp,
    readonly to: UvTcp,
    private readonly owner: FlowOwner,
  ) {
    from.onread = this.onRead;
  }

  start(): void {
    if (!this.eof && !this.waiting) this.from.readStart();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.eof) this.from.readStop();
  }

  private readonly onRead = (arrayBuffer: ArrayBuffer | undefined): void => {
    if (this.stopped) return;
    const n = streamBaseState[kReadBytesOrError]!;
    if (n > 0) {
      this.owner.touch();
      const chunk = new Uint8Array(arrayBuffer!, streamBaseState[kArrayBufferOffset]!, n);
      const req = new WriteWrap();
      req.handle = this.to;
      req.oncomplete = this.onWritten;
      req.async = false;
      const status = this.to.writeBuffer(req, chunk);
      if (status !== 0) return this.owner.flowFailed(this, 'write', status);
      if (streamBaseState[kLastWriteWasAsync] !== 0) {
        req.buffer = chunk;
        this.waiting = true;
        this.from.readStop();
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
