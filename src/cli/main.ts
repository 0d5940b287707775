/**
 * `ballast`: the command line. Dispatches to one module per subcommand.
 */
import { ConfigError } from '../config/error.js';
import { UsageError } from './command.js';
import { commandEntries, type CommandEntry } from './commands/index.js';
import { logFormat } from '../util/log.js';

function topHelp(list: readonly CommandEntry[]): string {
  const width = Math.max(...list.map((c) => c.name.length));
  return [
    'ballast: an HTTP/1.1 and TCP load balancer with seven balancing strategies',
    '',
    'Usage: ballast <command> [flags]',
    '',
    'Commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run "ballast <command> --help" for the flags of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topHelp(commandEntries) + '\n');
    return name === undefined ? 2 : 0;
  }
  const entry = commandEntries.find((c) => c.name === name);
  if (entry === undefined) {
    process.stderr.write(`ballast: unknown command "${name}"\n\n${topHelp(commandEntries)}\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help.trimEnd() + '\n');
    return 0;
  }
  try {
    logFormat(); // a bad BALLAST_LOG_FORMAT is reported here, before anything starts
  } catch (err) {
    process.stderr.write(`ballast ${name}: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ballast ${name}: ${err.message}\nRun "ballast ${name} --help" for usage.\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`ballast ${name}: ${err.message}\n`);
      return 2;
    }
    // Node's parseArgs throws TypeErrors with codes for unknown or malformed flags.
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`ballast ${name}: ${(err as Error).message}\nRun "ballast ${name} --help" for usage.\n`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Long-running commands (start, demo, backend) resolve only when they are done.
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`ballast: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
