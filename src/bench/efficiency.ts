/**
 * The efficiency part of `ballast bench --throughput`, on the balancers the throughput rounds
 * ran (the same processes, so Ballast and HAProxy are measured in one run, side by side):
 *
 * - CPU per request at a low fixed rate: `ballast loadtest` sends an open loop of 250 req/s
 *   (constant gaps, keep-alive) through each balancer, and the balancer's CPU time over the
 *   run (every thread, from /proc/PID/task/TID/schedstat: nanoseconds, whatever else the
 *   machine runs) is divided by the requests sent. At a low rate nothing is batched: each
 *   request pays its own wake-ups, timers and syscalls, which closed-loop req/s hides.
 * - Memory of idle clients: a child (idle-clients.ts) opens N keep-alive client connections
 *   through the balancer, one request each, and leaves them idle; the balancer's RSS is read
 *   before and with them open.
 *
 * CPU time is a load-independent measure on a shared machine in a way wall-clock req/s is
 * not (a busy neighbour slows the run but barely changes the CPU a request costs), which is
 * why the CPU goal is stated this way.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { ballastCli, ChildError, nodeModule, pinned, withFdLimit, type ChildSet, type Pinning } from './children.js';
import { IDLE_READY } from './idle-clients.js';
import type { ThroughputTarget } from './throughput.js';

/** The open loop's rate, requests per second. */
export const EFFICIENCY_RATE = 250;
/** Issue 14's goals: Ballast's CPU per request at most twice HAProxy's; N idle clients within this RSS in all. */
export const EFFICIENCY_GOALS = { cpuRatio: 2, idleRssMb: 150, idleConnections: 10_000 } as const;
/** Local addresses the idle clients connect from, in turn (each has its own ephemeral ports). */
export const IDLE_SOURCES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
/** File descriptors beyond one per idle connection: listeners, backends, the runtime. */
export const FD_MARGIN = 256;

export interface CpuRow {
  target: ThroughputTarget;
  /** Requests the load tester started in the measured window. */
  requests: number;
  failed: number;
  /** The balancer's CPU time over the window, every thread, ms. */
  cpuMs: number;
  cpuUsPerRequest: number;
}

export interface CpuReport {
  rate: number;
  seconds: number;
  rows: CpuRow[];
  /** Ballast's CPU per request over HAProxy's (L7: HTTP mode, L4: TCP mode); null without both. */
  ratios: { l7: number | null; l4: number | null };
}

export interface IdleRow {
  target: ThroughputTarget;
  connections: number;
  /** RSS before the idle clients connect (after the throughput runs), MB. */
  restRssMb: number;
  /** RSS with every idle client connected, MB. */
  idleRssMb: number;
  /** (idle - rest) / connections, KB. */
  perConnectionKb: number;
}

export interface IdleReport {
  /** Idle clients opened through Ballast (HAProxy's row may have fewer: haproxyIdleClients). */
  connections: number;
  rows: IdleRow[];
  /** Ballast's KB per idle connection over HAProxy's; null without both. */
  ratio: number | null;
}

/** CPU time in ns of the first schedstat field ("on CPU" time). */
export function parseSchedstat(text: string): number {
  const ns = Number(text.trim().split(/\s+/)[0]);
  if (!Number.isFinite(ns)) throw new RangeError(`not a schedstat line: ${JSON.stringify(text)}`);
  return ns;
}

/**
 * CPU time of every thread of `pid` so far, ns (Linux /proc). A thread that ended between two
 * readings takes its time with it; Node's and HAProxy's threads live as long as the process.
 */
export function processCpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += parseSchedstat(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8'));
    } catch {
      // The thread ended while we read.
    }
  }
  return total;
}

/** VmRSS of a /proc/PID/status text, KB. */
export function parseRssKb(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (m === null) throw new RangeError('no VmRSS line in /proc status');
  return Number(m[1]);
}

