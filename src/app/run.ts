/**
 * Running a balancer as a process: start it (with its admin server), reload on SIGHUP or file
 * change, stop gracefully on SIGTERM/SIGINT. Shared by `ballast start` and `ballast demo`.
 */
import type { Config } from '../config/schema.js';
import { ConfigError, type ConfigSource } from '../config/load.js';
import { createLogger, type Logger } from '../util/log.js';
import { Ballast } from './ballast.js';
import { startAdmin, type RunningAdmin } from './admin.js';
import { SettledReads } from './settle.js';
import { DiscoveryRunner } from './discovery.js';
import { createDiscovery } from '../discovery/index.js';

/** Quiet time after a change event before the file is read, and between the reads that must agree. */
const WATCH_SETTLE_MS = 200;
/** How long a start waits for the discovery source's first view before it starts on the file's servers. */
const FIRST_VIEW_MS = 5_000;

export interface RunOptions {
  /** Where a reload reads the config again (its errors are ConfigErrors). */
  reloadSource?: ConfigSource;
  /** Watches the config source; returns a function that stops watching. */
  watch?: ((onChange: () => void) => () => void) | undefined;
  log?: Logger;
  /** Called once everything listens. */
  onReady?: (ballast: Ballast, admin: RunningAdmin | undefined) => void;
  /** Resolves to stop (default: SIGTERM or SIGINT). */
  stopSignal?: Promise<unknown>;
}

export interface Running {
  ballast: Ballast;
  admin: RunningAdmin | undefined;
  /** The discovery source's runner, when the config names one. */
  discovery: DiscoveryRunner | undefined;
  stop(): Promise<void>;
}

/** Starts a balancer (on its discovery source's first view, if it has one) and its admin server. */
export async function startAll(config: Config, log: Logger): Promise<Running> {
  const source = await createDiscovery(config, log);
  const discovery = source === undefined ? undefined : new DiscoveryRunner(source, config, log);
  let ballast: Ballast;
  try {
    if (discovery !== undefined) await discovery.start(FIRST_VIEW_MS);
    ballast = await Ballast.start({ config: discovery?.config() ?? config, log });
  } catch (err) {
    await discovery?.stop();
    throw err;
  }
  discovery?.attach(ballast);
  let admin: RunningAdmin | undefined;
  try {
    admin = config.admin.enabled ? await startAdmin(ballast, discovery) : undefined;
  } catch (err) {
    await Promise.all([ballast.stop(0), discovery?.stop()]);
    throw err;
  }
  return {
    ballast,
    admin,
    discovery,
    async stop() {
      // The proxy stops accepting first, at once; the admin server and discovery close alongside.
      await Promise.all([ballast.stop(), admin?.close(), discovery?.stop()]);
    },
  };
}

/** Runs until a stop signal; returns the exit code. */
export async function runBallast(config: Config, options: RunOptions = {}): Promise<number> {
  const log = options.log ?? createLogger();
  const running = await startAll(config, log);
  const { ballast, admin } = running;
  options.onReady?.(ballast, admin);

  const source = options.reloadSource;
  const discovery = running.discovery;
  const reload = (why: string, read: () => Config): void => {
    try {
      const file = read();
      // With discovery the file's servers give way to the view's; its other settings apply.
      ballast.reload(discovery === undefined ? file : discovery.withView(file));
      discovery?.fileApplied(file);
    } catch (err) {
      const message = err instanceof ConfigError ? err.message : String(err);
      log.error({ why }, `reload refused, the running config stays: ${message}`);
    }
  };
  const onHup = (): void => {
    if (source !== undefined) reload('SIGHUP', () => source.parse(source.read()));
  };
  process.on('SIGHUP', onHup);
  // logrotate's postrotate: `kill -USR1 PID` makes the access log start a new file. (A listener
  // here also keeps Node from opening its inspector on SIGUSR1.)
  const onUsr1 = (): void => {
    ballast.reopenLogs();
    log.info('access log reopened');
  };
  process.on('SIGUSR1', onUsr1);
  // A watched file is reloaded only once it reads the same twice (a half-written one must not apply).
  const settle =
    source === undefined
      ? undefined
      : new SettledReads(() => source.read(), WATCH_SETTLE_MS, {
          settled: (text) => reload('config file changed', () => source.parse(text)),
          failed: (err) =>
            reload('config file changed', () => {
              throw err;
            }),
        });
  const unwatch = settle === undefined ? undefined : options.watch?.(() => settle.changed());

  const signal = await (options.stopSignal ??
    new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    }));
  log.info({ signal, inFlight: ballast.pool.totalInflight }, 'stopping: finishing in-flight requests');
  process.off('SIGHUP', onHup);
  process.off('SIGUSR1', onUsr1);
  unwatch?.();
  settle?.stop();
  await running.stop();
  log.info('stopped');
  return 0;
}
