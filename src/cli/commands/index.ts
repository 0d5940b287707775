/**
 * Every subcommand, in the order `ballast --help` lists them, each module loaded only when that
 * command runs. Why: loading them all (etcd's gRPC client, the admin server, the simulator,
 * zod's schema...) cost 0.9 s of CPU at every start, 0.13 s for `ballast backend` alone; the
 * tests spawn backends by the dozen, and on a loaded machine that start-up time is what made
 * them miss their start deadlines.
 */
import type { Command } from '../command.js';

export interface CommandEntry {
  /** The command's name, as `Command.name` (test/docs checks they agree). */
  name: string;
  /** One line for `ballast --help`, here so listing the commands loads none of them. */
  summary: string;
  load(): Promise<Command>;
}

export const commandEntries: readonly CommandEntry[] = [
  {
    name: 'start',
    summary: 'run the load balancer from a config file',
    load: async () => (await import('./start.js')).startCommand,
  },
  {
    name: 'demo',
    summary: 'run three demo backends, the balancer and the dashboard on 127.0.0.1',
    load: async () => (await import('./demo.js')).demoCommand,
  },
  {
    name: 'backend',
    summary: 'run a demo backend (delays, worker slots, stalls, cache simulation)',
    load: async () => (await import('./backend.js')).backendCommand,
  },
  {
    name: 'loadtest',
    summary: 'load-test a URL: closed or open loop, latency percentiles, share per backend',
    load: async () => (await import('./loadtest.js')).loadtestCommand,
  },
  {
    name: 'stresstest',
    summary: 'ramp concurrency or rate until errors or p99 cross a threshold; report the knee',
    load: async () => (await import('./stresstest.js')).stresstestCommand,
  },
  {
    name: 'simulate',
    summary: 'compare the strategies on a simulated workload (virtual time, seeded)',
    load: async () => (await import('./simulate.js')).simulateCommand,
  },
  {
    name: 'bench',
    summary: 'benchmark the strategies live against HAProxy (real processes on 127.0.0.1)',
    load: async () => (await import('./bench.js')).benchCommand,
  },
  {
    name: 'fleet',
    summary: 'show the servers, strategy and instances of a fleet sharing etcd discovery',
    load: async () => (await import('./fleet.js')).fleetCommand,
  },
];

/** Every command loaded (the docs test reads each one's help). */
export function loadAllCommands(): Promise<Command[]> {
  return Promise.all(commandEntries.map((e) => e.load()));
}
