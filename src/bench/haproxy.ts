/**
 * HAProxy as the benchmark's peer: finding the binary, writing its config, and talking to its
 * runtime API (a Unix socket: `show stat` for retries, `enable server` for joins).
 *
 * The config is the one a careful operator would write for this job: one thread (Ballast is
 * one event loop too), keep-alive to the backends with `http-reuse always`, the same health
 * checks as Ballast's (GET /health every second, fall 2, rise 2), connect failures retried and
 * redispatched, every timeout set, listening on 127.0.0.1 only. Balancing modes:
 *
 *   roundrobin  `balance roundrobin`
 *   leastconn   `balance leastconn`
 *   random      `balance random(2)`: power of two choices (the HAProxy 2.x default draw count)
 *   hash        `balance hdr(X-Key)`, `hash-type consistent`, `hash-balance-factor 125`:
 *               consistent hashing with bounded loads (Mirrokni et al.), HAProxy's cache-affinity
 *               mode; for keyed scenarios only
 *
 * The throughput benchmark also runs it in TCP mode (`mode tcp`, the peer of Ballast's L4
 * relay): the same config without what only HTTP mode has (connection reuse, HTTP timeouts,
 * retries on an empty response). Its health checks stay HTTP GET /health; the benchmark's
 * Ballast in TCP mode is given the same.
 */
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { toolCandidates } from './tools.js';
import { CIPHERS } from '../proxy/tls/certs.js';

/** Ballast's cipher list split as HAProxy takes it: TLS 1.3 suites apart from TLS 1.2 ciphers. */
const TLS13_SUITES = CIPHERS.split(':').filter((c) => c.startsWith('TLS_')).join(':');
const TLS12_CIPHERS = CIPHERS.split(':').filter((c) => !c.startsWith('TLS_')).join(':');

export const HAPROXY_MODES = ['roundrobin', 'leastconn', 'random', 'hash'] as const;
export type HaproxyMode = (typeof HAPROXY_MODES)[number];

/** The modes run by default: the hash mode only where requests carry keys. */
export function defaultHaproxyModes(keyed: boolean): HaproxyMode[] {
  return keyed ? ['roundrobin', 'leastconn', 'random', 'hash'] : ['roundrobin', 'leastconn', 'random'];
}

export interface HaproxyBinary {
  path: string;
  /** First line of `haproxy -v`, e.g. "HAProxy version 2.6.12-1+deb12u4 2026/10/17 ...". */
  version: string;
}

/** The HAProxy at `path` with its version, or null when it is not one that runs. */
export function haproxyAt(path: string): HaproxyBinary | null {
  try {
    const out = execFileSync(path, ['-v'], { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'pipe'] });
    return { path, version: out.split('\n')[0]!.trim() };
  } catch {
    return null;
  }
}

/** The first HAProxy that runs, on PATH or in the sbin directories Debian installs it to; null when absent. */
export function findHaproxy(env: NodeJS.ProcessEnv = process.env): HaproxyBinary | null {
  for (const p of toolCandidates('haproxy', env)) {
    const found = haproxyAt(p);
    if (found !== null) return found;
  }
  return null;
}

export interface HaproxyServer {
  name: string;
  host: string;
  port: number;
  weight: number;
  /** Declared in maintenance (a server that joins later, through `enable server`). */
  disabled: boolean;
}

export interface HaproxyConfigOptions {
  mode: HaproxyMode;
  /** HAProxy's own `mode`: http (default) or tcp. The hash mode needs http (it reads a header). */
  protocol?: 'http' | 'tcp';
  /** Frontend port on 127.0.0.1. */
  port: number;
  /** Runtime API socket path. */
  socket: string;
  servers: HaproxyServer[];
  /** Header carrying the request key (hash mode). Default X-Key. */
  keyHeader?: string;
  /** Health checks: interval, fall and rise, as Ballast's. */
  checkIntervalMs?: number;
  fall?: number;
  rise?: number;
  /** Connections at once (global maxconn); default 4096. */
  maxconn?: number;
  /** Terminate TLS with this PEM (certificate then key): `bind ... ssl crt`, with Ballast's TLS profile (tls.ts). */
  tlsCrt?: string;
}

function balanceLines(mode: HaproxyMode, keyHeader: string): string[] {
  switch (mode) {
    case 'roundrobin':
      return ['balance roundrobin'];
    case 'leastconn':
      return ['balance leastconn'];
    case 'random':
      return ['balance random(2)'];
    case 'hash':
      return [`balance hdr(${keyHeader})`, 'hash-type consistent', 'hash-balance-factor 125'];
  }
}

/** The backend section name; `show stat` rows are looked up by it. */
export const BACKEND_NAME = 'be';

