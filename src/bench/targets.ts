/**
 * The processes of one benchmark run: the demo backends of a live plan, and the balancer under
 * test in front of them (Ballast with one strategy, or HAProxy in one mode). Each is a child
 * process on 127.0.0.1, so the balancer pays for its own event loop or threads as in
 * production, and nothing is shared between runs (fresh caches, fresh strategy state).
 * `spawnBallast` and `spawnHaproxy` start either balancer from a finished config, ready when
 * they return; the throughput benchmark (throughput.ts) uses them in front of nginx.
 *
 * Ports: backends and Ballast listen on port 0 and print the port they got; HAProxy cannot,
 * so its port is picked by binding port 0 here first (a race with other programs is possible
 * but unlikely, and fails loudly as "was not ready").
 */
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { mergeScenario } from '../sim/scenario.js';
import { formatServiceTime, parseServiceTime } from '../backend/service-time.js';
import { ChildError, ChildSet, ballastCli, nodeModule, pinned, withFdLimit, type Child, type Pinning } from './children.js';
import { BACKEND_NAME, haproxyCommand, haproxyConfig, parseShowStat, serverStatuses, type HaproxyBinary, type HaproxyConfigOptions, type HaproxyMode } from './haproxy.js';
import type { LiveBackendOptions, LivePlan, LiveServer } from './live-scenario.js';
import { ballastCounters } from './prometheus.js';

export const HOST = '127.0.0.1';
/** Time a process gets to say it listens (node start-up on a busy 2-core machine can be slow). */
const READY_TIMEOUT_MS = 20_000;
/** Health checks of both balancers: the same interval, fall and rise. */
export const CHECK = { intervalMs: 1_000, timeoutMs: 500, fall: 2, rise: 2 } as const;

/**
 * CPU time (user + system) a process has used, in ms, from /proc (Linux); null elsewhere or
 * once it has exited. /proc counts in USER_HZ ticks, 100 per second on Linux.
 */
export function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return null;
  }
}

/** Extra attempts a balancer made, cumulative since it started. */
export interface ExtraCounters {
  hedges: number;
  retries: number;
  failovers: number;
}

export interface Balancer {
  /** Where the load goes. */
  readonly url: string;
  /** The balancer's process id, for its CPU time. */
  readonly pid: number | undefined;
  counters(): Promise<ExtraCounters>;
  /** Adds servers that join the pool (already listening). */
  join(servers: LiveServer[]): Promise<void>;
  /** Takes servers out of the pool; their in-flight requests finish (the processes keep running). */
  leave(servers: LiveServer[]): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The demo backends of a plan, one process each; die and revive act on one of them. */
export class BackendFleet {
  readonly ports: number[] = [];
  private readonly children: Child[] = [];

  private constructor(
    private readonly plan: LivePlan,
    private readonly set: ChildSet,
  ) {}

  static async start(plan: LivePlan, set: ChildSet): Promise<BackendFleet> {
    const fleet = new BackendFleet(plan, set);
    await Promise.all(plan.servers.map((s) => fleet.spawn(s, 0)));
    return fleet;
  }

  /** SIGKILL: requests in flight are reset, new connections refused. */
  async die(index: number): Promise<void> {
    await this.children[index]?.stop('SIGKILL');
  }

  /**
   * The whole server stops for `ms` (SIGSTOP, then SIGCONT): accepted connections wait in the
   * kernel, timers fire late, as in a long GC pause or CPU steal.
   */
  pause(index: number, ms: number): void {
    const c = this.children[index];
    if (c === undefined || !c.running) return;
    c.signal('SIGSTOP');
    setTimeout(() => c.signal('SIGCONT'), ms);
  }

  /** A fresh process on the same port: the same server back, with a cold cache. */
  async revive(index: number): Promise<void> {
    const c = this.children[index];
    if (c !== undefined && c.running) return;
    await this.spawn(this.plan.servers[index]!, this.ports[index]!);
  }

