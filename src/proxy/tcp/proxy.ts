/**
 * The TCP (L4) proxy: accepts on a raw libuv handle (uv.ts says why not net.Server) and runs
 * one TcpSession per client connection.
 */
import type { Config } from '../../config/schema.js';
import { RateLimitedLog } from '../../util/log.js';
import { TcpSession, type TcpProxyDeps } from './session.js';
import { listenHandle, uvError, type UvTcp } from './uv.js';

export type { TcpProxyDeps } from './session.js';

export class TcpProxy {
  private server: UvTcp | undefined;
  private serverClosed: Promise<void> = Promise.resolve();
  private readonly sessions = new Set<TcpSession>();
  private readonly warnings: RateLimitedLog;
  private draining = false;

  constructor(private deps: TcpProxyDeps) {
    this.warnings = new RateLimitedLog(deps.log);
  }

  async listen(port: number, host: string): Promise<{ host: string; port: number }> {
    const bound = await listenHandle(host, port);
    this.server = bound.handle;
    this.server.onconnection = this.accept;
    return { host: bound.host, port: bound.port };
  }

  private readonly accept = (status: number, client: UvTcp | undefined): void => {
    if (status !== 0 || client === undefined) {
      // EMFILE and the like: the connection never existed for us; say so, not per connection.
      this.warnings.warn('accept', { err: uvError(status, 'accept').code }, 'accepting a client connection failed');
      return;
    }
    if (this.draining) return client.close();
    if (this.sessions.size >= this.deps.config.limits.maxClientConnections) {
      client.close();
      this.deps.stats.rejected('too_many_connections');
      this.warnings.warn('too_many_connections', {}, 'client connection refused: limit reached');
      return;
    }
    this.sessions.add(new TcpSession(client, this.forget, this.deps));
  };

  private readonly forget = (session: TcpSession): void => {
    this.sessions.delete(session);
  };

  reconfigure(config: Config): void {
    this.deps = { ...this.deps, config };
  }

  connections(): { open: number; busy: number } {
    return { open: this.sessions.size, busy: this.sessions.size };
  }

  /** Stops accepting; open connections get `deadlineMs` to finish, then are cut. */
  async close(deadlineMs: number): Promise<void> {
    if (!this.draining) {
      this.draining = true;
      const server = this.server;
      this.serverClosed = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(resolve));
    }
    const start = Date.now();
    while (this.sessions.size > 0 && Date.now() - start < deadlineMs) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sessions) s.close('cancelled');
    await this.serverClosed;
  }
}
