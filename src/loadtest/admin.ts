/**
 * `TestRunner` (src/loadtest/admin.ts): what the admin server calls for `POST /api/load-test` and
 * `POST /api/stress-test`. It validates the body (defaults and caps, 400 beyond them), refuses
 * a second run while one is going (409), and runs the engine in a worker thread so neither the
 * admin server nor a data plane in the same process stalls while the test drives traffic (the
 * original ran its test on the admin server's only thread and froze the dashboard).
 *
 *   const runner = new TestRunner();
 *   const { status, body } = await runner.start('load_test', parsedJson, 'http://127.0.0.1:8080/');
 *   runner.progress();  // poll for the dashboard
 *   await runner.close(); // on shutdown: stops a running test
 *
 * Replies are always `{ status, body }` for the server to send as JSON: 200 with the result
 * fields (admin.ts), or 400/409/500 with `{ success: false, error }`.
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DEFAULT_CAPS, loadTestReply, parseTestBody, stressTestReply, type TestCaps, type TestKind } from './api-fields.js';
import { LoadOptionsError, planLoad } from './engine.js';
import type { LoadOptions, LoadProgress } from './types.js';
import type { WorkerMessage } from './worker.js';

export interface RunnerReply {
  status: number;
  body: object;
}

export type RunnerProgress =
  | { running: false }
  | {
      running: true;
      kind: TestKind;
      /** Requests finished so far. */
      done: number;
      /** Requests asked for (load test), null for a timed (stress) test. */
      total: number | null;
      elapsed_s: number;
      /** 0..1 for a progress bar, by count or by time. */
      fraction: number;
    };

export interface TestRunnerOptions {
  caps?: Partial<TestCaps>;
  /** The compiled worker; default `./worker.js` beside this module. */
  workerUrl?: URL;
  /** Per-request timeout inside tests, ms. Default 10000. */
  requestTimeoutMs?: number;
}

interface Running {
  kind: TestKind;
  worker: Worker;
  startedAt: number;
  total: number | null;
  durationS: number | null;
  last: LoadProgress | null;
  finished: Promise<void>;
}

const fail = (status: number, error: string): RunnerReply => ({ status, body: { success: false, error } });

/** The worker's URL: compiled JS in dist/, or the TypeScript source when run under tsx. */
function defaultWorkerUrl(): URL {
  const js = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return js;
  const ts = new URL('./worker.ts', import.meta.url);
  return existsSync(fileURLToPath(ts)) ? ts : js;
}

/**
 * Starts the worker. Node 20 does not apply `--import` loaders to a worker's entry, so the
 * TypeScript source (tests under tsx) is loaded through a tiny bootstrap that registers tsx.
 */
function spawnWorker(url: URL, workerData: unknown): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export class TestRunner {
  private readonly caps: TestCaps;
  private readonly workerUrl: URL;
  private readonly requestTimeoutMs: number;
  private current: Running | null = null;

  constructor(opts: TestRunnerOptions = {}) {
    this.caps = { ...DEFAULT_CAPS, ...opts.caps };
    this.workerUrl = opts.workerUrl ?? defaultWorkerUrl();
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  }

  /** Runs one test to the end; resolves with the reply to send (never rejects). */
  async start(kind: TestKind, body: unknown, targetUrl: string): Promise<RunnerReply> {
    if (kind !== 'load_test' && kind !== 'stress_test') return fail(400, `unknown test kind: ${String(kind)}`);
    if (this.current !== null) return fail(409, 'a test is already running');
    const parsed = parseTestBody(kind, body, this.caps);
    if (!parsed.ok) return fail(400, parsed.error);
    const options: LoadOptions = { ...parsed.options, url: targetUrl, timeoutMs: this.requestTimeoutMs };
    try {
      planLoad(options);
    } catch (err) {
      if (err instanceof LoadOptionsError) return fail(500, `cannot test the target: ${err.message}`);
      throw err;
    }

    let worker: Worker;
    try {
      worker = spawnWorker(this.workerUrl, { options });
    } catch (err) {
      return fail(500, `cannot start the test worker: ${(err as Error).message}`);
    }
    // A test alone does not keep the process alive: the admin server does, and on shutdown a
    // test in progress should not hold the exit for minutes (close() stops it cleanly).
    worker.unref();
    let settle!: (reply: RunnerReply) => void;
    const reply = new Promise<RunnerReply>((resolve) => (settle = resolve));
    let finish!: () => void;
    const run: Running = {
      kind,
      worker,
      startedAt: performance.now(),
      total: options.requests ?? null,
      durationS: options.durationS ?? null,
      last: null,
      finished: new Promise<void>((resolve) => (finish = resolve)),
    };
    this.current = run;

    let answered = false;
    const answer = (r: RunnerReply): void => {
      if (answered) return;
      answered = true;
      // Free the slot before replying, so a client that starts the next test on reading this
      // reply is not refused; the worker has nothing left to do but exit.
      if (this.current === run) this.current = null;
      void worker.terminate();
      settle(r);
    };
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') run.last = m.progress;
      else if (m.type === 'result') answer({ status: 200, body: kind === 'load_test' ? loadTestReply(m.result) : stressTestReply(m.result) });
      else answer(fail(500, `test failed: ${m.message}`));
    });
    worker.on('error', (err) => answer(fail(500, `test worker failed: ${err.message}`)));
    worker.on('exit', (code) => {
      answer(fail(500, `test worker exited (code ${code}) without a result`));
      if (this.current === run) this.current = null;
      finish();
    });
    return reply;
  }

  /** What the dashboard polls while a test runs. */
  progress(): RunnerProgress {
    const run = this.current;
    if (run === null) return { running: false };
    const elapsedS = (performance.now() - run.startedAt) / 1000;
    const done = run.last?.done ?? 0;
    const fraction = run.total !== null ? done / run.total : run.durationS !== null ? elapsedS / run.durationS : 0;
    return { running: true, kind: run.kind, done, total: run.total, elapsed_s: Math.round(elapsedS * 10) / 10, fraction: Math.min(1, Math.round(fraction * 1000) / 1000) };
  }

  /** Stops a running test (in-flight requests get `graceMs` to finish) and waits for its worker. */
  async close(graceMs = 2000): Promise<void> {
    const run = this.current;
    if (run === null) return;
    run.worker.postMessage({ type: 'stop' });
    const timer = setTimeout(() => void run.worker.terminate(), graceMs);
    await run.finished;
    clearTimeout(timer);
  }
}
