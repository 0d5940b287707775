/**
 * The composition root: builds a running balancer from a Config (pool, strategy, health
 * checks, outlier detection, proxy, statistics, admin server) and owns its life: start,
 * reload without dropping requests, graceful stop.
 */
import type { Config, ServerConfig } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { Pool } from '../pool/pool.js';
import type { Backend } from '../pool/backend.js';
import { ActiveStrategy, UnknownStrategyError } from '../strategies/active.js';
import { AttemptPolicy } from '../balancer/policy.js';
import { HttpProxy } from '../proxy/http/server.js';
import { TcpProxy } from '../proxy/tcp/proxy.js';
import { HealthMonitor } from '../health/active.js';
import { OutlierDetector } from '../health/outlier.js';
import { Stats } from '../stats/stats.js';
import { systemClock, type Clock } from '../util/clock.js';
import { SeededRandom, entropySeed } from '../util/random.js';
import { createLogger, type Logger } from '../util/log.js';
import { resolveBackendTls } from '../proxy/tls/backend.js';
import { loadListenerCerts } from '../proxy/tls/certs.js';
import type { TlsConnectOptions } from '../proxy/tls/socket.js';

export interface StartOptions {
  config: Config;
  log?: Logger;
  clock?: Clock;
}

function serverKey(s: { host: string; port: number }): string {
  return `${s.host}:${s.port}`;
}

/** Each server's TLS resolved (CA files read); a ConfigError names the first bad one. */
function backendTlsOf(servers: readonly ServerConfig[]): Array<TlsConnectOptions | null> {
  return servers.map((s, i) => resolveBackendTls(i, s.host, s.tls));
}

export class Ballast {
  readonly pool: Pool;
  readonly active: ActiveStrategy;
  readonly policy: AttemptPolicy;
  readonly stats: Stats;
  readonly health: HealthMonitor;
  readonly outlier: OutlierDetector;
  readonly proxy: HttpProxy | TcpProxy;
  readonly log: Logger;
  readonly clock: Clock;
  readonly startedAt = Date.now();
  config: Config;
  /** Where the proxy listens, once started. */
  address = { host: '', port: 0 };

  private constructor(config: Config, log: Logger, clock: Clock) {
    this.config = config;
    this.log = log;
    this.clock = clock;
    const checks = config.healthCheck.enabled;
    const tls = backendTlsOf(config.servers);
    this.pool = new Pool(
      config.servers.map((s, i) => ({ ...s, tlsConnect: tls[i] })),
      { clock, startHealthy: !checks },
    );
    const random = new SeededRandom(config.seed ?? entropySeed());
    try {
      this.active = new ActiveStrategy(this.pool, clock, random, config, config.strategy);
    } catch (err) {
      if (err instanceof UnknownStrategyError) throw new ConfigError(`strategy: ${err.message}`);
      throw err;
    }
    this.policy = new AttemptPolicy(config.retries, clock);
    this.stats = new Stats({ clock });
    this.outlier = new OutlierDetector(this.pool, config.outlierDetection, { clock, activeChecks: checks });
    this.active.addObserver(this.outlier.observe);
    this.health = new HealthMonitor(this.pool, config.healthCheck, { clock, mode: config.mode, random });
    this.health.addCheckListener(this.outlier.onCheck);
    const deps = { config, pool: this.pool, active: this.active, policy: this.policy, stats: this.stats, log, now: () => clock.now() };
    this.proxy = config.mode === 'tcp' ? new TcpProxy(deps) : new HttpProxy(deps);
  }

