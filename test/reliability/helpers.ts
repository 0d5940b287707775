/**
 * Support for the reliability tests (issue 4): Ballast and demo backends as real child
 * processes (so SIGKILL, SIGTERM and SIGHUP mean what they mean in production), a bounded
 * closed-loop load generator that counts every request it sends and every one that failed,
 * and small polling waits. Everything listens on 127.0.0.1, on ephemeral ports.
 *
 * The CLI is the one beside this file: compiled JS under dist/, or the TypeScript source run
 * through tsx, so `node --import tsx --test test/reliability/x.test.ts` works without a build.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { cleanups } from '../helpers/lifecycle.js';

const isTs = import.meta.url.endsWith('.ts');
const main = fileURLToPath(new URL(`../../src/cli/main.${isTs ? 'ts' : 'js'}`, import.meta.url));

/** Arguments to run `ballast ARGS` with process.execPath. */
export function cliArgs(args: string[]): string[] {
  return [...(isTs ? ['--import', 'tsx'] : []), main, ...args];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it returns true; false when `timeoutMs` passed first. */
export async function waitFor(check: () => boolean, timeoutMs: number, everyMs = 10): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (check()) return true;
    await sleep(everyMs);
  }
  return check();
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** performance.now() when the process exited. */
  at: number;
}

export interface ChildHandle {
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  /** Sends a signal if the process still runs. */
  kill(signal?: NodeJS.Signals): void;
}

function track(child: ChildProcess): ChildHandle {
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
  });
  const handle: ChildHandle = {
    child,
    exited,
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  // Killed after the file's tests whatever happened: a test that failed before registering its
  // own cleanup (one of three backends too slow to start under load) left the others running,
  // and their stdout pipes kept the test process, and the whole suite, waiting forever.
  cleanups.push(() => handle.kill('SIGKILL'));
  return handle;
}

export interface BackendProcess extends ChildHandle {
  port: number;
  name: string;
}

/** Starts `ballast backend --port 0` and resolves once it listens. */
export async function spawnBackend(name: string, extra: string[] = [], port = 0): Promise<BackendProcess> {
  const child = spawn(process.execPath, cliArgs(['backend', '--port', String(port), '--name', name, ...extra]), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const handle = track(child);
  let out = '';
  const bound = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`backend ${name} did not start: ${out}`)), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`backend ${name} exited (${code}) before listening: ${out}`));
    });
  });
  return { ...handle, port: bound, name };
}

/** One pino line of a balancer's stderr. */
export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface BalancerProcess extends ChildHandle {
  port: number;
  url: string;
  adminUrl: string | undefined;
  configFile: string;
  /** Every JSON log line so far. */
  logs: LogLine[];
  /** Non-JSON stderr (a crash's stack trace would land here). */
  stderrText(): string;
  /** Resolves with the first log line (already seen or to come) matching; rejects after timeoutMs. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Rewrites the config file (for a reload). */
  writeConfig(config: unknown): void;
  /** Kills the process if still running, removes the config directory. */
  cleanup(): Promise<void>;
}

/**
 * Starts `ballast start --config FILE` with `config` written as JSON. The listen and admin
 * ports default to 0 (ephemeral); the actual ones are read from the start-up log lines.
 */