  private async spawn(s: LiveServer, port: number): Promise<void> {
    const args = backendCliArgs(s.backend);
    let child: Child;
    if (args !== null) {
      const cli = ballastCli();
      child = this.set.spawn(`backend ${s.name}`, cli.command, [...cli.prefix, 'backend', '--host', HOST, '--port', String(port), ...args]);
    } else {
      const entry = nodeModule('./backend-child');
      child = this.set.spawn(`backend ${s.name}`, entry.command, [...entry.prefix, JSON.stringify({ ...s.backend, host: HOST, port })]);
    }
    this.children[s.index] = child;
    const m = await child.waitFor(/listening on http:\/\/[^:]+:(\d+)/, READY_TIMEOUT_MS);
    this.ports[s.index] = Number(m[1]);
  }
}

/**
 * `ballast backend` flags for these options, or null when the CLI's parser would not read the
 * service time back exactly (then backend-child.ts starts the same server from JSON).
 */
export function backendCliArgs(o: LiveBackendOptions): string[] | null {
  const service = formatServiceTime(o.serviceTime);
  try {
    if (JSON.stringify(parseServiceTime(service)) !== JSON.stringify(o.serviceTime)) return null;
  } catch {
    return null;
  }
  const args = ['--name', o.name, '--service', service, '--workers', String(o.workers)];
  if (o.stallProbability > 0) args.push('--stall-prob', String(o.stallProbability), '--stall-ms', String(o.stallMs));
  if (o.cacheSize > 0) args.push('--cache-size', String(o.cacheSize), '--miss-penalty-ms', String(o.missPenaltyMs), '--cache-key-header', o.cacheKeyHeader);
  if (o.loadReports !== 'off') args.push('--orca', o.loadReports);
  args.push('--seed', String(o.seed));
  return args;
}

export interface BallastTargetOptions {
  strategy: string;
  seed: number;
  plan: LivePlan;
  fleet: BackendFleet;
  dir: string;
  set: ChildSet;
}

function ballastConfig(o: BallastTargetOptions, servers: LiveServer[]): Record<string, unknown> {
  const base = {
    listen: { host: HOST, port: 0 },
    strategy: o.strategy,
    seed: o.seed,
    servers: servers.map((s) => ({ host: HOST, port: o.fleet.ports[s.index]!, weight: s.weight, name: s.name })),
    healthCheck: { intervalMs: CHECK.intervalMs, timeoutMs: CHECK.timeoutMs, fall: CHECK.fall, rise: CHECK.rise },
    admin: { host: HOST, port: 0 },
  };
  // The scenario's own Ballast settings (alpha1, beta1, retries ...), as the simulator applies them.
  return mergeScenario(base, o.plan.scenario.config) as Record<string, unknown>;
}

export interface BallastLaunch {
  set: ChildSet;
  /** For messages: "ballast (beta1)". */
  name: string;
  /** Where the config is written. */
  file: string;
  /** A config that listens on port 0; with the admin API (also on port 0) unless admin.enabled is false. */
  config: Record<string, unknown>;
  pin?: Pinning | null;
  /** Raise its open-files limit to this first (idle-client runs need one per connection). */
  fdLimit?: number;
}

export interface BallastProcess {
  child: Child;
  port: number;
  /** http://127.0.0.1:PORT of the admin API, or null when it is disabled. */
  adminUrl: string | null;
}

/** `ballast start --config FILE`; resolves once it listens (after its first health checks) and its admin API too. */
export async function spawnBallast(o: BallastLaunch): Promise<BallastProcess> {
  writeFileSync(o.file, JSON.stringify(o.config, null, 2));
  const cli = pinned(o.fdLimit === undefined ? ballastCli() : withFdLimit(ballastCli(), o.fdLimit), o.pin ?? null);
  // Info level for the lines that say where it listens; nothing is logged per request.
  const child = o.set.spawn(o.name, cli.command, [...cli.prefix, 'start', '--config', o.file], { BALLAST_LOG_LEVEL: 'info' });
  const listening = await child.waitFor(/"listen":"[^"]*:(\d+)".*ballast listening|ballast listening.*"listen":"[^"]*:(\d+)"/, READY_TIMEOUT_MS);
  const port = Number(listening[1] ?? listening[2]);
  const adminEnabled = (o.config.admin as { enabled?: boolean } | undefined)?.enabled !== false;
  const adminUrl = adminEnabled ? (await child.waitFor(/admin API and dashboard on (http:\/\/[0-9.]+:\d+)/, READY_TIMEOUT_MS))[1]! : null;
  return { child, port, adminUrl };
}

/** `ballast start --config FILE` with the strategy; reads /metrics for hedges and retries. */
export async function startBallast(o: BallastTargetOptions): Promise<Balancer> {
  const file = path.join(o.dir, `ballast-${o.strategy}.json`);
  let members = o.plan.servers.filter((s) => s.initial);
  const { child, port, adminUrl } = await spawnBallast({ set: o.set, name: `ballast (${o.strategy})`, file, config: ballastConfig(o, members) });
  return {
    url: `http://${HOST}:${port}/`,
    pid: child.process.pid,
    async counters() {
      if (adminUrl === null) throw new ChildError('ballast runs without its admin API (the scenario disables it): no /metrics to read');
      const res = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
      if (!res.ok) throw new ChildError(`ballast /metrics answered ${res.status}`);
      const c = ballastCounters(await res.text());
      return { hedges: c.hedgesSent, retries: c.retries, failovers: c.failovers };
    },
    async join(servers) {
      // A config reload, as an operator adds servers: pool.add, checked before traffic, warm-up.
      members = [...members, ...servers];
      writeFileSync(file, JSON.stringify(ballastConfig(o, members), null, 2));
      const reloaded = child.waitFor(/config reloaded|reload refused/, 10_000, true);
      child.signal('SIGHUP');
      const m = await reloaded;
      if (m[0] === 'reload refused') throw new ChildError(`ballast refused the reload that adds ${servers.map((s) => s.name).join(', ')}:\n${child.output()}`);
    },
    async leave(servers) {
      // A config reload without them, as an operator scales in: removed from the pool, their
      // in-flight requests finish on the connections they hold.
      members = members.filter((m) => !servers.some((s) => s.index === m.index));
      writeFileSync(file, JSON.stringify(ballastConfig(o, members), null, 2));
      const reloaded = child.waitFor(/config reloaded|reload refused/, 10_000, true);
      child.signal('SIGHUP');
      const m = await reloaded;
      if (m[0] === 'reload refused') throw new ChildError(`ballast refused the reload that removes ${servers.map((s) => s.name).join(', ')}:\n${child.output()}`);
    },
  };
}

export interface HaproxyTargetOptions {
  binary: HaproxyBinary;
  mode: HaproxyMode;
  plan: LivePlan;
  fleet: BackendFleet;
  dir: string;
  set: ChildSet;
}

export interface HaproxyLaunch {
  binary: HaproxyBinary;
  set: ChildSet;
  dir: string;
  /** Names the config and socket files in `dir` (haproxy-TAG.cfg) and the child in messages. */
  tag: string;
  /** The config but its port and socket, which this picks. */
  config: Omit<HaproxyConfigOptions, 'port' | 'socket'>;
  pin?: Pinning | null;
  /** Raise its open-files limit to this first (HAProxy then raises it further itself if it may). */
  fdLimit?: number;
}

export interface HaproxyProcess {
  child: Child;
  port: number;
  /** The runtime API socket. */
  socket: string;
}

/**
 * HAProxy from a config; resolves when its runtime API answers and every server not declared
 * disabled is UP (as Ballast, which listens only after its first health checks).
 */
export async function spawnHaproxy(o: HaproxyLaunch): Promise<HaproxyProcess> {
  const port = await freePort();
  const socket = path.join(o.dir, `haproxy-${o.tag}.sock`);
  const cfgFile = path.join(o.dir, `haproxy-${o.tag}.cfg`);
  writeFileSync(cfgFile, haproxyConfig({ ...o.config, port, socket }));
  const binary = { command: o.binary.path, prefix: [] };
  const run = pinned(o.fdLimit === undefined ? binary : withFdLimit(binary, o.fdLimit), o.pin ?? null);
  const child = o.set.spawn(`haproxy (${o.tag})`, run.command, [...run.prefix, '-db', '-f', cfgFile]);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const initial = o.config.servers.filter((s) => !s.disabled).map((s) => s.name);
  for (;;) {
    if (!child.running) throw new ChildError(`haproxy exited before it was ready; its last output:\n${child.output()}`);
    try {
      const statuses = serverStatuses(await haproxyCommand(socket, 'show stat', 1_000));
      if (initial.every((name) => /^UP/.test(statuses.get(name) ?? ''))) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new ChildError(`haproxy was not ready within ${READY_TIMEOUT_MS} ms; its last output:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port, socket };
}

/** HAProxy in one mode; joining servers are declared disabled and enabled through the runtime API. */
export async function startHaproxy(o: HaproxyTargetOptions): Promise<Balancer> {
  const { child, port, socket } = await spawnHaproxy({
    binary: o.binary,
    set: o.set,
    dir: o.dir,
    tag: o.mode,
    config: {
      mode: o.mode,
      servers: o.plan.servers.map((s) => ({ name: s.name, host: HOST, port: o.fleet.ports[s.index]!, weight: s.weight, disabled: !s.initial })),
      checkIntervalMs: CHECK.intervalMs,
      fall: CHECK.fall,
      rise: CHECK.rise,
    },
  });
  return {
    url: `http://${HOST}:${port}/`,
    pid: child.process.pid,
    async counters() {
      const c = parseShowStat(await haproxyCommand(socket, 'show stat'));
      return { hedges: 0, retries: c.retries, failovers: c.redispatches };
    },
    async join(servers) {
      for (const s of servers) {
        // UP at once. Ballast, given the server by a reload, sends it traffic after its first
        // passing check, which starts at once: a few milliseconds later, so the two match.
        // (`set server ... health down` would make HAProxy wait for `rise` checks, ~1.5 s.)
        const answer = await haproxyCommand(socket, `enable server ${BACKEND_NAME}/${s.name}`);
        if (answer.trim() !== '') throw new ChildError(`haproxy: enable server ${s.name}: ${answer.trim()}`);
      }
    },
    async leave(servers) {
      for (const s of servers) {
        // Maintenance: no new requests; established ones finish (no `shutdown sessions`).
        const answer = await haproxyCommand(socket, `disable server ${BACKEND_NAME}/${s.name}`);
        if (answer.trim() !== '') throw new ChildError(`haproxy: disable server ${s.name}: ${answer.trim()}`);
      }
    },
  };
}
