/**
 * `ballast demo --fleet`: a fleet on one machine. A local etcd (Debian's etcd-server) holds the
 * servers and the strategy under one prefix; three balancers watch it; three demo backends
 * serve. Every instance maps a key to the same backend, and a change written to etcd reaches
 * all three within a second. Everything listens on 127.0.0.1; Ctrl-C stops it all.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ChildSet, ballastCli } from '../../bench/children.js';
import { ETCD_INSTALL_HINT, etcdBinary, startLocalEtcd } from '../../discovery/local-etcd.js';

export interface FleetDemoOptions {
  /** The first balancer's port; the others follow at +100 and +200 (admin ports at +10). */
  port: number;
  backendPorts: number[];
  cacheSize: number;
  etcdPort: number;
}

export const FLEET_PREFIX = '/ballast/demo';

/** Runs the fleet demo until SIGINT/SIGTERM; returns the exit code. */
export async function runFleetDemo(o: FleetDemoOptions, out: NodeJS.WritableStream): Promise<number> {
  if (etcdBinary() === null) {
    out.write(`ballast demo --fleet needs etcd. ${ETCD_INSTALL_HINT}, then run it again.\n`);
    return 1;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'ballast-fleet-'));
  const children = new ChildSet();
  const etcd = await startLocalEtcd({ clientPort: o.etcdPort, peerPort: o.etcdPort + 1, dataDir: path.join(dir, 'etcd') });
  // Loaded here, not with the CLI: the etcd client costs every other command ~26 MB of RSS.
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    for (const [i, p] of o.backendPorts.entries()) {
      const cli = ballastCli();
      const child = children.spawn(`backend-${i + 1}`, cli.command, [...cli.prefix, 'backend', '--port', String(p), '--name', `backend-${i + 1}`, '--cache-size', String(o.cacheSize), '--miss-penalty-ms', '20']);
      await child.waitListening('127.0.0.1', p, 10_000);
      await client.put(`${FLEET_PREFIX}/servers/127.0.0.1:${p}`).value(JSON.stringify({ host: '127.0.0.1', port: p, name: `backend-${i + 1}` }));
    }
    await client.put(`${FLEET_PREFIX}/strategy`).value(JSON.stringify({ name: 'beta1', options: { warmupMs: 10_000 } }));
    const instances = [0, 1, 2].map((i) => ({ port: o.port + 100 * i, admin: o.port + 100 * i + 10, id: `demo-${i + 1}` }));
    for (const inst of instances) {
      const file = path.join(dir, `${inst.id}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          listen: { host: '127.0.0.1', port: inst.port },
          admin: { host: '127.0.0.1', port: inst.admin },
          healthCheck: { intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2 },
          discovery: { etcd: { endpoints: [etcd.endpoint], prefix: FLEET_PREFIX, instanceId: inst.id } },
        }),
      );
      const cli = ballastCli();
      const child = children.spawn(inst.id, cli.command, [...cli.prefix, 'start', '--config', file]);
      await child.waitListening('127.0.0.1', inst.port, 15_000);
    }
    const key = 'user-42';
    out.write(
      [
        '',
        'Ballast fleet demo is running:',
        `  etcd       ${etcd.endpoint}  (prefix ${FLEET_PREFIX})`,
        ...instances.map((inst) => `  ${inst.id}     http://127.0.0.1:${inst.port}  (dashboard http://127.0.0.1:${inst.admin}/)`),
        ...o.backendPorts.map((p, i) => `  backend-${i + 1}  http://127.0.0.1:${p}`),
        '',
        'Try:',
        `  for p in ${instances.map((i) => i.port).join(' ')}; do curl -s -o /dev/null -D - -H 'X-Key: ${key}' http://127.0.0.1:$p/ | grep -i x-backend; done   # the same backend from all three`,
        `  ./bin/ballast fleet --etcd ${etcd.endpoint} --prefix ${FLEET_PREFIX}   # the instances and the view each runs`,
        `  etcdctl --endpoints ${etcd.endpoint} put ${FLEET_PREFIX}/servers/127.0.0.1:8084 '{"host":"127.0.0.1","port":8084}'   # (Debian: etcd-client) a server joins every instance`,
        '',
        'Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    return 0;
  } finally {
    client.close();
    await children.stopAll();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
