/**
 * Flags shared by `ballast loadtest` and `ballast stresstest`: how each request looks
 * (method, headers, body, keys, timeout) and how the run is reported. Parsing lives here so
 * the two commands spell and check them identically.
 */
import { readFileSync } from 'node:fs';
import { numberFlag, UsageError } from '../cli/command.js';
import type { LoadOptions } from './types.js';

/** parseArgs option specs of the shared flags. */
export const requestFlagSpecs = {
  url: { type: 'string' },
  method: { type: 'string' },
  header: { type: 'string', multiple: true, short: 'H' },
  body: { type: 'string' },
  timeout: { type: 'string' },
  keys: { type: 'string' },
  zipf: { type: 'string' },
  arrivals: { type: 'string' },
  connections: { type: 'string', short: 'c' },
  'new-connection': { type: 'boolean' },
  seed: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const requestFlagsHelp = `Request flags:
  --url URL               target (http: or https:), required
  --method M              HTTP method (default GET)
  -H, --header 'K: V'     extra request header, repeatable
  --body TEXT|@FILE       request body, literally or read from FILE
  --timeout T             per request, send to end of body: 500ms, 2s or seconds (default 10s);
                          a request past it is failed as a timeout
  --keys K                send one of K keys (key-0 .. key-(K-1)) as header X-Key and as the
                          last path segment (URL /items -> /items/key-17); at most 1000000
  --zipf S                key popularity exponent: 0 uniform, 1 classic skew (default 1 with --keys)
  --new-connection        a fresh TCP connection per request (default: keep-alive)
  --seed N                seed arrivals and keys: one seed, one request sequence (default random,
                          printed with the result)
  --json                  print one JSON object on stdout instead of text
A progress bar is drawn on stderr when it is a terminal. Ctrl-C stops early and reports.`;

export type RequestFlagValues = {
  [K in keyof typeof requestFlagSpecs]?: (typeof requestFlagSpecs)[K] extends { type: 'boolean' } ? boolean : (typeof requestFlagSpecs)[K] extends { multiple: true } ? string[] : string;
};

/** A duration flag: "500ms", "2s" or a plain number of seconds. Returns seconds. */
export function durationFlag(name: string, value: string | undefined, maxS: number): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)?\s*$/.exec(value);
  const s = m === null ? NaN : Number(m[1]) / (m[2] === 'ms' ? 1000 : 1);
  if (!(s > 0) || s > maxS) throw new UsageError(`--${name}: expected a duration like 500ms, 2s or 2 (seconds), above 0 and at most ${maxS} s, got "${value}"`);
  return s;
}

/** Parses "Name: value" into a header pair. */
export function headerFlag(value: string): [string, string] {
  const i = value.indexOf(':');
  const name = i < 0 ? '' : value.slice(0, i).trim();
  if (name === '' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new UsageError(`--header: expected 'Name: value', got "${value}"`);
  return [name, value.slice(i + 1).trim()];
}

export function bodyFlag(value: string | undefined): string | undefined {
  if (value === undefined || !value.startsWith('@')) return value;
  try {
    return readFileSync(value.slice(1), 'utf8');
  } catch (err) {
    throw new UsageError(`--body: cannot read ${value.slice(1)}: ${(err as Error).message}`);
  }
}

export function urlFlag(value: string | undefined): string {
  if (value === undefined) throw new UsageError('--url is required');
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`--url: not a valid URL: "${value}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url: only http: and https: are supported, got "${u.protocol}"`);
  return value;
}

/** The request-shaping part of LoadOptions from the shared flags. */
export function requestOptions(v: RequestFlagValues): Omit<LoadOptions, 'connections' | 'requests' | 'durationS' | 'rate' | 'arrivals'> {
  const keys = numberFlag('keys', v.keys, { min: 1, max: 1_000_000, integer: true });
  const zipf = numberFlag('zipf', v.zipf, { min: 0, max: 10 });
  if (zipf !== undefined && keys === undefined) throw new UsageError('--zipf needs --keys');
  const timeoutS = durationFlag('timeout', v.timeout, 3600);
  const method = v.method?.toUpperCase();
  if (method !== undefined && !/^[A-Z]+$/.test(method)) throw new UsageError(`--method: not an HTTP method: "${v.method}"`);
  return {
    url: urlFlag(v.url),
    method,
    headers: (v.header ?? []).map(headerFlag),
    body: bodyFlag(v.body),
    timeoutMs: timeoutS === undefined ? undefined : timeoutS * 1000,
    keys,
    zipf,
    newConnection: v['new-connection'] ?? false,
    seed: numberFlag('seed', v.seed, { min: 0, max: 0xffffffff, integer: true }),
  };
}

export function arrivalsFlag(value: string | undefined): 'poisson' | 'constant' | undefined {
  if (value === undefined || value === 'poisson' || value === 'constant') return value;
  throw new UsageError(`--arrivals: expected poisson or constant, got "${value}"`);
}

/** Runs `body` with a signal that Ctrl-C aborts (once; a second Ctrl-C exits at once). */
export async function withInterrupt<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping: finishing requests in flight (Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await body(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
