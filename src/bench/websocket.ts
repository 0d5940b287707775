/**
 * `ballast bench --websocket`: what open WebSocket tunnels cost Ballast in memory. A `ws` echo
 * server and `ws` clients run in this process; Ballast (`ballast start`) runs in a child of
 * its own, so its resident set (VmRSS from /proc) is Ballast's alone.
 *
 * Steps: start Ballast in front of the echo server; open and close a few tunnels so the code
 * paths are compiled and the first allocations made; read the RSS (before); open N tunnels
 * (at most OPEN_BATCH at a time), each proven by one echoed message; check Ballast counts
 * them in flight (/api/status); read the RSS (open); close them all and read it once more
 * (after). The figure is (open - before) / N, in KiB per tunnel. Everything is on 127.0.0.1,
 * the tunnels are bounded (--tunnels, at most MAX_TUNNELS) and the run stops by itself.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { WebSocket, WebSocketServer } from 'ws';
import { ballastCli, ChildSet } from './children.js';

export const WEBSOCKET_DEFAULTS = { tunnels: 1000 } as const;
export const MAX_TUNNELS = 10_000;
/** Tunnels being opened at once: a bounded burst, not a SYN flood on the loopback. */
const OPEN_BATCH = 100;
/** Tunnels opened and closed before the first reading. */
const WARM_UP_TUNNELS = 50;
/** Quiet time before each reading, so buffers of the last burst are released. */
const SETTLE_MS = 1_000;

export interface WebsocketSample {
  tunnels: number;
  /** Ballast's resident set before, with the tunnels open, and after they closed (KiB). */
  rssBeforeKiB: number;
  rssOpenKiB: number;
  rssAfterKiB: number;
  /** What /api/status said was in flight with the tunnels open. */
  inflightOpen: number;
  /** Seconds it took to open them all. */
  openSeconds: number;
}

export interface WebsocketReport extends WebsocketSample {
  /** (open - before) / tunnels. */
  perTunnelKiB: number;
  /** Ballast counted every tunnel in flight. */
  counted: boolean;
}

export function websocketReport(s: WebsocketSample): WebsocketReport {
  if (s.tunnels <= 0) throw new Error('no tunnels were opened');
  return { ...s, perTunnelKiB: Math.round(((s.rssOpenKiB - s.rssBeforeKiB) / s.tunnels) * 10) / 10, counted: s.inflightOpen === s.tunnels };
}

export function formatWebsocket(r: WebsocketReport): string {
  const mib = (k: number): string => `${(k / 1024).toFixed(1)} MiB`;
  return [
    `| tunnels | Ballast RSS before | with them open | after closing | per tunnel |`,
    `|---:|---:|---:|---:|---:|`,
    `| ${r.tunnels} | ${mib(r.rssBeforeKiB)} | ${mib(r.rssOpenKiB)} | ${mib(r.rssAfterKiB)} | ${r.perTunnelKiB.toFixed(1)} KiB |`,
    '',
    `Opened in ${r.openSeconds.toFixed(1)} s; /api/status counted ${r.inflightOpen} in flight${r.counted ? '' : ` (expected ${r.tunnels})`}.`,
    '',
  ].join('\n');
}

/** Resident set of a process in KiB (Linux /proc). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Opens one tunnel and waits for one echoed message through it. */
function openTunnel(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      ws.once('message', () => resolve(ws));
      ws.send('ping');
    });
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

async function openMany(url: string, n: number): Promise<WebSocket[]> {
  const open: WebSocket[] = [];
  for (let i = 0; i < n; i += OPEN_BATCH) {
    const batch = await Promise.all(Array.from({ length: Math.min(OPEN_BATCH, n - i) }, () => openTunnel(url)));
    open.push(...batch);
  }
  return open;
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close();
        }),
    ),
  );
}

export interface WebsocketOptions {
  tunnels: number;
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

export async function runWebsocketBench(options: WebsocketOptions): Promise<WebsocketReport> {
  const progress = options.onProgress ?? (() => {});
  const echo = http.createServer((_req, res) => res.end());
  const wss = new WebSocketServer({ server: echo });
  wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const echoPort = (echo.address() as net.AddressInfo).port;
  const [port, adminPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ballast-ws-bench-'));
  const configFile = path.join(dir, 'ballast.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      admin: { host: '127.0.0.1', port: adminPort },
      strategy: 'least_connections',
      healthCheck: { enabled: false },
      servers: [{ host: '127.0.0.1', port: echoPort }],
      limits: { maxClientConnections: Math.max(10_000, options.tunnels * 2) },
      timeouts: { shutdownMs: 1_000 },
    }),
  );
  const children = new ChildSet();
  const open: WebSocket[] = [];
  try {
    const cli = ballastCli();
    const ballast = children.spawn('ballast', cli.command, [...cli.prefix, 'start', '--config', configFile], { BALLAST_LOG_FORMAT: 'json' });
    await ballast.waitFor(/ballast listening/, 15_000);
    const pid = ballast.process.pid!;
    const url = `ws://127.0.0.1:${port}/bench`;
    const warm = await openMany(url, WARM_UP_TUNNELS);
    await closeAll(warm);
    await sleep(SETTLE_MS);
    const rssBeforeKiB = rssKiB(pid);
    progress(`ballast bench --websocket: Ballast RSS ${rssBeforeKiB} KiB; opening ${options.tunnels} tunnels`);
    const started = performance.now();
    for (let i = 0; i < options.tunnels && options.signal?.aborted !== true; i += OPEN_BATCH) {
      open.push(...(await openMany(url, Math.min(OPEN_BATCH, options.tunnels - i))));
    }
    const openSeconds = (performance.now() - started) / 1000;
    if (options.signal?.aborted === true) throw new Error('interrupted');
    await sleep(SETTLE_MS);
    const rssOpenKiB = rssKiB(pid);
    const status = (await (await fetch(`http://127.0.0.1:${adminPort}/api/status`)).json()) as { inflight?: number };
    progress(`ballast bench --websocket: ${open.length} open, RSS ${rssOpenKiB} KiB; closing them`);
    await closeAll(open.splice(0));
    await sleep(SETTLE_MS);
    const rssAfterKiB = rssKiB(pid);
    return websocketReport({ tunnels: options.tunnels, rssBeforeKiB, rssOpenKiB, rssAfterKiB, inflightOpen: status.inflight ?? -1, openSeconds });
  } finally {
    for (const ws of open) ws.terminate();
    await children.stopAll();
    for (const c of wss.clients) c.terminate();
    wss.close();
    echo.closeAllConnections();
    await new Promise<void>((r) => echo.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}
