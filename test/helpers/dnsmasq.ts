/**
 * A real DNS server for the discovery tests: Debian's dnsmasq on 127.0.0.1 at a free port (UDP
 * and TCP), serving only the records the test gives it, nothing forwarded.
 *
 * dnsmasq reads command-line records once, at start (SIGHUP re-reads files, not flags), so
 * `restart(records)` stops it and starts it again on the same port. Every query it receives is
 * logged (--log-queries on stderr) and kept in `queries`, across restarts, so tests can count
 * reads and see when they came.
 *
 * Flags: --keep-in-foreground (no fork, so the child we spawn is the server; --no-daemon would
 * also be debug mode), --port, --listen-address=127.0.0.1 with --bind-interfaces (bind only
 * there, not the wildcard), --no-resolv / --no-hosts / --conf-file=/dev/null (no upstream, no
 * /etc/hosts, no system config), --pid-file in a temporary folder (not /var/run's), --local=/ZONE/
 * (names in the zone that it does not know are NXDOMAIN rather than REFUSED), --local-ttl (the
 * TTL of every configured record, SRV and A/AAAA alike), --srv-host, --host-record, --cname.
 *
 * A missing dnsmasq fails the test, under CI and outside it: the SRV tests never skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import dnsPacket from 'dns-packet';

export interface SrvHost {
  /** The SRV owner name, e.g. _http._tcp.api.test */
  name: string;
  /** Omitted: a record with target "." (service not available). */
  target?: string;
  port?: number;
  priority?: number;
  weight?: number;
}

export interface DnsRecords {
  srv: SrvHost[];
  /** A/AAAA records: one name, its addresses (IPv4 and/or IPv6). */
  hosts?: Array<{ name: string; addresses: string[] }>;
  /** CNAME records (alias -> target). */
  cnames?: Array<{ alias: string; target: string }>;
  /** TTL of every record, seconds (default 0). */
  ttl?: number;
  /** The zone served locally (default 'test'): unknown names in it are NXDOMAIN. */
  zone?: string;
}

export interface Dnsmasq {
  port: number;
  /** '127.0.0.1:PORT', for discovery.dnsSrv.resolver. */
  resolver: string;
  /** Queries received, across restarts: when (Date.now()), type and name. */
  queries: Array<{ at: number; type: string; name: string }>;
  /** Starts again on the same port with new records (stopping it first if it runs). */
  restart(records: DnsRecords): Promise<void>;
  /** Stops the server: the port then refuses queries until restart(); idempotent. */
  stop(): Promise<void>;
}

/** The name the readiness probe asks for; left out of `queries`. */
const PROBE_NAME = 'ready.probe.invalid';

export function dnsmasqBinary(): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const candidate = path.join(dir, 'dnsmasq');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  throw new Error('dnsmasq is not installed (apt-get install dnsmasq): the DNS SRV discovery tests need a real DNS server and fail rather than skip');
}

export function dnsmasqArgs(port: number, pidFile: string, records: DnsRecords): string[] {
  const args = [
    '--keep-in-foreground',
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    '--conf-file=/dev/null',
    `--pid-file=${pidFile}`,
    '--log-facility=-',
    '--log-queries',
    `--local=/${records.zone ?? 'test'}/`,
    `--local-ttl=${records.ttl ?? 0}`,
  ];
  for (const s of records.srv) {
    args.push(s.target === undefined ? `--srv-host=${s.name}` : `--srv-host=${s.name},${s.target},${s.port ?? 80},${s.priority ?? 0},${s.weight ?? 0}`);
  }
  // One --host-record per address: each takes at most one IPv4 and one IPv6.
  for (const h of records.hosts ?? []) for (const a of h.addresses) args.push(`--host-record=${h.name},${a}`);
  for (const c of records.cnames ?? []) args.push(`--cname=${c.alias},${c.target}`);
  return args;
}

export async function startDnsmasq(records: DnsRecords): Promise<Dnsmasq> {
  const binary = dnsmasqBinary();
  const queries: Dnsmasq['queries'] = [];
  let child: ChildProcess | null = null;

  const launch = async (port: number, recs: DnsRecords): Promise<void> => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ballast-dnsmasq-'));
    const proc = spawn(binary, dnsmasqArgs(port, path.join(dir, 'pid'), recs), { stdio: ['ignore', 'ignore', 'pipe'] });
    let spawnFailed = false;
    let stderr = '';
    proc.on('error', (err) => {
      spawnFailed = true;
      stderr += err.message;
    });
    let pending = '';
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const m = /query\[(\w+)\] (\S+) from/.exec(line);
        if (m !== null && m[2] !== PROBE_NAME) queries.push({ at: Date.now(), type: m[1]!, name: m[2]! });
      }
    });
    const exited = new Promise<void>((r) => proc.once('close', () => r()));
    void exited.then(() => rmSync(dir, { recursive: true, force: true }));
    const ready = await probe(port, 5_000, () => !spawnFailed && proc.exitCode === null && proc.signalCode === null);
    if (!ready) {
      proc.kill('SIGKILL');
      if (!spawnFailed) await exited;
      throw new Error(`dnsmasq did not start on 127.0.0.1:${port}: ${stderr.trim() || 'no answer within 5 s'}`);
    }
    child = proc;
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const kill = setTimeout(() => proc.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(kill);
  };

  // A free UDP port can still be taken for TCP, or by someone else before dnsmasq binds it: try a few.
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freeUdpPort();
    try {
      await launch(port, records);
      break;
    } catch (err) {
      if (attempt === 5) throw err;
    }
  }

  return {
    port,
    resolver: `127.0.0.1:${port}`,
    queries,
    async restart(recs) {
      await stop();
      await launch(port, recs);
    },
    stop,
  };
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Asks 127.0.0.1:port every 20 ms until any answer comes (true), or `ms` pass or `alive()` turns false (false). */
async function probe(port: number, ms: number, alive: () => boolean): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  socket.on('error', () => {}); // nothing listens until dnsmasq has bound: keep asking
  const query = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: PROBE_NAME }] });
  const answered = await new Promise<boolean>((resolve) => {
    const finish = (ok: boolean) => {
      clearInterval(ask);
      clearTimeout(give);
      resolve(ok);
    };
    const ask = setInterval(() => (alive() ? socket.send(query, port, '127.0.0.1') : finish(false)), 20);
    const give = setTimeout(() => finish(false), ms);
    socket.once('message', () => finish(true));
  });
  socket.close();
  return answered;
}
