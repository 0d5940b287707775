/**
 * The benchmark's child processes (demo backends, Ballast, HAProxy): spawned, watched for the
 * line that says they are ready, and always killed, by their own pid, when a run ends, fails
 * or is interrupted. A set per run keeps the ownership plain: what a run spawned, it kills.
 *
 * Why a last-resort `exit` hook: if the bench itself dies on an exception between a spawn and
 * its `finally`, orphaned backends would keep their ports (and, with stalls, the CPU) busy.
 * `process.kill` is synchronous, so it works inside `exit`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** Lines of output kept per child for error messages. */
const TAIL_LINES = 30;
/** After SIGTERM, a child that has not exited within this gets SIGKILL. */
const KILL_GRACE_MS = 2_000;

/** A child that did not start, exited early, or did not say it was ready in time. */
export class ChildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChildError';
  }
}

/** Every live child of this process, for the `exit` hook. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
}

/** How to run a program: the command and the arguments that come before the caller's own. */
export interface Invocation {
  command: string;
  prefix: string[];
}

/**
 * How to run one of our modules (`../cli/main`, `./backend-child`, relative to this file) in a
 * child: the built .js when this file is the built one, else the TypeScript source through tsx
 * (tests run from source).
 */
export function nodeModule(relative: string): Invocation {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) {
    const built = fileURLToPath(new URL(`${relative}.js`, import.meta.url));
    if (existsSync(built)) return { command: process.execPath, prefix: [built] };
  }
  const source = fileURLToPath(new URL(`${relative}.ts`, import.meta.url));
  return { command: process.execPath, prefix: ['--import', 'tsx', source] };
}

/** How to run `ballast`. */
export function ballastCli(): Invocation {
  return nodeModule('../cli/main');
}

/** CPUs to keep a child on (`taskset -c CPUS`): the throughput benchmark gives each side its own core. */
export interface Pinning {
  /** The taskset binary. */
  taskset: string;
  /** A CPU list as taskset reads it: "0", "1", "0-3". */
  cpus: string;
}

/** `run` on the pinned CPUs; unchanged without a pinning. taskset execs the program, so the pid stays the program's. */
export function pinned(run: Invocation, pin: Pinning | null): Invocation {
  return pin === null ? run : { command: pin.taskset, prefix: ['-c', pin.cpus, run.command, ...run.prefix] };
}