export function rssKb(pid: number): number {
  return parseRssKb(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** CPU per request and the ratios, from the measured rows. */
export function cpuReport(rate: number, seconds: number, rows: CpuRow[]): CpuReport {
  const per = (t: ThroughputTarget): number | undefined => rows.find((r) => r.target === t)?.cpuUsPerRequest;
  const ratio = (a: ThroughputTarget, b: ThroughputTarget): number | null => {
    const x = per(a);
    const y = per(b);
    return x === undefined || y === undefined || y === 0 ? null : x / y;
  };
  return { rate, seconds, rows, ratios: { l7: ratio('ballast-l7', 'haproxy-http'), l4: ratio('ballast-l4', 'haproxy-tcp') } };
}

export function cpuRow(target: ThroughputTarget, requests: number, failed: number, cpuNs: number): CpuRow {
  return { target, requests, failed, cpuMs: cpuNs / 1e6, cpuUsPerRequest: requests > 0 ? cpuNs / 1e3 / requests : 0 };
}

export function idleRow(target: ThroughputTarget, connections: number, restKb: number, idleKb: number): IdleRow {
  return { target, connections, restRssMb: restKb / 1024, idleRssMb: idleKb / 1024, perConnectionKb: connections > 0 ? (idleKb - restKb) / connections : 0 };
}

export function idleReport(connections: number, rows: IdleRow[]): IdleReport {
  const b = rows.find((r) => r.target === 'ballast-l7');
  const h = rows.find((r) => r.target === 'haproxy-http');
  return { connections, rows, ratio: b === undefined || h === undefined || h.perConnectionKb <= 0 ? null : b.perConnectionKb / h.perConnectionKb };
}

/**
 * Idle clients HAProxy is given: HAProxy sizes its descriptors for two per connection
 * (client and server side) and refuses to start when `maxconn` needs more than the hard
 * open-files limit allows, so it may get fewer than Ballast (which needs one per idle client);
 * the comparison is then per connection.
 */
export function haproxyIdleClients(wanted: number, hardLimit: number): number {
  return Math.max(0, Math.min(wanted, Math.floor(hardLimit / 2) - 2 * FD_MARGIN));
}

export interface OpenLoopRun {
  url: string;
  rate: number;
  seconds: number;
  pin: Pinning;
  signal?: AbortSignal;
}

/** `ballast loadtest` at a fixed open-loop rate; resolves with the requests sent and failed. */
export function runOpenLoop(o: OpenLoopRun): Promise<{ sent: number; failed: number }> {
  const cli = pinned(ballastCli(), o.pin);
  const args = [...cli.prefix, 'loadtest', '--url', o.url, '--rate', String(o.rate), '--arrivals', 'constant', '-d', `${o.seconds}s`, '--timeout', '5s', '--json'];
  return new Promise((resolve, reject) => {
    execFile(
      cli.command,
      args,
      { encoding: 'utf8', timeout: (o.seconds + 30) * 1_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, ...(o.signal === undefined ? {} : { signal: o.signal }) },
      (err, stdout, stderr) => {
        if (err !== null) return reject(o.signal?.aborted ? err : new ChildError(`ballast loadtest ${o.url} failed (${err.message.split('\n')[0]}):\n${stderr}`));
        try {
          const r = JSON.parse(stdout) as { sent: number; failed: { total: number } };
          resolve({ sent: r.sent, failed: r.failed.total });
        } catch {
          reject(new ChildError(`ballast loadtest printed no JSON:\n${stdout}${stderr}`));
        }
      },
    );
  });
}

/** The balancer's CPU per request over `seconds` of the open loop, after a second of it unmeasured. */
export async function measureCpu(target: ThroughputTarget, pid: number, o: OpenLoopRun): Promise<CpuRow> {
  await runOpenLoop({ ...o, seconds: 1 });
  const before = processCpuNs(pid);
  const r = await runOpenLoop(o);
  return cpuRow(target, r.sent, r.failed, processCpuNs(pid) - before);
}

export interface IdleRun {
  set: ChildSet;
  host: string;
  port: number;
  connections: number;
  pin: Pinning;
  timeoutMs?: number;
}

/** The balancer's RSS before and with `connections` idle keep-alive clients; they are closed after. */
export async function measureIdle(target: ThroughputTarget, pid: number, o: IdleRun): Promise<IdleRow> {
  const rest = rssKb(pid);
  const run = pinned(withFdLimit(nodeModule('./idle-clients-child'), o.connections + FD_MARGIN), o.pin);
  const child = o.set.spawn(`idle clients (${target})`, run.command, [
    ...run.prefix,
    JSON.stringify({ host: o.host, port: o.port, connections: o.connections, sources: IDLE_SOURCES, timeoutMs: o.timeoutMs ?? 120_000 }),
  ]);
  try {
    const m = await child.waitFor(IDLE_READY, (o.timeoutMs ?? 120_000) + 10_000);
    if (Number(m[1]) !== o.connections) throw new ChildError(`idle clients: ${m[1]} of ${o.connections} open`);
    // Let the balancer settle (a GC after the burst of accepts) before reading.
    await new Promise((r) => setTimeout(r, 1_000));
    return idleRow(target, o.connections, rest, rssKb(pid));
  } finally {
    await child.stop();
  }
}
