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
 *
 * With `workers` above 1 the file has one writer, the main thread: each worker's log formats
 * and samples its lines and hands them to a `sink` (they travel with the worker's statistics,
 * src/workers/stats-channel.ts), and the main thread appends them with `writeLines`.
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

/** Where a worker's formatted lines go instead of a file (each ends with a newline). */
export type AccessLineSink = (line: string) => void;

export class AccessLog {
  private readonly logger: Logger;
  private closing: Promise<void> | undefined;

  private constructor(
    /** The file or standard output; null when lines go to a sink. */
    private readonly dest: Destination | null,
    sink: AccessLineSink | null,
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
      sink === null ? dest! : { write: sink },
    );
  }

  /**
   * The log for `settings`, or null when it is off (the proxy then checks one field per request).
   * With a `sink`, no file is opened: lines go to the sink (a worker's, see above).
   */
  static create(settings: AccessLogSettings, random: () => number = Math.random, sink: AccessLineSink | null = null): AccessLog | null {
    if (!settings.enabled || settings.sample <= 0) return null;
    if (sink !== null) return new AccessLog(null, sink, settings, random);
    const dest =
      settings.path === null ? destination({ dest: 1, sync: false }) : destination({ dest: settings.path, append: true, mkdir: false, sync: false });
    return new AccessLog(dest, null, settings, random);
  }

  /** Whether this request is logged (sampling); call before building its entry. */
  sampled(): boolean {
    return this.settings.sample >= 1 || this.random() < this.settings.sample;
  }

  write(entry: AccessEntry): void {
    this.logger.info(entry);
  }

  /** Appends lines formatted and sampled elsewhere (a worker's), as they are. */
  writeLines(lines: readonly string[]): void {
    if (this.dest === null || this.closing !== undefined) return;
    for (const line of lines) this.dest.write(line);
  }

  /** Reopens the file (after logrotate moved it): new lines go to a new file at the same path. */
  reopen(): void {
    if (this.settings.path !== null) this.dest?.reopen();
  }

  /** Writes what is buffered and closes the file. */
  close(): Promise<void> {
    const dest = this.dest;
    if (dest === null) return Promise.resolve();
    this.closing ??= new Promise((resolve) => {
      dest.once('close', () => resolve());
      dest.once('error', () => resolve());
      // Standard output is flushed but never closed: the process may still write to it.
      if (this.settings.path === null) {
        dest.flush(() => resolve());
        return;
      }
      dest.end();
    });
    return this.closing;
  }
}
