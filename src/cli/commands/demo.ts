/**
 * `ballast demo` (= `npm start`): three demo backends as child processes, the balancer and the
 * admin dashboard, all on 127.0.0.1. Backends are separate processes so a demo can kill one
 * and watch failover.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../config/load.js';
import { STRATEGY_NAMES } from '../../config/schema.js';
import { runBallast } from '../../app/run.js';
import { UsageError, numberFlag, type Command } from '../command.js';
import { runFleetDemo } from './demo-fleet.js';
import { waitForShutdownSignal } from '../signals.js';
import { rmSync } from 'node:fs';
import { certDir, OpensslMissingError, selfSigned, type MadeCert } from '../../proxy/tls/self-signed.js';

const help = `Usage: ballast demo [flags]

Starts three demo backends (separate processes), the balancer and the admin dashboard, all on
127.0.0.1, and prints what to try. Ctrl-C stops everything.

Flags:
  --port N            balancer port (default 8080)
  --admin-port N      admin API and dashboard port (default 8090)
  --backend-port N    first backend port; backends use N, N+1, N+2 (default 8081)
  --backends N        number of backends (default 3)
  --strategy NAME     strategy at start (default round_robin; switch live from the dashboard)
  --cache-size N      cache simulation in each backend: N keys (default 200; 0 turns it off)
  --access-log        print one JSON access-log line per request on standard output
                      (logs on standard error are readable lines in a terminal, JSON
                      otherwise; BALLAST_LOG_FORMAT=json|pretty chooses)
  --tls               the balancer speaks HTTPS: a self-signed certificate for localhost and
                      127.0.0.1 is made at start (with the openssl command), its SHA-256
                      fingerprint printed, and removed at exit
  --fleet             a fleet instead: a local etcd (Debian's etcd-server) holding the servers
                      and the strategy (beta1), three balancers watching it on --port, +100 and
                      +200 (dashboards at +10), the backends; says how to install etcd if missing
  --etcd-port N       the fleet's etcd client port (default 12379; its peer port is N+1)
  --help              this text
`;

const cliMain = fileURLToPath(new URL('../main.js', import.meta.url));

function waitHealthy(port: number, deadlineMs: number): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false }, (res) => {
        res.resume();
        if (res.statusCode === 200) resolve();
        else retry();
      });
      req.on('error', retry);
    };
    const retry = (): void => {
      if (Date.now() - start > deadlineMs) reject(new Error(`backend on port ${port} did not start`));
      else setTimeout(attempt, 50);
    };
    attempt();
  });
}

export const demoCommand: Command = {
  name: 'demo',
  help,
  async run(args) {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        port: { type: 'string' },
        'admin-port': { type: 'string' },
        'backend-port': { type: 'string' },
        backends: { type: 'string' },
        strategy: { type: 'string' },
        'cache-size': { type: 'string' },
        fleet: { type: 'boolean' },
        'access-log': { type: 'boolean' },
        tls: { type: 'boolean' },
        'etcd-port': { type: 'string' },
      },
    });
    const port = numberFlag('port', values.port, { min: 0, max: 65535, integer: true }) ?? 8080;
    const adminPort = numberFlag('admin-port', values['admin-port'], { min: 0, max: 65535, integer: true }) ?? 8090;
    const firstBackend = numberFlag('backend-port', values['backend-port'], { min: 1, max: 65500, integer: true }) ?? 8081;
    const count = numberFlag('backends', values.backends, { min: 1, max: 16, integer: true }) ?? 3;
    const cacheSize = numberFlag('cache-size', values['cache-size'], { min: 0, integer: true }) ?? 200;
    const strategy = values.strategy ?? 'round_robin';
    if (!(STRATEGY_NAMES as readonly string[]).includes(strategy)) {
      throw new UsageError(`--strategy: expected one of ${STRATEGY_NAMES.join(', ')}`);
    }

    const ports = Array.from({ length: count }, (_, i) => firstBackend + i);
    if (values.fleet === true && values.tls === true) throw new UsageError('--tls is for the single-balancer demo, not --fleet');
    if (values.fleet === true) {
      const etcdPort = numberFlag('etcd-port', values['etcd-port'], { min: 1, max: 65534, integer: true }) ?? 12379;
      return runFleetDemo({ port, backendPorts: ports, cacheSize, etcdPort }, process.stdout);
    }
    const children: ChildProcess[] = [];
    const stopChildren = (): void => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    };
    process.once('exit', stopChildren);
    // Signals are ours from the first moment: unhandled, a SIGTERM during start-up would end
    // this process without its 'exit' event, leaving the backends running, and holding the
    // stderr they inherit, so a parent reading it (the dashboard test) waited for ever.
    const signalled = waitForShutdownSignal();
    for (const [i, p] of ports.entries()) {
      const child = spawn(
        process.execPath,
        [cliMain, 'backend', '--port', String(p), '--name', `backend-${i + 1}`, '--cache-size', String(cacheSize), '--miss-penalty-ms', '20'],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      children.push(child);
    }
    const healthy = Promise.all(ports.map((p) => waitHealthy(p, 10_000))).then(() => 'healthy' as const);
    try {
      if ((await Promise.race([healthy, signalled])) !== 'healthy') {
        healthy.catch(() => {}); // stopped anyway
        stopChildren();
        return 130;
      }
    } catch (err) {
      stopChildren();
      throw new UsageError(`${(err as Error).message} (is the port free?)`);
    }

    let cert: MadeCert | undefined;
    if (values.tls === true) {
      const dir = certDir('ballast-demo-tls-');
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      try {
        cert = selfSigned(dir, 'demo', 'localhost');
      } catch (err) {
        stopChildren();
        if (err instanceof OpensslMissingError) throw new UsageError(err.message);
        throw err;
      }
    }
    const config = parseConfig(
      {
        listen: { host: '127.0.0.1', port, ...(cert === undefined ? {} : { tls: { cert: cert.certFile, key: cert.keyFile } }) },
        strategy,
        servers: ports.map((p) => ({ host: '127.0.0.1', port: p })),
        healthCheck: { intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2 },
        admin: { host: '127.0.0.1', port: adminPort },
        accessLog: { enabled: values['access-log'] === true },
      },
      'demo',
    );
    const code = await runBallast(config, {
      stopSignal: signalled,
      onReady: (ballast, admin) => {
        const lines = [
          '',
          'Ballast demo is running:',
          `  balancer   ${ballast.url}  (strategy ${ballast.active.name})`,
          ...(cert === undefined
            ? []
            : [`  TLS        self-signed certificate ${cert.certFile}`, `             SHA-256 fingerprint ${cert.fingerprint}`]),
          ...ports.map((p, i) => `  backend-${i + 1}  http://127.0.0.1:${p}`),
          admin ? `  dashboard  ${admin.url}/` : '',
          '',
          'Try:',
          cert === undefined ? `  curl -i ${ballast.url}/` : `  curl -i --cacert ${cert.certFile} ${ballast.url}/`,
          admin ? `  curl -s -X POST ${admin.url}/api/strategy -H 'Content-Type: application/json' -d '{"strategy":"least_connections"}'` : '',
          `  curl "http://127.0.0.1:${ports[0]}/control?set_delay_ms=300"   # make backend-1 slow`,
          cert === undefined ? `  ./bin/ballast loadtest --url ${ballast.url}/ --rate 200 --duration 10 --keys 1000 --zipf 1.1` : '',
          '',
          'Ctrl-C stops everything.',
          '',
        ];
        process.stdout.write(lines.filter((l, i, a) => l !== '' || a[i - 1] !== '').join('\n'));
      },
    }).finally(stopChildren);
    return code;
  },
};
