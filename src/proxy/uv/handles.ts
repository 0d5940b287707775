/**
 * libuv TCP handles, reached through `process.binding('tcp_wrap')` and `('stream_wrap')`:
 * the layer under net.Socket, without its streams. Both data planes use them: the L4 relay
 * directly (tcp/flow.ts), the L7 proxy through RawSocket (socket.ts).
 *
 * Why: a proxy only moves bytes, and net.Socket's Readable/Writable machinery per chunk
 * (push, emit 'data', writeOrBuffer, a WriteWrap and a nextTick per write, the socket timer
 * refreshed on every read and write) cost as much CPU as the syscalls themselves. Measured
 * with the setup of `ballast bench --throughput` on this 2-core machine (wrk -c50, relay
 * pinned to one core): net.Socket 'data' + write() relay ~30k req/s, the same relay on these
 * handles ~37.5k, HAProxy 2.6 in TCP mode ~39k.
 *
 * This is private API, like the llhttp binding: package.json's `engines` names the majors it is
 * known to work on (20, 22, 24), CI runs the suite on the machine's Node and on Node 24, and
 * test/proxy/uv-binding.test.ts fails loudly if the shape used here changes. Node 24 added a
 * second way to write (`writeBuffer(null, data)` returns a request object when the write goes
 * asynchronous); we always pass our own WriteWrap, which every supported major still takes, so
 * one code path serves all three.
 */
import dns from 'node:dns';
import net from 'node:net';
import util from 'node:util';

