/**
 * wrk (github.com/wg/wrk) as the throughput benchmark's load generator: a closed loop of
 * keep-alive connections on one thread, as fast as the target answers. Closed-loop figures
 * are the right ones for raw throughput (how many requests a second the proxy can move); the
 * open-loop load tester in src/loadtest is the one for latency under a given rate.
 *
 * wrk runs asynchronously, so this process keeps reading its children's output meanwhile (a
 * child blocked on a full pipe would stall the run).
 */
import { execFile } from 'node:child_process';
import { ChildError, pinned, type Pinning } from './children.js';

export interface WrkResult {
  /** Requests per second over the run. */
  rps: number;
  /** Latency percentiles, ms. */
  p50: number;
  p99: number;
  /** Requests completed in the run. */
  requests: number;
  /** Non-2xx/3xx responses plus socket errors (connect, read, write, timeout). */
  errors: number;
}

/** Arguments for one run: one thread, `connections` connections, `seconds` long, with the latency distribution. */
export function wrkArgs(url: string, connections: number, seconds: number, extra: readonly string[] = []): string[] {
  // wrk reads durations as whole numbers of its unit.
  if (!Number.isInteger(seconds) || seconds < 1) throw new RangeError(`wrk runs whole seconds, at least 1: got ${seconds}`);
  return ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...extra, url];
}

/** "2.33ms", "812.00us", "1.02s", "1.50m" in ms; NaN for anything else. */
export function wrkTimeMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (m === null) return NaN;
  const v = Number(m[1]);
  const unit = { us: 0.001, ms: 1, s: 1_000, m: 60_000 }[m[2] as 'us' | 'ms' | 's' | 'm'];
  return v * unit;
}

/** The figures of wrk's report (with --latency); throws when one is missing (wrk failed). */
export function parseWrk(out: string): WrkResult {
  const rps = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(out)?.[1] ?? NaN);
  const p50 = wrkTimeMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = wrkTimeMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const requests = Number(/^\s+(\d+) requests in /m.exec(out)?.[1] ?? NaN);
  if (![rps, p50, p99, requests].every(Number.isFinite)) throw new ChildError(`wrk printed no figures (requests, Requests/sec, 50% and 99%):\n${out}`);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock === null ? 0 : sock.slice(1, 5).reduce((n, v) => n + Number(v), 0);
  return { rps, p50, p99, requests, errors: non2xx + socketErrors };
}

export interface WrkRun {
  /** The wrk binary. */
  binary: string;
  url: string;
  connections: number;
  seconds: number;
  /** More wrk arguments before the URL (headers: `-H`, `Connection: close`). */
  extraArgs?: readonly string[];
  pin?: Pinning | null;
  /** Kills wrk (the run then rejects). */
  signal?: AbortSignal;
}

/** One wrk run; bounded by its duration (plus a margin, after which it is killed). */
export function runWrk(o: WrkRun): Promise<WrkResult> {
  const run = pinned({ command: o.binary, prefix: [] }, o.pin ?? null);
  return new Promise((resolve, reject) => {
    execFile(
      run.command,
      [...run.prefix, ...wrkArgs(o.url, o.connections, o.seconds, o.extraArgs)],
      { encoding: 'utf8', timeout: (o.seconds + 10) * 1_000, killSignal: 'SIGKILL', ...(o.signal === undefined ? {} : { signal: o.signal }) },
      (err, stdout, stderr) => {
        if (err !== null) return reject(o.signal?.aborted ? err : new ChildError(`wrk ${o.url} failed (${err.message.split('\n')[0]}):\n${stdout}${stderr}`));
        try {
          resolve(parseWrk(stdout));
        } catch (e) {
          reject(e);
        }
      },
    );
  });
}
