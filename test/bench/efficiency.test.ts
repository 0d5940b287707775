/**
 * The efficiency part of `ballast bench --throughput` (src/bench/efficiency.ts,
 * idle-clients.ts) without the benchmark: /proc parsing, the rows and ratios, the report's
 * lines, the open-files wrapper, and the idle-clients child against a real server on
 * 127.0.0.1 (a few connections: the 10 000 of the real run are the benchmark's, not a test's).
 * No timing is asserted.
 */
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type net from 'node:net';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildSet, nodeModule, withFdLimit } from '../../src/bench/children.js';
import {
  EFFICIENCY_GOALS,
  cpuReport,
  cpuRow,
  haproxyIdleClients,
  idleReport,
  idleRow,
  parseRssKb,
  parseSchedstat,
  processCpuNs,
  rssKb,
} from '../../src/bench/efficiency.js';
import { IDLE_READY, IDLE_REQUEST, idleClientsOptions, openIdleClients, responseComplete } from '../../src/bench/idle-clients.js';
import { formatThroughput } from '../../src/bench/throughput-report.js';
import type { ThroughputReport } from '../../src/bench/throughput.js';

test('schedstat and status parsing: the first field in ns, VmRSS in kB; anything else is an error', () => {
  assert.equal(parseSchedstat('123456789 2000 17\n'), 123456789);
  assert.throws(() => parseSchedstat('garbage'), RangeError);
  assert.equal(parseRssKb('Name:\tnode\nVmPeak:\t  200 kB\nVmRSS:\t   51234 kB\nRssAnon: 1 kB\n'), 51234);
  assert.throws(() => parseRssKb('Name:\tnode\n'), /VmRSS/);
});

test('this process: CPU of every thread grows with work, RSS is positive', () => {
  const before = processCpuNs(process.pid);
  let x = 0;
  for (let i = 0; i < 5e6; i++) x += Math.sqrt(i);
  assert.ok(x > 0);
  assert.ok(processCpuNs(process.pid) > before, 'CPU time went up');
  assert.ok(rssKb(process.pid) > 1000);
});

test('CPU rows and ratios: µs per request from ns and requests; Ballast over HAProxy per data plane, null without a peer', () => {
  const rows = [cpuRow('ballast-l7', 2500, 0, 250e6), cpuRow('haproxy-http', 2500, 0, 125e6), cpuRow('ballast-l4', 2000, 1, 100e6)];
  assert.deepEqual(rows[0], { target: 'ballast-l7', requests: 2500, failed: 0, cpuMs: 250, cpuUsPerRequest: 100 });
  const r = cpuReport(250, 10, rows);
  assert.equal(r.ratios.l7, 2);
  assert.equal(r.ratios.l4, null, 'no HAProxy TCP row');
  assert.equal(cpuRow('ballast-l7', 0, 0, 5e6).cpuUsPerRequest, 0, 'no requests: no division by zero');
});

test('idle rows: MB at rest and with the clients, KB per connection; the ratio is Ballast L7 over HAProxy HTTP per connection', () => {
  const b = idleRow('ballast-l7', 10_000, 100 * 1024, 140 * 1024);
  assert.deepEqual(b, { target: 'ballast-l7', connections: 10_000, restRssMb: 100, idleRssMb: 140, perConnectionKb: 4.096 });
  const h = idleRow('haproxy-http', 5_000, 16 * 1024, 26 * 1024);
  assert.equal(h.perConnectionKb, 2.048);
  assert.equal(idleReport(10_000, [b, h]).ratio, 2);
  assert.equal(idleReport(10_000, [b]).ratio, null);
});

test('HAProxy gets as many idle clients as two descriptors each under the hard limit allow, at most as many as Ballast', () => {
  assert.equal(haproxyIdleClients(10_000, 20_000), 9_488);
  assert.equal(haproxyIdleClients(10_000, 1_048_576), 10_000);
  assert.equal(haproxyIdleClients(10_000, Infinity), 10_000);
  assert.equal(haproxyIdleClients(10_000, 1_000), 0);
});