/** A libuv TCP handle (TCPWrap), as much of it as the proxy uses. */
export interface UvTcp {
  /** Called with `this` = the handle; bytes or error in streamBaseState[kReadBytesOrError]. */
  onread: ((arrayBuffer: ArrayBuffer | undefined) => void) | null;
  onconnection: ((status: number, client: UvTcp | undefined) => void) | null;
  readStart(): number;
  readStop(): number;
  /**
   * Reads land in `buffer` (from its start) instead of a fresh ArrayBuffer per read; `onread`
   * then gets no ArrayBuffer, only the byte count in streamBaseState[kReadBytesOrError].
   */
  useUserBuffer(buffer: Uint8Array): void;
  writeBuffer(req: UvWriteReq, data: Uint8Array): number;
  writeLatin1String(req: UvWriteReq, data: string): number;
  /** `allBuffers` true: `chunks` is an array of Buffers, written with one writev. */
  writev(req: UvWriteReq, chunks: Uint8Array[], allBuffers: true): number;
  shutdown(req: UvShutdownReq): number;
  close(callback?: () => void): void;
  /** Closes with a RST instead of a FIN (SO_LINGER 0). */
  reset(callback?: () => void): number;
  setNoDelay(enable: boolean): number;
  bind(address: string, port: number): number;
  bind6(address: string, port: number, flags: number): number;
  listen(backlog: number): number;
  connect(req: UvConnectReq, address: string, port: number): number;
  connect6(req: UvConnectReq, address: string, port: number): number;
  getsockname(out: Partial<net.AddressInfo>): number;
  getpeername(out: Partial<net.AddressInfo>): number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

export interface UvWriteReq {
  handle: UvTcp;
  /** Called only when the write went asynchronous (kLastWriteWasAsync). */
  oncomplete: (status: number) => void;
  async: boolean;
  /** Keeps the chunk alive while libuv holds a pointer to it. */
  buffer: Uint8Array | string | Uint8Array[] | null;
}

export interface UvShutdownReq {
  handle: UvTcp;
  oncomplete: (status: number) => void;
}

export interface UvConnectReq {
  oncomplete: (status: number) => void;
  address: string;
  port: number;
}

interface TcpWrapBinding {
  TCP: new (type: number) => UvTcp;
  TCPConnectWrap: new () => UvConnectReq;
  constants: { SOCKET: number; SERVER: number };
}

interface StreamWrapBinding {
  WriteWrap: new () => UvWriteReq;
  ShutdownWrap: new () => UvShutdownReq;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

// process.binding is deprecated in the docs only (DEP0111), and is how these are reachable.
const legacy = process as unknown as { binding(name: string): unknown };
const tcpWrap = legacy.binding('tcp_wrap') as TcpWrapBinding;
const streamWrap = legacy.binding('stream_wrap') as StreamWrapBinding;
const uvBinding = legacy.binding('uv') as { UV_EOF: number };

export const { TCP, TCPConnectWrap } = tcpWrap;
export const TCP_SOCKET = tcpWrap.constants.SOCKET;
export const TCP_SERVER = tcpWrap.constants.SERVER;
export const { WriteWrap, ShutdownWrap, streamBaseState } = streamWrap;
export const kReadBytesOrError = streamWrap.kReadBytesOrError;
export const kArrayBufferOffset = streamWrap.kArrayBufferOffset;
export const kLastWriteWasAsync = streamWrap.kLastWriteWasAsync;
export const UV_EOF = uvBinding.UV_EOF;

/** The peer's IP address of a connected handle ('' when it is already gone). */
export function peerAddress(handle: UvTcp): string {
  const peer: Partial<net.AddressInfo> = {};
  return handle.getpeername(peer) === 0 ? (peer.address ?? '') : '';
}

/**
 * Sends our FIN once the writes queued before it are out (libuv orders them). `done` gets 0
 * or a libuv status; the return value is the immediate status (non-zero: `done` never runs).
 */
export function shutdownHandle(handle: UvTcp, done: (status: number) => void): number {
  const req = new ShutdownWrap();
  req.handle = handle;
  req.oncomplete = done;
  return handle.shutdown(req);
}

let errorTexts: Map<number, [string, string]> | undefined;

/**
 * A libuv status code as the Error Node itself would throw: `code` is 'EADDRINUSE' and so on.
 * Anything but a negative number (a closed handle's methods return undefined) reads as EBADF.
 */
export function uvError(status: unknown, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  errorTexts ??= util.getSystemErrorMap();
  const known = typeof status === 'number' && status < 0 ? errorTexts.get(status) : undefined;
  const [name, text] = known ?? ['EBADF', 'bad file descriptor'];
  const where = address === undefined ? '' : ` ${address}:${port}`;
  const err = new Error(`${syscall} ${name}: ${text}${where}`) as NodeJS.ErrnoException & { address?: string; port?: number };
  err.code = name;
  if (typeof status === 'number') err.errno = status;
  err.syscall = syscall;
  if (address !== undefined) {
    err.address = address;
    err.port = port;
  }
  return err;
}

interface Address {
  address: string;
  family: number;
}

/** Every address of `host`, in DNS order (an IP address: itself, at once). */
function resolveAll(host: string, done: (err: NodeJS.ErrnoException | null, addresses: Address[]) => void): void {
  const family = net.isIP(host);
  if (family !== 0) return done(null, [{ address: host, family }]);
  dns.lookup(host, { all: true }, (err, addresses) => done(err, err === null ? addresses : []));
}

/** A listening server handle on host:port (port 0: any free one); `onconnection` is the caller's. */
export async function listenHandle(host: string, port: number, backlog = 511): Promise<{ handle: UvTcp; host: string; port: number }> {
  const [{ address, family }] = await new Promise<Address[]>((resolve, reject) => resolveAll(host, (err, all) => (err ? reject(err) : resolve(all))));
  const handle = new TCP(TCP_SERVER);
  let status = family === 6 ? handle.bind6(address, port, 0) : handle.bind(address, port);
  // libuv may report EADDRINUSE at listen() rather than at bind().
  if (status === 0) status = handle.listen(backlog);
  if (status !== 0) {
    handle.close();
    throw uvError(status, 'listen', address, port);
  }
  const bound: Partial<net.AddressInfo> = {};
  handle.getsockname(bound);
  return { handle, host: bound.address ?? address, port: bound.port ?? port };
}

/** A connection being opened; cancel() gives up (closing what is open), and done is not called. */
export interface Connecting {
  cancel(): void;
}

/**
 * Opens a connection to host:port: each address DNS gives for `host`, in order, until one
 * accepts (net.connect's fallback across addresses, without its racing). `done` gets the
 * connected handle, or the last error. Always asynchronous.
 */
export function connectTo(host: string, port: number, done: (err: NodeJS.ErrnoException | null, handle: UvTcp | null) => void): Connecting {
  let cancelled = false;
  let handle: UvTcp | null = null;
  const tryFrom = (addresses: Address[], i: number): void => {
    const { address, family } = addresses[i]!;
    const h = new TCP(TCP_SOCKET);
    handle = h;
    const req = new TCPConnectWrap();
    req.address = address;
    req.port = port;
    req.oncomplete = (status: number) => {
      if (cancelled) return;
      if (status === 0) return done(null, h);
      h.close();
      handle = null;
      if (i + 1 < addresses.length) tryFrom(addresses, i + 1);
      else done(uvError(status, 'connect', address, port), null);
    };
    const status = family === 6 ? h.connect6(req, address, port) : h.connect(req, address, port);
    if (status !== 0) queueMicrotask(() => req.oncomplete(status));
  };
  resolveAll(host, (err, addresses) => {
    if (cancelled) return;
    if (err !== null || addresses.length === 0) return done(err ?? uvError(-2, 'getaddrinfo'), null);
    tryFrom(addresses, 0);
  });
  return {
    cancel: () => {
      cancelled = true;
      handle?.close();
      handle = null;
    },
  };
}
