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
  /** Stops it and removes its data folder. */
  dispose(): Promise<void>;
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
  const launch = async (): Promise<void> => {
    const c = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child = c;
    await waitHealthy(client, options.readyMs ?? 10_000, () => (c.exitCode !== null ? `etcd exited (${c.exitCode}): ${stderr.trim()}` : null));
  };
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    await exited;
  };
  await launch();
  return {
    endpoint: client,
    clientPort,
    peerPort,
    dataDir,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    restart: async () => {
      await end('SIGTERM');
      await launch();
    },
    dispose: async () => {
      await end('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
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
