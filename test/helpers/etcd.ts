/**
 * A real etcd v3 server on loopback for one test file (src/discovery/local-etcd.ts): its own
 * free client and peer ports and temp data dir, removed after the file's tests. `kill()` and
 * `restart()` (same ports, same data) let a test take the store away and bring it back.
 *
 * etcd is never optional: a missing binary fails the test, in CI and outside it, so the
 * discovery tests cannot be skipped without anyone noticing (.ci/run installs etcd-server).
 */
import { etcdBinary, startLocalEtcd } from '../../src/discovery/local-etcd.js';
import { cleanups } from './lifecycle.js';
import { freePortBlock } from './servers.js';

export interface TestEtcd {
  /** The client URL, http://127.0.0.1:PORT. */
  endpoint: string;
  /** SIGTERM (SIGKILL after 3 s), wait for the exit, remove the data dir. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash or a lost machine would; the data dir stays for restart(). */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data dir; resolves once it answers. */
  restart(): Promise<void>;
  /** The etcd process id, for a test that freezes it (SIGSTOP); null while killed. */
  pid(): number | null;
}

/** Starts etcd and waits (at most 10 s) until it answers /health. Stopped after the file's tests. */
export async function startEtcd(): Promise<TestEtcd> {
  if (etcdBinary() === null) {
    const why = process.env.CI === 'true' ? 'CI=true but etcd is not installed (.ci/run installs etcd-server)' : 'etcd is not installed';
    throw new Error(`${why}: the discovery tests need a real etcd; run \`apt-get install etcd-server\` (Debian/Ubuntu)`);
  }
  // Ports outside the ephemeral range: restart() binds them again after a kill, by which time
  // an ephemeral port could belong to someone else's connection.
  const clientPort = await freePortBlock(2);
  const e = await startLocalEtcd({ clientPort, peerPort: clientPort + 1 });
  cleanups.push(() => e.dispose());
  return { endpoint: e.endpoint, stop: () => e.dispose(), kill: () => e.kill(), restart: () => e.restart(), pid: () => e.pid() };
}
