/**
 * The process that holds the idle client connections of `ballast bench --throughput`
 * (idle-clients.ts says what and why): opens them, says so, and keeps them until SIGTERM or
 * SIGINT. Its own file descriptor limit must allow them (the parent raises it: efficiency.ts).
 */
import { IDLE_READY_LINE, idleClientsOptions, openIdleClients } from './idle-clients.js';

async function main(): Promise<void> {
  const o = idleClientsOptions(process.argv[2] ?? '{}');
  // The handlers go in before the connections are opened: the parent may signal as soon as it
  // reads the ready line, and a SIGTERM that finds no handler kills with the default action.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  const sockets = await openIdleClients(o);
  process.stdout.write(`${IDLE_READY_LINE} ${sockets.length}\n`);
  await stopped;
  for (const s of sockets) s.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(`idle clients: ${(err as Error)?.message ?? String(err)}\n`);
  process.exitCode = 1;
});
