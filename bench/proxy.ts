/**
 * `npm run bench:proxy`: how fast is Ballast's data plane next to HAProxy, on this machine.
 *
 * Setup (the foundation issue's): two nginx backends (one worker each, `return 200` of ~100
 * bytes); wrk drives, in turn, nginx directly, Ballast L7, Ballast L4, HAProxy in HTTP mode
 * (`nbthread 1`, `http-reuse always`) and HAProxy in TCP mode. Each balancer is pinned alone
 * to core 0 (taskset), wrk and nginx share core 1. Two rounds, the order alternating, then the
 * best of each is reported with ratios Ballast/HAProxy, and the median added at one
 * connection. Everything listens on 127.0.0.1 and every run stops by itself.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ballast-bench-'));
const children: ChildProcess[] = [];

function need(tool: string): void {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`bench:proxy needs ${tool} (Debian: apt-get install -y ${tool === 'taskset' ? 'util-linux' : tool})`);
    process.exit(2);
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitPort(port: number, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - start > timeoutMs) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function start(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const BODY = 'x'.repeat(100);

async function startNginx(port: number, name: string): Promise<void> {
  const prefix = join(dir, name);
  spawnSync('mkdir', ['-p', prefix]);
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
worker_processes 1;
master_process off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:${port};
    location / { default_type text/plain; return 200 "${BODY}"; }
  }
}
`,
  );
  start('taskset', ['-c', '1', 'nginx', '-c', conf, '-p', prefix]);
  await waitPort(port);
}

async function startBallast(mode: 'http' | 'tcp', port: number, backends: number[]): Promise<ChildProcess> {
  const cfg = join(dir, `ballast-${mode}.json`);
  writeFileSync(
    cfg,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      mode,
      strategy: 'round_robin',
      servers: backends.map((p) => ({ host: '127.0.0.1', port: p })),
      admin: { enabled: false },
      healthCheck: { intervalMs: 2000, timeoutMs: 1000 },
    }),
  );
  const child = spawn('taskset', ['-c', '0', process.execPath, cli, 'start', '--config', cfg], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, BALLAST_LOG_LEVEL: 'warn' },
  });
  children.push(child);
  await waitPort(port);
  return child;
}

async function startHaproxy(mode: 'http' | 'tcp', port: number, backends: number[]): Promise<ChildProcess> {
  const cfg = join(dir, `haproxy-${mode}.cfg`);
  writeFileSync(
    cfg,
    `global
  nbthread 1
  maxconn 4000
defaults
  mode ${mode}
  timeout connect 3s
  timeout client 60s
  timeout server 60s
  ${mode === 'http' ? 'option http-keep-alive\n  http-reuse always' : ''}
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  balance roundrobin
${backends.map((p, i) => `  server s${i} 127.0.0.1:${p}`).join('\n')}
`,
  );
  const child = start('taskset', ['-c', '0', 'haproxy', '-f', cfg, '-db']);
  await waitPort(port);
  return child;
}

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function ms(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (m === null) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

function wrk(port: number, connections: number, seconds: number): WrkResult {
  const r = spawnSync('taskset', ['-c', '1', 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`], {
    encoding: 'utf8',
  });
  const out = r.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = ms(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = ms(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const errs = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(errs?.[1] ?? 0) + (sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0);
  return { rps, p50, p99, errors };
}

type Target = 'nginx' | 'ballast-l7' | 'ballast-l4' | 'haproxy-http' | 'haproxy-tcp';

async function main(): Promise<void> {
  for (const tool of ['taskset', 'wrk', 'nginx', 'haproxy']) need(tool);
  const backends = [await freePort(), await freePort()];
  await startNginx(backends[0]!, 'n1');
  await startNginx(backends[1]!, 'n2');
  const ports: Record<Target, number> = {
    nginx: backends[0]!,
    'ballast-l7': await freePort(),
    'ballast-l4': await freePort(),
    'haproxy-http': await freePort(),
    'haproxy-tcp': await freePort(),
  };
  const procs = new Map<Target, ChildProcess>();
  procs.set('ballast-l7', await startBallast('http', ports['ballast-l7'], backends));
  procs.set('ballast-l4', await startBallast('tcp', ports['ballast-l4'], backends));
  procs.set('haproxy-http', await startHaproxy('http', ports['haproxy-http'], backends));
  procs.set('haproxy-tcp', await startHaproxy('tcp', ports['haproxy-tcp'], backends));

  const targets: Target[] = ['nginx', 'ballast-l7', 'haproxy-http', 'ballast-l4', 'haproxy-tcp'];
  const best = new Map<Target, WrkResult>();
  const single = new Map<Target, WrkResult>();
  console.log(`bench:proxy: wrk -c${CONNECTIONS} ${DURATION_S}s per run, 2 rounds, order alternating; balancers on core 0, wrk+nginx on core 1`);
  for (let round = 0; round < 2; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      wrk(ports[t], CONNECTIONS, 1); // warm-up: connections, JIT
      const r = wrk(ports[t], CONNECTIONS, DURATION_S);
      console.log(`  round ${round + 1} ${t.padEnd(13)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  errors ${r.errors}`);
      const prev = best.get(t);
      if (prev === undefined || r.rps > prev.rps) best.set(t, r);
    }
  }
  for (const t of targets) single.set(t, wrk(ports[t], 1, Math.max(2, Math.floor(DURATION_S / 2))));

  const row = (t: Target) => {
    const b = best.get(t)!;
    const s = single.get(t)!;
    return `| ${t} | ${b.rps.toFixed(0)} | ${b.p50.toFixed(3)} | ${b.p99.toFixed(3)} | ${s.p50.toFixed(3)} | ${b.errors} |`;
  };
  console.log('');
  console.log(`| target | req/s (c=${CONNECTIONS}) | p50 ms | p99 ms | p50 ms at c=1 | errors |`);
  console.log('|---|---|---|---|---|---|');
  for (const t of targets) console.log(row(t));
  const l7 = best.get('ballast-l7')!.rps / best.get('haproxy-http')!.rps;
  const l4 = best.get('ballast-l4')!.rps / best.get('haproxy-tcp')!.rps;
  const added = single.get('ballast-l7')!.p50 - single.get('nginx')!.p50;
  console.log('');
  console.log(`Ballast L7 / HAProxy HTTP: ${l7.toFixed(2)}x   (target >= 0.5x)`);
  console.log(`Ballast L4 / HAProxy TCP:  ${l4.toFixed(2)}x   (target >= 0.8x)`);
  console.log(`Median added by Ballast L7 at one connection: ${added.toFixed(3)} ms   (target <= 0.25 ms)`);
  for (const p of procs.values()) await stop(p);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
