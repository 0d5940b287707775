/**
 * The listening side of both data planes: a raw libuv server handle (handles.ts says why not
 * net.Server) that hands each accepted connection to the proxy, or closes it at once when the
 * proxy says no (over maxClientConnections, draining).
 */
import type { RateLimitedLog } from '../../util/log.js';
import { listenHandle, uvError, type UvTcp } from './handles.js';

export interface AcceptorHooks {
  /** True takes the connection; false closes it at once (the proxy counts and logs why). */
  admit(): boolean;
  accept(client: UvTcp): void;
}

export class Acceptor {
  private handle: UvTcp | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly hooks: AcceptorHooks,
    private readonly warnings: RateLimitedLog,
  ) {}

  async listen(port: number, host: string): Promise<{ host: string; port: number }> {
    const bound = await listenHandle(host, port);
    this.handle = bound.handle;
    this.handle.onconnection = this.onConnection;
    return { host: bound.host, port: bound.port };
  }

  private readonly onConnection = (status: number, client: UvTcp | undefined): void => {
    if (status !== 0 || client === undefined) {
      // EMFILE and the like: the connection never existed for us; say so, not per connection.
      this.warnings.warn('accept', { err: uvError(status, 'accept').code }, 'accepting a client connection failed');
      return;
    }
    if (!this.hooks.admit()) return client.close();
    this.hooks.accept(client);
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