/** The hard open-files limit children start with (`ulimit -Hn`); Infinity when unlimited or unknown. */
export function hardFdLimit(): number {
  const r = spawnSync('/bin/sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : Infinity;
}

/** `run` with its soft open-files limit raised to `n` first; it fails with a clear message when the hard limit is lower. */
export function withFdLimit(run: Invocation, n: number): Invocation {
  const script = `ulimit -n ${n} 2>/dev/null || { echo "cannot raise the open-files limit to ${n} (hard limit $(ulimit -Hn)): raise it (ulimit -Hn, /etc/security/limits.conf) or pass a smaller --idle-clients to ballast bench" >&2; exit 1; }; exec "$@"`;
  return { command: '/bin/sh', prefix: ['-c', script, 'sh', run.command, ...run.prefix] };
}

/** Whether something accepts TCP connections on host:port now. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** Resolves with the exit code (or the signal's name) when the process has exited. */
  readonly exited: Promise<number | string>;
  private readonly tail: string[] = [];
  private readonly watchers = new Set<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }>();
  private exitedWith: number | string | null = null;
  private exitWaiters: Array<(why: number | string) => void> = [];

  constructor(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    installExitHook();
    this.name = name;
    this.process = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    live.add(this.process);
    for (const stream of [this.process.stdout!, this.process.stderr!]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.line(line);
      });
    }
    this.exited = new Promise((resolve) => {
      this.process.once('error', (err) => {
        this.line(`spawn failed: ${err.message}`);
        this.onExit(-1);
        resolve(-1);
      });
      this.process.once('exit', (code, signal) => {
        const why = code ?? signal ?? -1;
        this.onExit(why);
        resolve(why);
      });
    });
  }

  get running(): boolean {
    return this.exitedWith === null;
  }

  /** The last lines the child wrote (stdout and stderr), for error messages. */
  output(): string {
    return this.tail.join('\n');
  }

  /**
   * Resolves with the first line matching `re` (already written, unless `onlyNew`, or to
   * come); rejects if the child exits first or `timeoutMs` passes.
   */
  waitFor(re: RegExp, timeoutMs: number, onlyNew = false): Promise<RegExpMatchArray> {
    if (!onlyNew) {
      for (const l of this.tail) {
        const m = l.match(re);
        if (m !== null) return Promise.resolve(m);
      }
    }
    if (this.exitedWith !== null) return Promise.reject(this.failure(`exited (${this.exitedWith}) before it was ready`));
    return new Promise((resolve, reject) => {
      const entry = {
        re,
        resolve: (m: RegExpMatchArray) => {
          clearTimeout(timer);
          this.exitWaiters = this.exitWaiters.filter((w) => w !== onExit);
          resolve(m);
        },
      };
      const onExit = (why: number | string): void => {
        clearTimeout(timer);
        this.watchers.delete(entry);
        reject(this.failure(`exited (${why}) before it was ready`));
      };
      const timer = setTimeout(() => {
        this.watchers.delete(entry);
        this.exitWaiters = this.exitWaiters.filter((w) => w !== onExit);
        reject(this.failure(`was not ready within ${timeoutMs} ms`));
      }, timeoutMs);
      this.watchers.add(entry);
      this.exitWaiters.push(onExit);
    });
  }

  /**
   * For programs that say nothing when they are ready (nginx): resolves once host:port accepts
   * connections, polling; rejects if the child exits first or `timeoutMs` passes.
   */
  async waitListening(host: string, port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exitedWith !== null) throw this.failure(`exited (${this.exitedWith}) before it listened on ${host}:${port}`);
      if (await accepts(host, port)) return;
      if (Date.now() > deadline) throw this.failure(`did not listen on ${host}:${port} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends `signal` (SIGTERM by default, SIGKILL after a grace period) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.exitedWith !== null) return;
    this.process.kill(signal);
    // A SIGSTOPped child (a paused backend) only acts on SIGTERM once continued.
    if (signal !== 'SIGKILL') this.process.kill('SIGCONT');
    if (signal === 'SIGKILL') {
      await this.exited;
      return;
    }
    const timer = setTimeout(() => {
      if (this.exitedWith === null) this.process.kill('SIGKILL');
    }, KILL_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  /** Sends a signal without waiting (SIGHUP for a reload). */
  signal(signal: NodeJS.Signals): void {
    if (this.exitedWith === null) this.process.kill(signal);
  }

  private failure(what: string): ChildError {
    const out = this.output();
    return new ChildError(`${this.name} ${what}${out === '' ? '' : `; its last output:\n${out}`}`);
  }

  private line(l: string): void {
    this.tail.push(l);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    for (const w of this.watchers) {
      const m = l.match(w.re);
      if (m !== null) {
        this.watchers.delete(w);
        w.resolve(m);
      }
    }
  }

  private onExit(why: number | string): void {
    if (this.exitedWith !== null) return;
    this.exitedWith = why;
    live.delete(this.process);
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w(why);
  }
}

/** The children of one run: stopped together, whatever happened. */
export class ChildSet {
  private readonly children: Child[] = [];

  spawn(name: string, command: string, args: string[], env?: NodeJS.ProcessEnv): Child {
    const c = new Child(name, command, args, env);
    this.children.push(c);
    return c;
  }

  /** Stops every child still running (SIGTERM, SIGKILL after a grace period). */
  async stopAll(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop().catch(() => {})));
    this.children.length = 0;
  }
}
