/**
 * A single-member etcd on 127.0.0.1 for the fleet demo and the tests: Debian's etcd-server,
 * with its data in a folder of ours, its client and peer ports chosen by the caller, and a
 * readiness wait on its /health endpoint. Never listens beyond loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findTool } from '../bench/tools.js';

export interface LocalEtcd {
  /** The client URL, e.g. http://127.0.0.1:2379. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** Stops it gracefully (SIGTERM), keeping its data folder. */
  stop(): Promise<void>;
  /** Kills it at once (SIGKILL), as a crash or a partition would look to a client. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data. */
  restart(): Promise<void>;
  /** Stops it and removes its data folder; safe to call twice. */
  dispose(): Promise<void>;
  /** Its process id (a test freezes it with SIGSTOP), or null while it is not running. */
  pid(): number | null;
}

/** How to get etcd on this machine, for the message when it is missing. */
export const ETCD_INSTALL_HINT = 'etcd is not installed: apt-get install -y etcd-server (Debian)';

/** The etcd binary, or null when etcd-server is not installed. */
export function etcdBinary(): string | null {
  return findTool('etcd');
}

export async function startLocalEtcd(options: { clientPort: number; peerPort: number; dataDir?: string; readyMs?: number }): Promise<LocalEtcd> {
  const bin = etcdBinary();
  if (bin === null) throw new Error(ETCD_INSTALL_HINT);
  const { clientPort, peerPort } = options;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'ballast-etcd-'));
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'ballast',
    '--data-dir', dataDir,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `ballast=${peer}`,
    '--log-level', 'error',
  ];
  let child: ChildProcess | null = null;
  // An orphaned etcd would outlive us and keep its ports.
  const killOnExit = (): void => void child?.kill('SIGKILL');
  process.once('exit', killOnExit);
  const launch = async (): Promise<void> => {
    const c = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
    child = c;
    try {
      await waitHealthy(client, options.readyMs ?? 10_000, () => (c.exitCode !== null ? `etcd exited (${c.exitCode}): ${stderr.trim()}` : null));
    } catch (err) {
      await end('SIGKILL');
      throw err;
    }
  };
  /** Sends `signal`, then SIGKILL after 3 s: a frozen or hung etcd ignores SIGTERM. */
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    const escalate = setTimeout(() => c.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(escalate);
  };
  let disposed = false;
  const etcd: LocalEtcd = {
    endpoint: client,
    clientPort,
    peerPort,
    dataDir,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    restart: async () => {
      if (disposed) throw new Error('restart() after dispose()');
      await end('SIGTERM');
      await launch();
    },
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      await end('SIGTERM');
      process.removeListener('exit', killOnExit);
      rmSync(dataDir, { recursive: true, force: true });
    },
    pid: () => child?.pid ?? null,
  };
  try {
    await launch();
  } catch (err) {
    await etcd.dispose();
    throw err;
  }
  return etcd;
}

/** Polls GET /health until etcd says it is healthy; `failed` returns why to give up early. */
async function waitHealthy(url: string, deadlineMs: number, failed: () => string | null): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const why = failed();
    if (why !== null) throw new Error(why);
    const healthy = await new Promise<boolean>((resolve) => {
      const req = http.get(`${url}/health`, { agent: false, timeout: 1_000 }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')));
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
    if (healthy) return;
    if (Date.now() > end) throw new Error(`etcd on ${url} did not become healthy within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
