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
  load(): Promise<Command>;
}

export const commandEntries: readonly CommandEntry[] = [
  { name: 'start', load: async () => (await import('./start.js')).startCommand },
  { name: 'demo', load: async () => (await import('./demo.js')).demoCommand },
  { name: 'backend', load: async () => (await import('./backend.js')).backendCommand },
  { name: 'loadtest', load: async () => (await import('./loadtest.js')).loadtestCommand },
  { name: 'stresstest', load: async () => (await import('./stresstest.js')).stresstestCommand },
  { name: 'simulate', load: async () => (await import('./simulate.js')).simulateCommand },
  { name: 'bench', load: async () => (await import('./bench.js')).benchCommand },
  { name: 'fleet', load: async () => (await import('./fleet.js')).fleetCommand },
];

/** Every command loaded: for the top-level help, which shows each one's summary. */
export function loadAllCommands(): Promise<Command[]> {
  return Promise.all(commandEntries.map((e) => e.load()));
}
