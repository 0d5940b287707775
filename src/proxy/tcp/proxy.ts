/** The TCP (L4) proxy: one TcpSession per client connection. */
import type { Config } from '../../config/schema.js';
import { RateLimitedLog } from '../../util/log.js';
import { Acceptor } from '../uv/acceptor.js';
import type { ProxyDeps } from '../deps.js';
import { TcpSession } from './session.js';
import type { RaceEnv } from '../../balancer/race.js';
import { ProxyHeaderGate, inboundSettings } from '../proxy-protocol/gate.js';
import type { ProxyAddresses } from '../proxy-protocol/header.js';
import type { UvTcp } from '../uv/handles.js';

export class TcpProxy {
  private readonly acceptor: Acceptor;
  private readonly sessions = new Set<TcpSession>();
  private readonly warnings: RateLimitedLog;
  /** listen.proxyProtocol: connections wait here for their header before a session starts. */
  private readonly gate: ProxyHeaderGate;
  private draining = false;
  /**
   * The connect race's settings: no per-backend connection limit (TCP mode has no slot queue;
   * limits.maxConnectionsPerBackend applies to HTTP requests) and no hedging.
   */
  private readonly raceEnv: RaceEnv;

  constructor(private deps: ProxyDeps) {
    this.warnings = new RateLimitedLog(deps.log);
    this.raceEnv = { active: deps.active, policy: deps.policy, now: deps.now, settings: { maxConnectionsPerBackend: 0, maxHedgeBodyBytes: 0 } };
    this.gate = new ProxyHeaderGate(inboundSettings(deps.config), deps.stats, this.warnings);
    this.acceptor = new Acceptor(
      {
        accept: (client) => {
          if (this.deps.config.listen.proxyProtocol) this.gate.admit(client, this.startSession);
          else this.startSession(client, null, null);
        },
        openCount: () => this.sessions.size + this.gate.pending,
        limit: () => this.deps.config.limits.maxClientConnections,
        draining: () => this.draining,
      },
      deps.stats,
      this.warnings,
    );
  }

  listen(port: number, host: string): Promise<{ host: string; port: number }> {
    return this.acceptor.listen(port, host);
  }

  private readonly startSession = (client: UvTcp, origin: ProxyAddresses | null, preface: Buffer | null): void => {
    if (this.draining) return client.close();
    const session = new TcpSession(client, this.forget, this.deps, this.raceEnv, origin, preface);
    this.sessions.add(session);
    session.start();
  };

  private readonly forget = (session: TcpSession): void => {
    this.sessions.delete(session);
  };

  reconfigure(config: Config): void {
    this.deps = { ...this.deps, config };
    this.gate.settings = inboundSettings(config);
  }

  connections(): { open: number; busy: number } {
    return { open: this.sessions.size, busy: this.sessions.size };
  }

  /** Stops accepting; open connections get `deadlineMs` to finish, then are cut. */
  async close(deadlineMs: number): Promise<void> {
    this.draining = true;
    const closed = this.acceptor.close();
    this.gate.closeAll();
    const start = Date.now();
    while (this.sessions.size > 0 && Date.now() - start < deadlineMs) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sessions) s.close('cancelled');
    await closed;
  }
}
