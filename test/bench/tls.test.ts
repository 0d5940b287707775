/**
 * The TLS comparison of `ballast bench --throughput` (src/bench/tls.ts) without running it:
 * --no-tls, the tools it needs (openssl), wrk's arguments for each load, the ratios, the
 * report's table, and the configs both balancers get: Ballast's accepted with a certificate
 * made here, HAProxy's checked by `haproxy -c` with the same certificate (haproxy and openssl
 * are required: .ci/run installs them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatThroughput } from '../../src/bench/throughput-report.js';
import { estimateThroughputSeconds, throughputBallastConfig, throughputRatios, type ThroughputReport } from '../../src/bench/throughput.js';
import { formatTls, tlsBallastConfig, tlsLoadArgs, tlsRatios, tlsTargets, TLS_CERT, type TlsRow } from '../../src/bench/tls.js';
import { haproxyConfig, findHaproxy } from '../../src/bench/haproxy.js';
import { wrkArgs, type WrkResult } from '../../src/bench/wrk.js';
import { UsageError } from '../../src/cli/command.js';
import { benchCommand } from '../../src/cli/commands/bench.js';
import { throughputFlags, throughputTools } from '../../src/cli/commands/bench-throughput.js';
import { parseConfig } from '../../src/config/load.js';
import { loadListenerCerts } from '../../src/proxy/tls/certs.js';
import { certDir, selfSigned } from '../../src/proxy/tls/self-signed.js';

const w = (rps: number, p50: number, p99: number, errors = 0): WrkResult => ({ rps, p50, p99, requests: rps * 5, errors });

test('flags: TLS is compared by default, --no-tls skips it; --no-tls without --throughput is bad usage', async () => {
  assert.equal(throughputFlags({}).tls, true);
  assert.equal(throughputFlags({ 'no-tls': true }).tls, false);
  await assert.rejects(benchCommand.run(['--no-tls']), (err: Error) => err instanceof UsageError && /--no-tls is for --throughput/.test(err.message));
  assert.match(benchCommand.help, /^ {2}--no-tls\s/m);
});

test('tools: the TLS comparison needs openssl too, and says so with the others missing', () => {
  const all = (name: string): string => `/bin/${name}`;
  assert.deepEqual(throughputTools(all, true), { wrk: '/bin/wrk', nginx: '/bin/nginx', taskset: '/bin/taskset' });
  const noOpenssl = (name: string): string | null => (name === 'openssl' ? null : `/bin/${name}`);
  assert.deepEqual(throughputTools(noOpenssl, true), { missing: ['openssl'] });
  assert.deepEqual(throughputTools(noOpenssl, false), { wrk: '/bin/wrk', nginx: '/bin/nginx', taskset: '/bin/taskset' });
  assert.deepEqual(throughputTools((n) => (n === 'taskset' ? '/bin/taskset' : null), true), { missing: ['wrk', 'nginx', 'openssl'] });
});

test('wrk: the handshake load closes each connection after its response; keep-alive adds nothing', () => {
  assert.deepEqual(wrkArgs('https://127.0.0.1:1/', 50, 5, tlsLoadArgs('handshakes')), ['-t1', '-c50', '-d5s', '--latency', '-H', 'Connection: close', 'https://127.0.0.1:1/']);
  assert.deepEqual(tlsLoadArgs('keep-alive'), []);
});

test('targets and time: HAProxy only when installed; each TLS target runs both loads every round', () => {
  assert.deepEqual(tlsTargets(true), ['ballast-tls', 'haproxy-tls']);
  assert.deepEqual(tlsTargets(false), ['ballast-tls']);
  const o = { durationS: 5, warmupS: 1, rounds: 2, cpuSeconds: 0, idleClients: 0 };
  assert.equal(estimateThroughputSeconds(o, 5, 2) - estimateThroughputSeconds(o, 5), 2 * 2 * 2 * 6);
});

const ROWS: TlsRow[] = [
  { target: 'ballast-tls', load: 'handshakes', label: 'Ballast L7 TLS', rounds: [w(1500, 30, 60, 1), w(1600, 29, 55)], best: w(1600, 29, 55) },
  { target: 'haproxy-tls', load: 'handshakes', label: 'HAProxy HTTP TLS', rounds: [w(2500, 18, 30)], best: w(2500, 18, 30) },
  { target: 'ballast-tls', load: 'keep-alive', label: 'Ballast L7 TLS', rounds: [w(14000, 3.5, 7)], best: w(14000, 3.5, 7) },
  { target: 'haproxy-tls', load: 'keep-alive', label: 'HAProxy HTTP TLS', rounds: [w(25000, 1.9, 4)], best: w(25000, 1.9, 4) },
];

test('ratios: Ballast over HAProxy per load, best rounds; null without HAProxy', () => {
  assert.deepEqual(tlsRatios(ROWS), { handshakes: 1600 / 2500, keepAlive: 14000 / 25000 });
  assert.deepEqual(tlsRatios(ROWS.filter((r) => r.target === 'ballast-tls')), { handshakes: null, keepAlive: null });
});

test('report: the TLS table follows the plain one, with both ratios against the goals; absent with --no-tls', () => {
  const report: ThroughputReport = {
    durationS: 5,
    warmupS: 1,
    connections: 50,
    rounds: 2,
    singleS: 2,
    haproxy: { path: '/usr/sbin/haproxy', version: 'HAProxy version 2.6.12' },
    balancerCpus: '0',
    loadCpus: '1',
    rows: [],
    ratios: throughputRatios([]),
    cpu: null,
    idle: null,
    tls: { cert: TLS_CERT, rows: ROWS, ratios: tlsRatios(ROWS) },
    wallMs: 1,
  };
  const text = formatThroughput(report);
  const tail = text.slice(text.indexOf('TLS ('));
  assert.equal(
    tail,
    [
      'TLS (ECDSA P-256, self-signed, made for the run; TLS 1.3, ALPN http/1.1; wrk -c50):',
      '',
      '| target | load | req/s | p50 ms | p99 ms | errors (all runs) |',
      '|---|---|---|---|---|---|',
      '| Ballast L7 TLS | new connection per request | 1600 | 29.000 | 55.000 | 1 |',
      '| HAProxy HTTP TLS | new connection per request | 2500 | 18.000 | 30.000 | 0 |',
      '| Ballast L7 TLS | keep-alive | 14000 | 3.500 | 7.000 | 0 |',
      '| HAProxy HTTP TLS | keep-alive | 25000 | 1.900 | 4.000 | 0 |',
      '',
      'Ballast / HAProxy TLS handshakes/s: 0.64x   (goal >= 0.5x)',
      'Ballast / HAProxy TLS keep-alive:   0.56x   (goal >= 0.5x)',
      '',
    ].join('\n'),
  );
  assert.doesNotMatch(formatThroughput({ ...report, tls: null }), /TLS/);
  assert.equal(formatTls({ ...report.tls!, rows: ROWS.filter((r) => r.target === 'ballast-tls'), ratios: { handshakes: null, keepAlive: null } }, 50).some((l) => l.includes('/ HAProxy')), false);
});

test('configs: Ballast\'s TLS target loads the run\'s certificate; HAProxy\'s binds ssl with the same profile and passes haproxy -c', () => {
  const dir = certDir('ballast-bench-tls-');
  try {
    const cert = selfSigned(dir, 'bench');
    const config = parseConfig(tlsBallastConfig(throughputBallastConfig('http', [18001, 18002]), cert));
    assert.equal(config.listen.tls?.cert, cert.certFile);
    assert.equal(loadListenerCerts(config.listen.tls!).default.cert.fingerprint256, cert.fingerprint);

    const pem = path.join(dir, 'bench.pem');
    writeFileSync(pem, Buffer.concat([readFileSync(cert.certFile), readFileSync(cert.keyFile)]));
    const text = haproxyConfig({ mode: 'roundrobin', protocol: 'http', port: 18090, socket: path.join(dir, 'h.sock'), servers: [{ name: 's0', host: '127.0.0.1', port: 18001, weight: 1, disabled: false }], tlsCrt: pem });
    const lines = text.split('\n');
    assert.ok(lines.includes(`  bind 127.0.0.1:18090 ssl crt ${pem} alpn http/1.1`), text);
    assert.ok(lines.includes('  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256'), text);
    assert.ok(lines.some((l) => l.startsWith('  ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:')), text);
    assert.ok(lines.includes('  ssl-default-bind-options ssl-min-ver TLSv1.2'), text);
    assert.throws(() => haproxyConfig({ mode: 'roundrobin', protocol: 'tcp', port: 1, socket: 's', servers: [], tlsCrt: pem }), RangeError);

    const haproxy = findHaproxy();
    assert.ok(haproxy !== null, 'haproxy is not installed (.ci/run installs it)');
    const cfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(cfg, text);
    const r = spawnSync(haproxy.path, ['-c', '-f', cfg], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
