/**
 * The one read buffer of every raw socket, L7 (RawSocket) and L4 (Flow) alike: the stream
 * binding's user-buffer mode. Without it Node allocates 64 KiB per read, shrinks it to the
 * bytes read, and frees it from V8's ArrayBuffer sweeper on a helper thread: measured, a tenth
 * of the L7 proxy's CPU per request (malloc, realloc, sweeping, the helper thread's wake-ups).
 * Reads of all sockets come one at a time from the event loop, so one buffer serves them all.
 *
 * DATA LIFETIME: a chunk read into it is valid until the next read of any socket overwrites
 * it, that is during the callback it was given to. Whoever keeps it longer keeps
 * `keepable(chunk)`; whoever hands it to a write libuv may finish later hands a copy.
 */
const READ_BUFFER_BYTES = 64 * 1024;

/** Pass to `handle.useUserBuffer`; a read's bytes are then at its start. */
export const readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
const readArrayBuffer = readBuffer.buffer;

/** `chunk`, or a copy of it when it lies in the shared read buffer that the next read overwrites. */
export function keepable(chunk: Buffer): Buffer {
  return chunk.buffer === readArrayBuffer ? Buffer.from(chunk) : chunk;
}

/** The first `n` bytes of the read buffer, as a Buffer valid until the next read. */
export function lastRead(n: number): Buffer {
  return Buffer.from(readArrayBuffer, 0, n);
}

/**
 * A copy of the first `n` bytes of the read buffer, safe to hand to a write libuv may finish
 * later. Small reads (most of a proxy's) come from Node's pooled slab: no malloc per read.
 */
export function copyOfLastRead(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  readBuffer.copy(out, 0, 0, n);
  return out;
}
