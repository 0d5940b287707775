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

/** Quiet time after a change event before the file is read, and between the reads that must agree. */
const WATCH_SETTLE_MS = 200;

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
  stop(): Promise<void>;
}

/** Starts a balancer and its admin server. */
export async function startAll(config: Config, log: Logger): Promise<Running> {
  const ballast = await Ballast.start({ config, log });
  let admin: RunningAdmin | undefined;
  try {
    admin = config.admin.enabled ? await startAdmin(ballast) : undefined;
  } catch (err) {
    await ballast.stop(0);
    throw err;
  }
  return {
    ballast,
    admin,
    async stop() {
      // The proxy stops accepting first, at once; the admin server closes alongside.
      await Promise.all([ballast.stop(), admin?.close()]);
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
  const reload = (why: string, next: () => Config): void => {
    try {
      ballast.reload(next());
    } catch (err) {
      const message = err instanceof ConfigError ? err.message : String(err);
      log.error({ why }, `reload refused, the running config stays: ${message}`);
    }
  };
  const onHup = (): void => {
    if (source !== undefined) reload('SIGHUP', () => source.parse(source.read()));
  };
  process.on('SIGHUP', onHup);
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
  unwatch?.();
  settle?.stop();
  await running.stop();
  log.info('stopped');
  return 0;
}
