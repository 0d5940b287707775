/**
 * `ballast bench --throughput`: the flags that apply to the throughput benchmark
 * (src/bench/throughput.ts), the programs it needs, and its output. The flags of the scenario
 * benchmark that mean nothing here are refused rather than ignored, so a command line never
 * says something the run does not do.
 */
import os from 'node:os';
import { ChildError } from '../../bench/children.js';
import { findHaproxy, haproxyAt, type HaproxyBinary } from '../../bench/haproxy.js';
import { estimateThroughputSeconds, runThroughput, throughputTargets, type ThroughputTools } from '../../bench/throughput.js';
import { formatThroughput } from '../../bench/throughput-report.js';
import { tlsTargets } from '../../bench/tls.js';
import { findTool, installHint } from '../../bench/tools.js';
import { numberFlag, UsageError } from '../command.js';
import { abortOnSignal } from '../signals.js';

/** `ballast bench`'s parsed flags, as parseArgs returns them. */
export type BenchFlagValues = Record<string, string | boolean | string[] | undefined>;

/** Scenario-benchmark flags with no meaning without a scenario. */
const SCENARIO_ONLY = ['scenario', 'strategies', 'haproxy-modes', 'rate', 'arrivals', 'seed', 'servers', 'slots', 'set', 'chart', 'list'] as const;

export interface ThroughputFlags {
  durationS: number;
  warmupS: number;
  connections: number;
  rounds: number;
  /** Seconds of the CPU-per-request run at 250 req/s per balancer (0: skipped). */
  cpuSeconds: number;
  /** Idle client connections for the RSS figure (0: skipped). */
  idleClients: number;
  /** Find HAProxy (run without it, with a warning, if absent), use the one at a path (required), or run without. */
  haproxy: { kind: 'auto' } | { kind: 'off' } | { kind: 'at'; path: string };
  /** Also compare TLS termination (src/bench/tls.ts); --no-tls turns it off. */
  tls: boolean;
  json: boolean;
}

export const THROUGHPUT_DEFAULTS = { durationS: 5, warmupS: 1, connections: 50, rounds: 2, cpuSeconds: 10, idleClients: 10_000 } as const;

export function throughputFlags(values: BenchFlagValues): ThroughputFlags {
  for (const flag of SCENARIO_ONLY) {
    const v = values[flag];
    if (v !== undefined && v !== false) {
      throw new UsageError(`--${flag} is for the scenario benchmark; --throughput runs none (it takes --duration, --warmup, --connections, --repeat, --cpu-seconds, --idle-clients, --haproxy-bin, --no-haproxy, --no-tls and --json)`);
    }
  }
  const str = (name: string): string | undefined => values[name] as string | undefined;
  // wrk runs whole seconds.
  const durationS = numberFlag('duration', str('duration'), { min: 1, max: 3600, integer: true }) ?? THROUGHPUT_DEFAULTS.durationS;
  const warmupS = numberFlag('warmup', str('warmup'), { min: 0, max: 3600, integer: true }) ?? THROUGHPUT_DEFAULTS.warmupS;
  const connections = numberFlag('connections', str('connections'), { min: 1, max: 10_000, integer: true }) ?? THROUGHPUT_DEFAULTS.connections;
  const rounds = numberFlag('repeat', str('repeat'), { min: 1, max: 100, integer: true }) ?? THROUGHPUT_DEFAULTS.rounds;
  // The load tester reads whole seconds as `Ns`.
  const cpuSeconds = numberFlag('cpu-seconds', str('cpu-seconds'), { min: 0, max: 3600, integer: true }) ?? THROUGHPUT_DEFAULTS.cpuSeconds;
  // Four source addresses of ~28 000 ephemeral ports each bound it; past 50 000 the run would be a stress test of the machine.
  const idleClients = numberFlag('idle-clients', str('idle-clients'), { min: 0, max: 50_000, integer: true }) ?? THROUGHPUT_DEFAULTS.idleClients;
  const bin = str('haproxy-bin');
  if (values['no-haproxy'] === true && bin !== undefined) throw new UsageError('--haproxy-bin and --no-haproxy contradict each other');
  const haproxy: ThroughputFlags['haproxy'] = values['no-haproxy'] === true ? { kind: 'off' } : bin !== undefined ? { kind: 'at', path: bin } : { kind: 'auto' };
  return { durationS, warmupS, connections, rounds, cpuSeconds, idleClients, haproxy, tls: values['no-tls'] !== true, json: values.json === true };
}

/** The programs the run needs, or the names of those missing. */
export function throughputTools(find: (name: string) => string | null = findTool, tls = false): ThroughputTools | { missing: string[] } {
  // openssl makes the TLS comparison's certificate.
  if (tls && find('openssl') === null) {
    const rest = throughputTools(find, false);
    return { missing: ['missing' in rest ? rest.missing : [], 'openssl'].flat() };
  }
  const names = ['wrk', 'nginx', 'taskset'] as const;
  const found = names.map((n) => find(n));
  const missing = names.filter((_, i) => found[i] === null);
  if (missing.length > 0) return { missing };
  return { wrk: found[0]!, nginx: found[1]!, taskset: found[2]! };
}

export async function runThroughputCommand(values: BenchFlagValues): Promise<number> {
  const flags = throughputFlags(values);
  const tools = throughputTools(findTool, flags.tls);
  if ('missing' in tools) {
    const tlsNote = tools.missing.includes('openssl') ? ' (openssl only for the TLS comparison: --no-tls skips it)' : '';
    process.stderr.write(`ballast bench --throughput needs ${tools.missing.join(', ')}: ${tools.missing.map((t) => `${t} (${installHint(t)})`).join(', ')}${tlsNote}\n`);
    return 1;
  }
  if (os.availableParallelism() < 2) {
    process.stderr.write('ballast bench --throughput needs two CPUs: one for the balancer under test, one for wrk and nginx\n');
    return 1;
  }
  let haproxy: HaproxyBinary | null = null;
  if (flags.haproxy.kind === 'at') {
    haproxy = haproxyAt(flags.haproxy.path);
    if (haproxy === null) {
      process.stderr.write(`ballast bench: no haproxy runs at ${flags.haproxy.path}\n`);
      return 1;
    }
  } else if (flags.haproxy.kind === 'auto') {
    haproxy = findHaproxy();
    if (haproxy === null) process.stderr.write(`ballast bench: haproxy not found: running nginx and Ballast only; install it (${installHint('haproxy')}) to compare, or pass --no-haproxy to silence this\n`);
  }

  const options = { ...flags, haproxy, tools };
  const seconds = estimateThroughputSeconds(options, throughputTargets(haproxy !== null).length, flags.tls ? tlsTargets(haproxy !== null).length : 0);
  process.stderr.write(`ballast bench --throughput: about ${seconds} s of wrk runs, plus start-up. Ctrl-C stops.\n`);
  try {
    const report = await abortOnSignal(
      () => process.stderr.write('ballast bench: stopping (children are being stopped; Ctrl-C again to quit at once)\n'),
      (signal) => runThroughput(options, { signal, onProgress: (line) => process.stderr.write(`  ${line}\n`) }).catch((err: unknown) => {
        if (signal.aborted) return null;
        throw err;
      }),
    );
    if (report === null) {
      process.stderr.write('ballast bench: interrupted; no figures\n');
      return 130;
    }
    process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatThroughput(report));
    return 0;
  } catch (err) {
    // A process that would not start or a wrk that failed (their output is in the message); children are stopped.
    if (err instanceof ChildError) {
      process.stderr.write(`ballast bench: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
