/**
 * A request body as the exchange holds it while it streams to a backend: chunks kept for
 * replay, so a retry or a hedge can send the body again, while the body is no larger than the
 * replay limit; past it the body is no longer replayable and a chunk is forgotten once written
 * to the attempt carrying it (the primary). `pendingFrom` marks what the primary has not been
 * sent yet (it may still be connecting).
 */
import { writeChunk } from './chunks.js';
import type { Framing } from './headers.js';
import type { ProxySocket } from '../socket.js';
import { keepable } from '../uv/read-buffer.js';

export class RequestBody {
  private chunks: Buffer[] = [];
  /** Bytes held now. */
  bytes = 0;
  /** chunks[pendingFrom..] are not yet written to the primary attempt. */
  private pendingFrom = 0;

  constructor(
    readonly framing: Framing,
    /** Kept whole for a replay: false once it outgrows `limit`, or when its length says it will. */
    public replayable: boolean,
    private readonly limit: number,
  ) {}

  /** A chunk from the client; may make the body unreplayable. Kept past the read: see keepable. */
  push(chunk: Buffer): void {
    this.chunks.push(keepable(chunk));
    this.bytes += chunk.length;
    if (this.replayable && this.bytes > this.limit) this.replayable = false;
  }

  /** The newest chunk, written at once to a primary that is already sending. */
  writeLast(sock: ProxySocket): boolean {
    const ok = writeChunk(sock, this.chunks[this.chunks.length - 1]!, this.framing);
    this.allWritten();
    return ok;
  }

  /**
   * Writes what an attempt that just connected lacks: everything held for a new attempt (a
   * retry or a hedge replays the body), the unsent rest for the primary.
   */
  writeTo(sock: ProxySocket, primary: boolean): void {
    const from = primary ? this.pendingFrom : 0;
    for (let i = from; i < this.chunks.length; i++) writeChunk(sock, this.chunks[i]!, this.framing);
    if (primary) this.allWritten();
  }

  /** A new primary (failover, retry) starts from the first byte kept. */
  restart(): void {
    this.pendingFrom = 0;
  }

  /** Bytes held that the primary has not been sent: reading pauses when they outgrow the limit. */
  get unsentTooLarge(): boolean {
    if (this.replayable) return false;
    let written = 0;
    for (let i = 0; i < this.pendingFrom; i++) written += this.chunks[i]!.length;
    return this.bytes - written > this.limit;
  }

  clear(): void {
    this.chunks = [];
    this.bytes = 0;
    this.pendingFrom = 0;
  }

  /** Everything held went to the primary; an unreplayable body forgets it. */
  private allWritten(): void {
    this.pendingFrom = this.chunks.length;
    if (this.replayable || this.pendingFrom === 0) return;
    this.chunks = [];
    this.bytes = 0;
    this.pendingFrom = 0;
  }
}