/** haproxy.cfg text for one run. */
export function haproxyConfig(o: HaproxyConfigOptions): string {
  const keyHeader = o.keyHeader ?? 'X-Key';
  if (!/^[A-Za-z0-9-]+$/.test(keyHeader)) throw new RangeError(`key header "${keyHeader}": letters, digits and dashes only`);
  const tcp = o.protocol === 'tcp';
  if (tcp && o.mode === 'hash') throw new RangeError('the hash mode reads a header: it needs protocol http');
  if (tcp && o.tlsCrt !== undefined) throw new RangeError('TLS termination is compared in http mode only');
  const inter = Math.max(100, Math.round(o.checkIntervalMs ?? 1_000));
  const fall = o.fall ?? 2;
  const rise = o.rise ?? 2;
  const httpOnly = (...lines: string[]): string[] => (tcp ? [] : lines);
  const lines = [
    '# Generated by `ballast bench`: HAProxy as the peer of Ballast, in front of the same backends.',
    'global',
    '  nbthread 1',
    `  maxconn ${o.maxconn ?? 4096}`,
    `  stats socket ${o.socket} mode 600 level admin`,
    // The same protocol profile as Ballast's listen.tls (src/proxy/tls/certs.ts).
    ...(o.tlsCrt === undefined ? [] : [`  ssl-default-bind-ciphers ${TLS12_CIPHERS}`, `  ssl-default-bind-ciphersuites ${TLS13_SUITES}`, '  ssl-default-bind-options ssl-min-ver TLSv1.2']),
    '',
    'defaults',
    `  mode ${tcp ? 'tcp' : 'http'}`,
    ...httpOnly('  option http-keep-alive', '  http-reuse always'),
    '  retries 3',
    '  option redispatch',
    ...httpOnly('  retry-on conn-failure empty-response'),
    '  timeout connect 3s',
    '  timeout client 30s',
    '  timeout server 30s',
    ...httpOnly('  timeout http-request 10s', '  timeout http-keep-alive 60s'),
    '  timeout queue 5s',
    '  timeout check 1s',
    '',
    'frontend fe',
    `  bind 127.0.0.1:${o.port}${o.tlsCrt === undefined ? '' : ` ssl crt ${o.tlsCrt} alpn http/1.1`}`,
    `  default_backend ${BACKEND_NAME}`,
    '',
    `backend ${BACKEND_NAME}`,
    ...balanceLines(o.mode, keyHeader).map((l) => `  ${l}`),
    '  option httpchk GET /health',
    '  http-check expect status 200',
    `  default-server inter ${inter}ms fall ${fall} rise ${rise}`,
    ...o.servers.map((s) => {
      if (!/^[A-Za-z0-9_.-]+$/.test(s.name)) throw new RangeError(`server name "${s.name}": letters, digits, _ . - only`);
      return `  server ${s.name} ${s.host}:${s.port} weight ${s.weight} check${s.disabled ? ' disabled' : ''}`;
    }),
    '',
  ];
  return lines.join('\n');
}

/** One runtime API command over the stats socket; resolves with the whole answer. */
export function haproxyCommand(socket: string, command: string, timeoutMs = 3_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let out = '';
    const timer = setTimeout(() => conn.destroy(new Error(`haproxy runtime API: no answer to "${command}" within ${timeoutMs} ms`)), timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.end(`${command}\n`));
    conn.on('data', (d: string) => (out += d));
    conn.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    conn.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

export interface HaproxyCounters {
  /** Connection retries (`wretr`) and redispatches to another server (`wredis`) of the backend. */
  retries: number;
  redispatches: number;
}

/** `show stat` CSV as rows of named fields (the header line names the columns). */
function statRows(csv: string): Array<Record<string, string>> {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const head = lines.find((l) => l.startsWith('# '));
  if (head === undefined) throw new Error('haproxy show stat: no header line');
  const cols = head.slice(2).split(',');
  return lines
    .filter((l) => !l.startsWith('#'))
    .map((l) => {
      const f = l.split(',');
      return Object.fromEntries(cols.map((c, i) => [c, f[i] ?? '']));
    });
}

/** The backend's retry counters from `show stat` CSV. */
export function parseShowStat(csv: string, backend = BACKEND_NAME): HaproxyCounters {
  const row = statRows(csv).find((r) => r.pxname === backend && r.svname === 'BACKEND');
  if (row === undefined) throw new Error(`haproxy show stat: no BACKEND row for ${backend}`);
  return { retries: Number(row.wretr) || 0, redispatches: Number(row.wredis) || 0 };
}

/** Each server's status (UP, DOWN, MAINT ...) from `show stat` CSV. */
export function serverStatuses(csv: string, backend = BACKEND_NAME): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of statRows(csv)) if (r.pxname === backend && r.svname !== 'BACKEND' && r.svname !== undefined) out.set(r.svname, r.status ?? '');
  return out;
}
