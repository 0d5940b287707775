/**
 * A real etcd v3 server on loopback for one test file: its own free client and peer ports and
 * temp data dir, stopped (and the dir removed) after the file's tests. `kill()` and `restart()`
 * (same ports, same data) let a test take the store away and bring it back.
 *
 * etcd is never optional: a missing binary fails the test, in CI and outside it, so the
 * discovery tests cannot be skipped without anyone noticing (.ci/run installs etcd-server).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { cleanups, sleep } from './lifecycle.js';

export interface TestEtcd {
  /** The client URL, http://127.0.0.1:PORT. */
  endpoint: string;
  /** SIGTERM (SIGKILL after 3 s), wait for the exit, remove the data dir. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash or a lost machine would; the data dir stays for restart(). */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data dir; resolves once it answers. */
  restart(): Promise<void>;
  /** The etcd process id, for a test that freezes it (SIGSTOP); null while killed. */
  pid(): number | null;
}

/** The etcd binary, or a thrown error telling how to install it (never a skip). */
export function etcdBinary(): string {
  const dirs = ['/usr/bin', ...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== '')];
  for (const dir of dirs) {
    const path = join(dir, 'etcd');
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  const why = process.env.CI === 'true' ? 'CI=true but etcd is not installed (.ci/run installs etcd-server)' : 'etcd is not installed';
  throw new Error(`${why}: the discovery tests need a real etcd; run \`apt-get install etcd-server\` (Debian/Ubuntu)`);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts etcd and waits (at most 10 s) until it answers /health. Stopped after the file's tests. */
export async function startEtcd(): Promise<TestEtcd> {
  const binary = etcdBinary();
  const dataDir = mkdtempSync(join(tmpdir(), 'ballast-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'default',
    '--data-dir', dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `default=${peer}`,
  ];

  let child: ChildProcess | null = null;
  // The last few KB of etcd's log, quoted when it fails to start.
  let output = '';
  // An orphaned etcd would outlive a crashed test run and keep its ports.
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const exited = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r()));

  async function launch(): Promise<void> {
    const c = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr!.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4096);
    });
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      if (c.exitCode !== null) throw new Error(`etcd exited with code ${c.exitCode}:\n${output}`);
      try {
        const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    c.kill('SIGKILL');
    throw new Error(`etcd did not answer ${endpoint}/health within 10 s:\n${output}`);
  }

  /** Sends `sig`; SIGKILL if etcd is still there after 3 s (a stopped or hung etcd ignores SIGTERM). */
  async function signal(sig: NodeJS.Signals): Promise<void> {
    const c = child;
    if (c === null) return;
    child = null;
    c.kill(sig);
    const timer = setTimeout(() => c.kill('SIGKILL'), 3_000);
    await exited(c);
    clearTimeout(timer);
  }

  let stopped = false;
  const etcd: TestEtcd = {
    endpoint,
    async stop() {
      if (stopped) return;
      stopped = true;
      await signal('SIGTERM');
      process.removeListener('exit', killOnExit);
      rmSync(dataDir, { recursive: true, force: true });
    },
    kill: () => signal('SIGKILL'),
    pid: () => child?.pid ?? null,
    async restart() {
      if (stopped) throw new Error('restart() after stop()');
      await signal('SIGKILL');
      await launch();
    },
  };
  cleanups.push(() => etcd.stop());
  try {
    await launch();
  } catch (err) {
    await etcd.stop();
    throw err;
  }
  return etcd;
}
