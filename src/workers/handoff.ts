/**
 * The listener fallback where SO_REUSEPORT is not available (Node 20): the main thread binds
 * the one listening socket, and each worker gets its own dup of it, passed as SCM_RIGHTS over
 * a libuv IPC pipe, which is what Node's cluster does between processes. A worker that dies
 * closes only its dup; the main thread's socket, and so the listen queue, stays open, and a
 * restarted worker gets a new dup.
 *
 * Why a pipe: worker_threads cannot transfer a handle, and Node has no dup(2). The pipe lives
 * in a fresh 0700 directory, so no other user can connect to it and take the listener.
 *
 * libuv sends and receives handles only on pipes opened as IPC, and Node opens the pipes a
 * pipe server accepts as plain ones. So the main thread re-opens the accepted pipe's fd as an
 * IPC pipe and writes through that. The accepted handle must then never be closed (it would
 * close the fd number again, by then maybe someone else's): it is kept, unref'd, until exit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { listenHandle, uvError, WriteWrap, TCP, TCP_SERVER, type UvTcp, type UvWriteReq } from '../proxy/uv/handles.js';

interface UvPipe {
  onconnection: ((status: number, client: UvPipe | undefined) => void) | null;
  onread: ((arrayBuffer: ArrayBuffer | undefined) => void) | null;
  /** Set by Node on an IPC pipe just before `onread`, when the message carried a handle. */
  pendingHandle: UvTcp | null;
  readonly fd: number;
  bind(path: string): number;
  listen(backlog: number): number;
  connect(req: { oncomplete: (status: number) => void }, path: string): number;
  open(fd: number): number;
  readStart(): number;
  writeUtf8String(req: UvWriteReq, data: string, sendHandle?: UvTcp): number;
  close(callback?: () => void): void;
  unref(): void;
}

interface PipeWrapBinding {
  Pipe: new (type: number) => UvPipe;
  PipeConnectWrap: new () => { oncomplete: (status: number) => void };
  constants: { SOCKET: number; SERVER: number; IPC: number };
}

const legacy = process as unknown as { binding(name: string): unknown };
const { Pipe, PipeConnectWrap, constants } = legacy.binding('pipe_wrap') as PipeWrapBinding;

/**
 * The main thread's listener: bound, but not listening here. The workers' dups call listen(2)
 * on it (one socket, so one listen queue) and only they accept. A handle listening in the main
 * thread would take connections too, and libuv cannot stop watching a listening handle short of
 * closing it. A throwaway listen on the same address first reports EADDRINUSE and the like
 * here, once, since libuv reports them at listen(), not at bind().
 */
export async function bindListener(host: string, port: number): Promise<{ handle: UvTcp; host: string; port: number }> {
  const probe = await listenHandle(host, port);
  await new Promise<void>((resolve) => probe.handle.close(resolve));
  const handle = new TCP(TCP_SERVER);
  const status = net.isIPv6(probe.host) ? handle.bind6(probe.host, probe.port, 0) : handle.bind(probe.host, probe.port);
  const bound: Partial<net.AddressInfo> = {};
  if (status !== 0 || handle.getsockname(bound) !== 0) {
    handle.close();
    throw uvError(status, 'listen', probe.host, probe.port);
  }
  return { handle, host: bound.address ?? probe.host, port: bound.port ?? probe.port };
}

/** Accepted pipes whose fd now belongs to an IPC pipe: never closed (see above). */
const kept = new Set<UvPipe>();

/** The main thread's side: hands a dup of `listener` to every worker that connects. */
export class HandoffServer {
  private readonly server: UvPipe;
  private closed = false;

  private constructor(
    private readonly dir: string,
    readonly path: string,
    private readonly listener: UvTcp,
  ) {
    this.server = new Pipe(constants.SERVER);
    const status = this.server.bind(path);
    if (status !== 0 || this.server.listen(64) !== 0) {
      this.server.close();
      rmSync(dir, { recursive: true, force: true });
      throw uvError(status, 'listen', path);
    }
    this.server.onconnection = (status, client) => {
      if (status === 0 && client !== undefined) this.send(client);
    };
  }

  static open(listener: UvTcp): HandoffServer {
    // mkdtemp creates the directory 0700.
    const dir = mkdtempSync(join(tmpdir(), 'ballast-handoff-'));
    return new HandoffServer(dir, join(dir, 'listener.sock'), listener);
  }

  private send(client: UvPipe): void {
    client.unref();
    kept.add(client);
    const ipc = new Pipe(constants.IPC);
    if (ipc.open(client.fd) !== 0) return ipc.close();
    const req = new WriteWrap();
    req.handle = ipc as unknown as UvTcp;
    req.buffer = null;
    // The worker closes its end once it has the handle; then this end goes too.
    ipc.onread = () => ipc.close();
    req.oncomplete = (s) => {
      if (s !== 0) ipc.close();
    };
    const status = ipc.writeUtf8String(req, 'listener', this.listener);
    if (status !== 0) return ipc.close();
    ipc.readStart();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A worker's side: connects to the main thread's pipe and resolves with its own dup of the listener. */
export function receiveListener(path: string): Promise<UvTcp> {
  return new Promise((resolve, reject) => {
    const pipe = new Pipe(constants.IPC);
    let done = false;
    const finish = (err: Error | null, handle: UvTcp | null): void => {
      if (done) return;
      done = true;
      pipe.close();
      if (handle !== null) resolve(handle);
      else reject(err ?? new Error('handoff: the main thread closed the pipe without sending the listener'));
    };
    pipe.onread = () => {
      const handle = pipe.pendingHandle;
      pipe.pendingHandle = null;
      finish(null, handle);
    };
    const req = new PipeConnectWrap();
    req.oncomplete = (status) => {
      if (status !== 0) return finish(uvError(status, 'connect', path), null);
      const s = pipe.readStart();
      if (s !== 0) finish(uvError(s, 'read', path), null);
    };
    const status = pipe.connect(req, path);
    if (status !== 0) finish(uvError(status, 'connect', path), null);
  });
}