test('report: the CPU and idle tables, the goals beside Ballast\'s figures', () => {
  const cpu = cpuReport(250, 10, [cpuRow('ballast-l7', 2500, 0, 250e6), cpuRow('haproxy-http', 2500, 0, 200e6)]);
  const idle = idleReport(10_000, [idleRow('ballast-l7', 10_000, 100 * 1024, 140 * 1024), idleRow('haproxy-http', 10_000, 16 * 1024, 56 * 1024)]);
  const base: ThroughputReport = {
    durationS: 5,
    warmupS: 1,
    connections: 50,
    rounds: 2,
    singleS: 2,
    haproxy: { path: '/usr/sbin/haproxy', version: 'HAProxy version 2.6.12' },
    balancerCpus: '0',
    loadCpus: '1',
    rows: [],
    ratios: { l7: null, l4: null, addedMedianMs: { ballastL7: null, haproxyHttp: null } },
    cpu,
    idle,
    tls: null,
    wallMs: 1,
  };
  const lines = formatThroughput(base).split('\n');
  for (const l of [
    '| Ballast L7 | 2500 | 0 | 250.0 | 100.0 |',
    '| HAProxy HTTP | 2500 | 0 | 200.0 | 80.0 |',
    `CPU per request, Ballast L7 / HAProxy HTTP: 1.25x   (goal <= ${EFFICIENCY_GOALS.cpuRatio}x)`,
    '| Ballast L7 | 10000 | 100.0 | 140.0 | 4.10 |',
    '| HAProxy HTTP | 10000 | 16.0 | 56.0 | 4.10 |',
    `Ballast L7 RSS with 10000 idle clients: 140.0 MB   (goal <= ${EFFICIENCY_GOALS.idleRssMb} MB)`,
    'KB per idle connection, Ballast L7 / HAProxy HTTP: 1.00x',
  ]) {
    assert.ok(lines.includes(l), `missing line: ${l}\n${lines.join('\n')}`);
  }
  assert.ok(!lines.some((l) => l.includes('Ballast L4 / HAProxy TCP:  ') && l.startsWith('CPU')), 'no L4 CPU ratio without its rows');
  const fewer = formatThroughput({ ...base, cpu: null, idle: idleReport(500, [idleRow('ballast-l7', 500, 1024, 2048)]) });
  assert.match(fewer, /^Ballast L7 RSS with 500 idle clients: 2\.0 MB$/m, 'the goal is for 10 000 connections only');
  assert.doesNotMatch(fewer, /CPU per request/);
});

test('the open-files wrapper raises the soft limit, and refuses clearly past the hard limit', () => {
  const run = withFdLimit({ command: '/bin/sh', prefix: ['-c', 'ulimit -n'] }, 256);
  const ok = spawnSync(run.command, run.prefix, { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), '256');
  const hard = spawnSync('/bin/sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
  if (hard !== 'unlimited') {
    const over = withFdLimit({ command: '/bin/true', prefix: [] }, Number(hard) + 1);
    const r = spawnSync(over.command, over.prefix, { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`cannot raise the open-files limit to ${Number(hard) + 1} \\(hard limit ${hard}\\)`));
  }
});

test('idle clients: options checked with clear errors; a response is complete once its Content-Length body is in', () => {
  assert.deepEqual(idleClientsOptions('{"host":"127.0.0.1","port":80,"connections":3}'), {
    host: '127.0.0.1',
    port: 80,
    connections: 3,
    sources: ['127.0.0.1'],
    batch: 200,
    timeoutMs: 120_000,
  });
  assert.throws(() => idleClientsOptions('{"port":80,"connections":3}'), /host is required/);
  assert.throws(() => idleClientsOptions('{"host":"h","port":0,"connections":3}'), /port must be/);
  assert.throws(() => idleClientsOptions('{"host":"h","port":1,"connections":0}'), /connections must be/);
  assert.throws(() => idleClientsOptions('{"host":"h","port":1,"connections":1,"sources":["::1"]}'), /IPv4/);
  assert.equal(responseComplete('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab'), false);
  assert.equal(responseComplete('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc'), true);
  assert.equal(responseComplete('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n'), false, 'head not complete');
  assert.equal(responseComplete('HTTP/1.1 204 No Content\r\n\r\n'), true);
});

/** A server counting connections and requests; answers 200 with a small body. */
async function countingServer(): Promise<{ port: number; connections: () => number; requests: () => number; close: () => Promise<void> }> {
  let connections = 0;
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    assert.equal(`${req.method} ${req.url} HTTP/${req.httpVersion}`, IDLE_REQUEST.split('\r\n')[0]);
    res.end('ok');
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    requests: () => requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

test('idle clients in-process: N connections from the given sources, one request each, all left open', async () => {
  const s = await countingServer();
  try {
    const sockets = await openIdleClients({ host: '127.0.0.1', port: s.port, connections: 12, sources: ['127.0.0.1', '127.0.0.2'], batch: 5, timeoutMs: 10_000 });
    assert.equal(sockets.length, 12);
    assert.equal(s.connections(), 12);
    assert.equal(s.requests(), 12);
    assert.ok(sockets.every((c) => !c.destroyed));
    assert.deepEqual(new Set(sockets.map((c) => c.localAddress)), new Set(['127.0.0.1', '127.0.0.2']));
    for (const c of sockets) c.destroy();
  } finally {
    await s.close();
  }
});

test('idle clients fail loudly when the server refuses', async () => {
  const s = await countingServer();
  const port = s.port;
  await s.close();
  await assert.rejects(openIdleClients({ host: '127.0.0.1', port, connections: 3, sources: ['127.0.0.1'], batch: 2, timeoutMs: 5_000 }), /ECONNREFUSED/);
});

test('the idle-clients child process: says how many are open, holds them, and exits on SIGTERM', async () => {
  const s = await countingServer();
  const set = new ChildSet();
  try {
    const entry = nodeModule('./idle-clients-child');
    const child = set.spawn('idle clients', entry.command, [...entry.prefix, JSON.stringify({ host: '127.0.0.1', port: s.port, connections: 7 })]);
    const m = await child.waitFor(IDLE_READY, 30_000);
    assert.equal(m[1], '7');
    assert.equal(s.connections(), 7);
    await child.stop();
    assert.equal(await child.exited, 0);
  } finally {
    await set.stopAll();
    await s.close();
  }
});