  /** Builds and starts everything; resolves once the proxy listens (after the first health checks). */
  static async start(options: StartOptions): Promise<Ballast> {
    const log = options.log ?? createLogger();
    const b = new Ballast(options.config, log, options.clock ?? systemClock);
    await b.health.start();
    const { listen } = options.config;
    try {
      b.address = await b.proxy.listen(listen.port, listen.host);
    } catch (err) {
      b.health.stop();
      b.outlier.stop();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
        throw new ConfigError(`listen: cannot listen on ${listen.host}:${listen.port}: ${code}`);
      }
      throw err;
    }
    log.info(
      { listen: `${b.address.host}:${b.address.port}`, mode: options.config.mode, strategy: b.active.name, ready: b.pool.ready.length, servers: b.pool.backends.length },
      'ballast listening',
    );
    return b;
  }

  get url(): string {
    const scheme = this.config.listen.tls === undefined ? 'http' : 'https';
    return `${scheme}://${this.address.host}:${this.address.port}`;
  }

  /** Admin switch of a backend: disabled backends drain (no new requests, in-flight ones finish). */
  toggleServer(host: string, port: number): 'stopped' | 'started' | undefined {
    const b = this.pool.find(host, port);
    if (b === undefined) return undefined;
    this.pool.setEnabled(b, !b.enabled);
    this.log.info({ backend: b.address, enabled: b.enabled }, 'backend toggled');
    return b.enabled ? 'started' : 'stopped';
  }

  /**
   * Applies a new config without dropping requests: servers added (checked before traffic) or
   * removed (their in-flight requests finish), weights, strategy options, timeouts and limits.
   * Throws ConfigError, leaving everything as it was, for changes that need a restart.
   */
  reload(next: Config): void {
    const prev = this.config;
    if (next.mode !== prev.mode) throw new ConfigError('mode: cannot change on reload (restart to switch between http and tcp)');
    if (next.listen.host !== prev.listen.host || next.listen.port !== prev.listen.port) {
      throw new ConfigError('listen: cannot change on reload (restart to listen elsewhere)');
    }
    if (next.admin.host !== prev.admin.host || next.admin.port !== prev.admin.port || next.admin.enabled !== prev.admin.enabled) {
      throw new ConfigError('admin: address cannot change on reload (restart to move the admin server)');
    }
    this.refuseReplacingAllServers(next);
    // Certificate and CA files are read again (a rotation is a reload); a bad one refuses it all.
    if ((next.listen.tls === undefined) !== (prev.listen.tls === undefined)) {
      throw new ConfigError('listen.tls: TLS cannot be turned on or off on reload (restart to change the listener)');
    }
    const listenerCerts = next.listen.tls === undefined ? null : loadListenerCerts(next.listen.tls);
    const backendTls = backendTlsOf(next.servers);
    // The strategy that will run: the new file's if it names a different one, else the current (maybe switched at run time).
    const strategyName = next.strategy !== prev.strategy ? next.strategy : this.active.name;
    try {
      ActiveStrategy.definition(strategyName, next);
    } catch (err) {
      throw new ConfigError(`strategy: ${(err as Error).message}`);
    }

    this.config = next;
    const wanted = new Map(next.servers.map((s, i) => [serverKey(s), { ...s, tlsConnect: backendTls[i]! }]));
    const tlsBefore = new Map(prev.servers.map((s) => [serverKey(s), JSON.stringify(s.tls ?? null)]));
    const removed: Backend[] = [];
    for (const b of [...this.pool.backends]) {
      const spec = wanted.get(b.address);
      if (spec === undefined) {
        this.pool.remove(b);
        removed.push(b);
      } else {
        this.pool.setWeight(b, spec.weight);
        this.pool.setSendProxy(b, spec.sendProxy ?? null);
        b.tls = spec.tlsConnect;
        // Idle connections were opened with the old TLS settings: none may serve the new ones.
        const tlsChanged = tlsBefore.get(b.address) !== JSON.stringify(next.servers.find((s) => serverKey(s) === b.address)?.tls ?? null);
        if (tlsChanged && this.proxy instanceof HttpProxy) this.proxy.closeIdle(b);
        wanted.delete(b.address);
      }
    }
    const added = [...wanted.values()].map((spec) => this.pool.add(spec));
    this.health.reconfigure(next.healthCheck);
    this.outlier.reconfigure(next.outlierDetection, next.healthCheck.enabled);
    this.policy.reconfigure(next.retries);
    this.proxy.reconfigure(next);
    if (listenerCerts !== null && this.proxy instanceof HttpProxy) this.proxy.updateCertificates(listenerCerts, next.timeouts.clientHeadersMs);
    this.active.reconfigure(next, strategyName);
    this.log.info(
      { added: added.map((b) => b.address), removed: removed.map((b) => b.address), strategy: strategyName },
      'config reloaded',
    );
  }

  /**
   * A reload keeping none of the running servers is refused unless the new file allows it: a
   * truncated or half-written file, or the wrong one, looks exactly like that, and applying it
   * would drain every backend at once (the new ones take traffic only after their checks).
   */
  private refuseReplacingAllServers(next: Config): void {
    if (next.reload.allowReplaceAllServers) return;
    const running = this.pool.backends.map((b) => b.address);
    const kept = new Set(next.servers.map(serverKey));
    if (running.some((a) => kept.has(a))) return;
    throw new ConfigError(
      `servers: the new config keeps none of the ${running.length} running servers (${running.join(', ')}), so it would remove them all; ` +
        'a truncated or mistaken file looks like this. To replace every server at once, set reload.allowReplaceAllServers: true in the new file',
    );
  }

  /** Reopens the access log file (SIGUSR1, after logrotate moved it). */
  reopenLogs(): void {
    if (this.proxy instanceof HttpProxy) this.proxy.reopenAccessLog();
  }

  /** Graceful stop: no new connections, in-flight requests get `deadlineMs` to finish. */
  async stop(deadlineMs = this.config.timeouts.shutdownMs): Promise<void> {
    this.health.stop();
    this.outlier.stop();
    await this.proxy.close(deadlineMs);
  }
}
