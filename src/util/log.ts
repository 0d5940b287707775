/**
 * Logging: pino, on stderr (stdout stays free for command output such as `loadtest --json`,
 * and for the access log). JSON lines for machines; in a terminal (stderr is a TTY) one
 * readable, coloured line per event through pino-pretty. BALLAST_LOG_FORMAT=json|pretty
 * overrides the guess. `rateLimited` keeps a flood of bad requests from flooding the log:
 * each kind of rejection is logged at most a few times per second, with a count of the rest.
 */
import { createRequire } from 'node:module';
import { pino, destination, stdTimeFunctions, type Logger as PinoLogger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type Logger = PinoLogger;

export type LogFormat = 'json' | 'pretty';

/** BALLAST_LOG_FORMAT, or pretty for a terminal and JSON otherwise. Throws on a value it does not know. */
export function logFormat(env: string | undefined = process.env.BALLAST_LOG_FORMAT, isTTY = process.stderr.isTTY === true): LogFormat {
  if (env === undefined || env === '') return isTTY ? 'pretty' : 'json';
  if (env === 'json' || env === 'pretty') return env;
  throw new Error(`BALLAST_LOG_FORMAT: expected json or pretty, got ${JSON.stringify(env)}`);
}

export function createLogger(level: string = process.env.BALLAST_LOG_LEVEL ?? 'info', format: LogFormat = logFormat()): Logger {
  const options = { level, base: undefined, timestamp: stdTimeFunctions.isoTime };
  if (format === 'json') return pino(options, destination(2));
  // In-process and synchronous (no worker thread): these are operator messages, a few per
  // second at most (rejections are rate-limited), never per request.
  // Loaded only here: a process logging JSON (a service, a test) does not pay for its modules.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  const stream = pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
  return pino(options, stream);
}

/** A silent logger for tests and embedded use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Logs at most `perSecond` lines per key per second, then one line with the number suppressed. */
export class RateLimitedLog {
  private readonly windows = new Map<string, { start: number; count: number; suppressed: number }>();
  constructor(
    private readonly log: Logger,
    private readonly perSecond = 5,
  ) {}

  warn(key: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    let w = this.windows.get(key);
    if (w === undefined || now - w.start >= 1000) {
      if (w !== undefined && w.suppressed > 0) this.log.warn({ kind: key, suppressed: w.suppressed }, `${key}: ${w.suppressed} more not logged`);
      if (this.windows.size > 1000) this.windows.clear(); // keys are a fixed set of kinds; this is a safety cap
      w = { start: now, count: 0, suppressed: 0 };
      this.windows.set(key, w);
    }
    if (w.count < this.perSecond) {
      w.count++;
      this.log.warn({ kind: key, ...fields }, message);
    } else {
      w.suppressed++;
    }
  }
}
