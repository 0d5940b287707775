/**
 * The access log: one JSON line per client request (pino), for people and log shippers:
 *
 *   {"time":"2026-12-05T07:40:01.123Z","client":"127.0.0.1","method":"GET","path":"/a?b=1",
 *    "status":200,"bytesIn":0,"bytesOut":181,"backend":"127.0.0.1:8081","attempts":1,
 *    "hedged":false,"durationMs":2.41}
 *
 * `bytesIn` is the request body received from the client, `bytesOut` what was sent back (head
 * and body); for an upgraded connection (status 101) both include every byte of the tunnel,
 * and the line is written when the tunnel closes, its `durationMs` the tunnel's whole life.
 * `backend` is the one that answered (null when none did: 503, a rejected body...).
 *
 * Off by default. When off the proxy holds `null` instead of a log and builds nothing per
 * request. `sample` below 1 logs that share of requests, drawn at random, for high rates.
 * A file is appended to, and reopened on SIGUSR1 so logrotate can move it away.
 */
import { destination, pino, type Logger } from 'pino';

export interface AccessLogSettings {
  enabled: boolean;
  /** File to append to; null: standard output. */
  path: string | null;
  /** Share of requests logged, 0..1. */
  sample: number;
}

/** One request as the access log sees it. */
export interface AccessEntry {
  client: string;
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  backend: string | null;
  attempts: number;
  hedged: boolean;
  durationMs: number;
}

type Destination = ReturnType<typeof destination>;

export class AccessLog {
  private readonly logger: Logger;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly dest: Destination,
    readonly settings: AccessLogSettings,
    /** A number in [0, 1) per call; Math.random by default, seeded in tests. */
    private readonly random: () => number,
  ) {
    this.logger = pino(
      {
        base: undefined,
        // No "level" field (every line is an access record), so "time" opens the line: pino
        // puts the timestamp text right after the level's, and it must not start with a comma.
        formatters: { level: () => ({}) },
        timestamp: () => `"time":"${new Date().toISOString()}"`,
      },
      dest,
    );
  }

  /** The log for `settings`, or null when it is off (the proxy then checks one field per request). */
  static create(settings: AccessLogSettings, random: () => number = Math.random): AccessLog | null {
    if (!settings.enabled || settings.sample <= 0) return null;
    const dest =
      settings.path === null ? destination({ dest: 1, sync: false }) : destination({ dest: settings.path, append: true, mkdir: false, sync: false });
    return new AccessLog(dest, settings, random);
  }

  /** Whether this request is logged (sampling); call before building its entry. */
  sampled(): boolean {
    return this.settings.sample >= 1 || this.random() < this.settings.sample;
  }

  write(entry: AccessEntry): void {
    this.logger.info(entry);
  }

  /** Reopens the file (after logrotate moved it): new lines go to a new file at the same path. */
  reopen(): void {
    if (this.settings.path !== null) this.dest.reopen();
  }

  /** Writes what is buffered and closes the file. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      this.dest.once('close', () => resolve());
      this.dest.once('error', () => resolve());
      // Standard output is flushed but never closed: the process may still write to it.
      if (this.settings.path === null) {
        this.dest.flush(() => resolve());
        return;
      }
      this.dest.end();
    });
    return this.closing;
  }
}
