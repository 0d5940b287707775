/**
 * Logging: pino, JSON lines on stderr (stdout stays free for command output such as
 * `loadtest --json`). `rateLimited` keeps a flood of bad requests from flooding the log:
 * each kind of rejection is logged at most a few times per second, with a count of the rest.
 */
import { pino, destination, stdTimeFunctions, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export function createLogger(level: string = process.env.BALLAST_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: undefined, timestamp: stdTimeFunctions.isoTime }, destination(2));
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
