/**
 * A demo backend (src/backend/server.ts, the code `ballast backend` runs) started from JSON
 * options: `node backend-child.js '{"port":0,"name":"s0","serviceTime":{...},...}'`.
 *
 * Why not always `ballast backend --service ...`: the benchmark uses the CLI whenever the
 * CLI's parser accepts the service time, and this entry only when it does not (the parser of
 * `lognormal:MEDIAN:SIGMA` drops the sigma in the current tree), so a flag-parsing bug cannot
 * change the workload being measured. It prints the same "listening on" line as the CLI and
 * stops on SIGTERM or SIGINT.
 */
import { startBackend, type BackendOptions } from '../backend/server.js';
import { waitForShutdownSignal } from '../cli/signals.js';

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as Partial<BackendOptions>;
  const backend = await startBackend(options);
  process.stdout.write(`backend ${backend.name} listening on http://${backend.host}:${backend.port}\n`);
  await waitForShutdownSignal();
  await backend.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`backend: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
