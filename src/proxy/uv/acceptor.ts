/**
 * The listening side of both data planes: a raw libuv server handle (handles.ts says why not
 * net.Server) that hands each accepted connection to the proxy, or closes it at once when the
 * proxy is draining or already holds maxClientConnections (counted and logged, rate-limited).
 */
import type { StatsRecorder } from '../../stats/recorder.js';
import type { RateLimitedLog } from '../../util/log.js';
import type net from 'node:net';
import { listenHandle, uvError, type UvTcp } from './handles.js';

/** How a data plane gets its listening socket, when not by binding host:port alone. */
export interface ListenSpec {
  /** Bind with SO_REUSEPORT: each worker its own socket on one port. */
  reusePort?: boolean;
  /** A socket already bound and listening (a worker's dup of the main thread's, src/workers/handoff.ts). */
  handle?: UvTcp;
}

export interface AcceptorHooks {
  accept(client: UvTcp): void;
  /** Client connections open now. */
  openCount(): number;
  /** limits.maxClientConnections, read at each accept (a reload may change it). */
  limit(): number;
  /** Stopping: new connections are closed at once. */
  draining(): boolean;
}

export class Acceptor {
  private handle: UvTcp | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly hooks: AcceptorHooks,
    private readonly stats: StatsRecorder,
    private readonly warnings: RateLimitedLog,
  ) {}

  async listen(port: number, host: string, spec: ListenSpec = {}): Promise<{ host: string; port: number }> {
    if (spec.handle !== undefined) return this.adopt(spec.handle);
    const bound = await listenHandle(host, port, { reusePort: spec.reusePort ?? false });
    this.handle = bound.handle;
    this.handle.onconnection = this.onConnection;
    return { host: bound.host, port: bound.port };
  }

  /** Accepts on a socket someone else bound; listen() again only starts libuv watching it. */
  private adopt(handle: UvTcp): { host: string; port: number } {
    const status = handle.listen(511);
    if (status !== 0) throw uvError(status, 'listen');
    this.handle = handle;
    handle.onconnection = this.onConnection;
    const bound: Partial<net.AddressInfo> = {};
    handle.getsockname(bound);
    return { host: bound.address ?? '', port: bound.port ?? 0 };
  }

  private readonly onConnection = (status: number, client: UvTcp | undefined): void => {
    if (status !== 0 || client === undefined) {
      // EMFILE and the like: the connection never existed for us; say so, not per connection.
      this.warnings.warn('accept', { err: uvError(status, 'accept').code }, 'accepting a client connection failed');
      return;
    }
    const hooks = this.hooks;
    if (hooks.draining()) return client.close();
    const limit = hooks.limit();
    if (hooks.openCount() >= limit) {
      client.close();
      this.stats.rejected('too_many_connections');
      this.warnings.warn('too_many_connections', { limit }, 'client connection refused: limit reached');
      return;
    }
    hooks.accept(client);
  };

  /** Stops listening: new connections are refused by the kernel from now on. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      const handle = this.handle;
      this.closing = handle === undefined ? Promise.resolve() : new Promise<void>((resolve) => handle.close(resolve));
    }
    return this.closing;
  }
}