export async function spawnBalancer(config: Record<string, unknown>, opts: { waitReadyMs?: number } = {}): Promise<BalancerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-rel-'));
  const configFile = join(dir, 'ballast.json');
  const full = { listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, ...config };
  writeFileSync(configFile, JSON.stringify(full, null, 2));
  const child = spawn(process.execPath, cliArgs(['start', '--config', configFile]), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BALLAST_LOG_LEVEL: 'info' },
  });
  const handle = track(child);
  const logs: LogLine[] = [];
  let text = '';
  let partial = '';
  const waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  child.stdout!.resume();
  child.stderr!.on('data', (d: Buffer) => {
    partial += d.toString();
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let parsed: LogLine | undefined;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        text += line + '\n';
      }
      if (parsed === undefined) continue;
      logs.push(parsed);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.match(parsed)) {
          waiters[i]!.resolve(parsed);
          waiters.splice(i, 1);
        }
      }
    }
  });
  const waitForLog = (match: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const seen = logs.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(`no matching log line within ${timeoutMs} ms; stderr so far:\n${logs.map((l) => JSON.stringify(l)).join('\n')}\n${text}`));
      }, timeoutMs);
      const w = {
        match,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      waiters.push(w);
    });
  };
  const cleanup = async (): Promise<void> => {
    handle.kill('SIGKILL');
    await Promise.race([handle.exited, sleep(2000)]);
    rmSync(dir, { recursive: true, force: true });
  };
  let ready: LogLine;
  try {
    ready = await Promise.race([
      waitForLog((l) => l.msg === 'ballast listening', opts.waitReadyMs ?? 15_000),
      handle.exited.then((e) => {
        throw new Error(`balancer exited (${e.code ?? e.signal}) before listening:\n${text}${logs.map((l) => JSON.stringify(l)).join('\n')}`);
      }),
    ]);
  } catch (err) {
    await cleanup();
    throw err;
  }
  const port = Number(String(ready.listen).split(':').pop());
  let adminUrl: string | undefined;
  if ((full.admin as { enabled?: boolean }).enabled !== false) {
    const line = await waitForLog((l) => /admin API and dashboard on /.test(l.msg), 5000).catch(() => undefined);
    adminUrl = line === undefined ? undefined : /(http:\/\/\S+)/.exec(line.msg)?.[1];
  }
  return {
    ...handle,
    port,
    url: `http://127.0.0.1:${port}`,
    adminUrl,
    configFile,
    logs,
    stderrText: () => text,
    waitForLog,
    writeConfig: (c: unknown) => writeFileSync(configFile, JSON.stringify({ listen: full.listen, admin: full.admin, ...(c as object) }, null, 2)),
    cleanup,
  };
}

export interface LoadResult {
  sent: number;
  ok: number;
  failed: number;
  /** Failures by kind: "status 502", "ECONNRESET"... */
  failures: Map<string, number>;
  /** Successful responses by the backend that served them (X-Backend or X-Served-By). */
  byBackend: Map<string, number>;
  /** performance.now() of each success, by backend, to check when traffic moved. */
  lastAtByBackend: Map<string, number>;
  durationMs: number;
}

/**
 * A closed loop of GETs: `connections` workers, each sending its next request as soon as the
 * previous one ended, over keep-alive connections, until `durationMs` passed (or `stop()`).
 * A request fails when it errors or its status is not 200.
 */
export function closedLoop(url: string, options: { connections: number; durationMs: number; path?: string | (() => string); timeoutMs?: number }): {
  done: Promise<LoadResult>;
  stop(): void;
  result: LoadResult;
} {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const result: LoadResult = { sent: 0, ok: 0, failed: 0, failures: new Map(), byBackend: new Map(), lastAtByBackend: new Map(), durationMs: 0 };
  const start = performance.now();
  const end = start + options.durationMs;
  let stopped = false;
  const fail = (why: string): void => {
    result.failed++;
    result.failures.set(why, (result.failures.get(why) ?? 0) + 1);
  };
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      result.sent++;
      const path = typeof options.path === 'function' ? options.path() : (options.path ?? '/');
      const req = http.get(`${url}${path}`, { agent, timeout: options.timeoutMs ?? 10_000 }, (res) => {
        res.on('data', () => {});
        res.on('error', (err) => {
          fail((err as NodeJS.ErrnoException).code ?? err.message);
          resolve();
        });
        res.on('end', () => {
          if (res.statusCode === 200) {
            result.ok++;
            const who = String(res.headers['x-backend'] ?? res.headers['x-served-by'] ?? '?');
            result.byBackend.set(who, (result.byBackend.get(who) ?? 0) + 1);
            result.lastAtByBackend.set(who, performance.now());
          } else {
            fail(`status ${res.statusCode}`);
          }
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', (err) => {
        fail((err as NodeJS.ErrnoException).code ?? err.message);
        resolve();
      });
    });
  const worker = async (): Promise<void> => {
    while (!stopped && performance.now() < end) await one();
  };
  const done = Promise.all(Array.from({ length: options.connections }, worker)).then(() => {
    result.durationMs = performance.now() - start;
    agent.destroy();
    return result;
  });
  return {
    done,
    result,
    stop() {
      stopped = true;
    },
  };
}

/** A plain-object view of a LoadResult for diagnostics and notes. */
export function summary(r: LoadResult): Record<string, unknown> {
  return {
    sent: r.sent,
    ok: r.ok,
    failed: r.failed,
    failures: Object.fromEntries(r.failures),
    byBackend: Object.fromEntries(r.byBackend),
    durationMs: Math.round(r.durationMs),
  };
}

/** GET a JSON document. */
export async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  return res.json();
}
