/**
 * Runs a discovery source for a balancer: the config in force is the file's with the source's
 * view laid over it (its servers; from etcd, also the strategy and its options), and each new
 * view is applied as a reload, so discovered changes take the same path as SIGHUP: servers
 * added are checked before traffic, removed ones finish their in-flight requests, a strategy
 * that keeps its name and options keeps what it learned.
 *
 * A view is authoritative for the servers (it may replace all of them: that is what a fleet
 * moving to new machines looks like), but an empty one never reaches here (the sources keep
 * their last good view), and one that names an unknown strategy or bad options is refused
 * whole, the last good one staying in force, and reported in the status.
 */
import type { Config } from '../config/schema.js';
import { ConfigError, formatIssues } from '../config/load.js';
import type { DiscoveredView, Discovery, FleetStatus } from '../discovery/types.js';
import { ActiveStrategy } from '../strategies/active.js';
import { strategyDefinition } from '../strategies/registry.js';
import type { Logger } from '../util/log.js';
import type { Ballast } from './ballast.js';

export class DiscoveryRunner {
  private view: DiscoveredView | null = null;
  /** The view in the config last handed out by `config()` (what a starting balancer is built from). */
  private handedOut: DiscoveredView | null = null;
  private applied: string | null = null;
  private refused: string | null = null;
  private ballast: Ballast | null = null;

  constructor(
    private readonly source: Discovery,
    /** The config file as last read (SIGHUP replaces it): what views are laid over. */
    private fileConfig: Config,
    private readonly log: Logger,
  ) {}

  /**
   * Starts the source and waits up to `firstViewMs` for its first view. Without one the
   * balancer starts on the file's servers (if any), and the view applies when it comes.
   */
  async start(firstViewMs: number): Promise<void> {
    try {
      await this.source.start((view) => this.onView(view), firstViewMs);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'discovery: no view yet; starting on the file\'s servers, the view applies when it comes');
    }
  }

  /** The config to start with: the file's with the current view over it. */
  config(): Config {
    this.handedOut = this.view;
    return this.withView(this.fileConfig);
  }

  /** `file` with the current view over it (a config file read again keeps the view's servers). */
  withView(file: Config): Config {
    return this.view === null ? file : overlay(file, this.view);
  }

  /** A config file read again was applied (with the view over it): later views lie over it. */
  fileApplied(file: Config): void {
    this.fileConfig = file;
  }

  /** From now on views are applied to `ballast` as they come; one that came while it started applies now. */
  attach(ballast: Ballast): void {
    this.ballast = ballast;
    const view = this.view;
    if (view === null) return;
    if (view === this.handedOut) {
      this.applied = view.version;
      return;
    }
    try {
      this.onView(view);
    } catch {
      // Refused and logged; the balancer runs the view it was started with.
    }
  }

  status(): FleetStatus {
    return { ...this.source.status(), applied: this.applied, refused: this.refused };
  }

  stop(): Promise<void> {
    this.ballast = null;
    return this.source.stop();
  }

  private onView(view: DiscoveredView): void {
    const ballast = this.ballast;
    if (ballast === null) {
      // Before the balancer runs: check now what a reload would, so a bad view can neither
      // stop it starting nor be registered as applied; config() picks a good one up.
      try {
        runnable(overlay(this.fileConfig, view));
      } catch (err) {
        this.refused = err instanceof ConfigError ? err.message : String(err);
        this.log.error({ version: view.version }, `discovery: view refused: ${this.refused}`);
        throw err;
      }
      this.view = view;
      return;
    }
    const previous = this.view;
    this.view = view;
    try {
      ballast.reload(this.withView(this.fileConfig));
      this.applied = view.version;
      this.refused = null;
      this.log.info({ version: view.version, servers: view.servers.length, strategy: view.strategy?.name }, 'discovery: view applied');
    } catch (err) {
      this.view = previous;
      this.refused = err instanceof ConfigError ? err.message : String(err);
      this.log.error({ version: view.version }, `discovery: view refused, the last one stays: ${this.refused}`);
      // The source must know: it keeps its last view (and does not register this one as applied).
      throw err;
    }
  }
}

/**
 * The file's config with a view over it: its servers, and the strategy it names with its options
 * merged over the file's (validated by the strategy's own schema). Throws ConfigError naming
 * what is wrong.
 */
/** Throws ConfigError when `config`'s strategy cannot run (e.g. an HTTP-keyed one in tcp mode). */
function runnable(config: Config): void {
  try {
    ActiveStrategy.definition(config.strategy, config);
  } catch (err) {
    throw new ConfigError(`discovery: ${(err as Error).message}`);
  }
}

export function overlay(file: Config, view: DiscoveredView): Config {
  const next = { ...file, servers: view.servers, reload: { ...file.reload, allowReplaceAllServers: true } } as Config;
  const wanted = view.strategy;
  if (wanted === undefined) return next;
  const def = strategyDefinition(wanted.name);
  if (def === undefined) throw new ConfigError(`discovery: unknown strategy "${wanted.name}"`);
  const name = def.name;
  const parsed = def.options.safeParse({ ...(file[name] as object), ...wanted.options });
  if (!parsed.success) throw new ConfigError(formatIssues(`discovery strategy options for ${name}`, parsed.error.issues));
  return { ...next, strategy: name, [name]: parsed.data } as Config;
}
