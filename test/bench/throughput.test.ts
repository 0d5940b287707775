/**
 * `ballast bench --throughput` without running it: its flags (defaults, limits, the scenario
 * flags it refuses), wrk's output parsed (a real report, errors, a failed run), the rounds'
 * order and best, the ratios and the table, the configs it writes for Ballast and nginx
 * (accepted by the config schema and by `nginx -t` when nginx is installed), and the helpers
 * it added to children.ts and tools.ts. No wrk, no load: the run itself is checked by hand
 * (docs/comparison.md has a run's figures).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildError, ChildSet, pinned } from '../../src/bench/children.js';
import { nginxConfig, NGINX_BODY } from '../../src/bench/nginx.js';
import {
  bestRound,
  cpuSplit,
  estimateThroughputSeconds,
  roundOrder,
  singleSeconds,
  throughputBallastConfig,
  throughputRatios,
  throughputTargets,
  type ThroughputReport,
  type ThroughputRow,
} from '../../src/bench/throughput.js';
import { haproxyConfig } from '../../src/bench/haproxy.js';
import { formatThroughput } from '../../src/bench/throughput-report.js';
import { freePort } from '../../src/bench/targets.js';
import { findTool, toolCandidates } from '../../src/bench/tools.js';
import { parseWrk, wrkArgs, wrkTimeMs, type WrkResult } from '../../src/bench/wrk.js';
import { UsageError } from '../../src/cli/command.js';
import { benchCommand } from '../../src/cli/commands/bench.js';
import { throughputFlags, throughputTools } from '../../src/cli/commands/bench-throughput.js';
import { parseConfig } from '../../src/config/load.js';

// ---- flags ----------------------------------------------------------------------------

test('flags: defaults (5 s runs after 1 s warm-up, 50 connections, 2 rounds, HAProxy found if installed)', () => {
  assert.deepEqual(throughputFlags({ throughput: true, json: false, list: false, 'no-haproxy': false }), {
    durationS: 5,
    warmupS: 1,
    connections: 50,
    rounds: 2,
    cpuSeconds: 10,
    idleClients: 10_000,
    haproxy: { kind: 'auto' },
    tls: true,
    json: false,
    workers: 1,
  });
});

test('flags: each one read, --repeat as the rounds', () => {
  const f = throughputFlags({ duration: '2', warmup: '0', connections: '8', repeat: '3', 'cpu-seconds': '0', 'idle-clients': '500', 'haproxy-bin': '/opt/haproxy', json: true, workers: '2' });
  assert.deepEqual(f, { durationS: 2, warmupS: 0, connections: 8, rounds: 3, cpuSeconds: 0, idleClients: 500, haproxy: { kind: 'at', path: '/opt/haproxy' }, tls: true, json: true, workers: 2 });
  assert.deepEqual(throughputFlags({ 'no-haproxy': true }).haproxy, { kind: 'off' });
});

const BAD_VALUES: Array<[Record<string, string | boolean>, RegExp]> = [
  [{ duration: '1.5' }, /--duration: expected an integer >= 1/],
  [{ duration: '0' }, /--duration: expected an integer >= 1/],
  [{ warmup: '0.5' }, /--warmup: expected an integer >= 0/],
  [{ connections: '0' }, /--connections: expected an integer >= 1/],
  [{ repeat: 'two' }, /--repeat: expected an integer/],
  [{ 'no-haproxy': true, 'haproxy-bin': '/usr/sbin/haproxy' }, /contradict/],
  [{ 'cpu-seconds': '-1' }, /--cpu-seconds: expected an integer >= 0/],
  [{ 'idle-clients': '60000' }, /--idle-clients: expected an integer .*50000/],
  [{ 'idle-clients': '1.5' }, /--idle-clients: expected an integer/],
];
for (const [values, message] of BAD_VALUES) {
  test(`flags: ${JSON.stringify(values)} is bad usage`, () => {
    assert.throws(() => throughputFlags(values), (err: Error) => err instanceof UsageError && message.test(err.message));
  });
}

const SCENARIO_FLAGS: Array<[string, string | boolean | string[]]> = [
  ['scenario', 'cache'],
  ['strategies', 'beta1'],
  ['haproxy-modes', 'roundrobin'],
  ['rate', '100'],
  ['arrivals', 'poisson'],
  ['seed', '3'],
  ['servers', '4'],
  ['slots', '2'],
  ['set', ['rate=5']],
  ['chart', 'x.svg'],
  ['list', true],
];
for (const [flag, value] of SCENARIO_FLAGS) {
  test(`flags: --${flag} is refused with --throughput (it runs no scenario)`, () => {
    assert.throws(
      () => throughputFlags({ [flag]: value }),
      (err: Error) => err instanceof UsageError && err.message.startsWith(`--${flag} is for the scenario benchmark`),
    );
  });
}

test('ballast bench --throughput reaches these flags (bad usage rejected before anything starts)', async () => {
  await assert.rejects(benchCommand.run(['--throughput', '--scenario', 'cache']), /--scenario is for the scenario benchmark/);
  await assert.rejects(benchCommand.run(['--throughput', '--duration', '0.5']), /--duration: expected an integer/);
  await assert.rejects(benchCommand.run(['--throughput', '--rounds', '2']), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  assert.match(benchCommand.help, /^ {2}--throughput\s/m);
});

test('tools: wrk, nginx and taskset are required, and each missing one is named', () => {
  const all = (name: string): string => `/bin/${name}`;
  assert.deepEqual(throughputTools(all), { wrk: '/bin/wrk', nginx: '/bin/nginx', taskset: '/bin/taskset' });
  assert.deepEqual(throughputTools((name) => (name === 'taskset' ? '/bin/taskset' : null)), { missing: ['wrk', 'nginx'] });
});

// ---- wrk ------------------------------------------------------------------------------

/** wrk 4.1.0's report of a run against nginx on this machine. */
const WRK_REPORT = `Running 1s test @ http://127.0.0.1:40577/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    56.93us   61.24us   1.96ms   99.55%
    Req/Sec    70.35k   773.78    71.81k    70.00%
  Latency Distribution
     50%   59.00us
     75%   61.00us
     90%   72.00us
     99%   91.00us
  69855 requests in 1.00s, 16.59MB read
Requests/sec:  69842.50
Transfer/sec:     16.59MB
`;

test('wrk: figures of a real report; latency units to ms', () => {
  const r = parseWrk(WRK_REPORT);
  assert.equal(r.rps, 69842.5);
  assert.equal(r.requests, 69855);
  assert.ok(Math.abs(r.p50 - 0.059) < 1e-12 && Math.abs(r.p99 - 0.091) < 1e-12, JSON.stringify(r));
  assert.equal(r.errors, 0);
  assert.deepEqual(['812.00us', '2.33ms', '1.02s', '1.50m', ' 3ms ', '2.0', 'ms', ''].map(wrkTimeMs), [0.812, 2.33, 1020, 90_000, 3, NaN, NaN, NaN]);
});

test('wrk: non-2xx responses and every kind of socket error are counted', () => {
  const out = WRK_REPORT.replace(
    '  69855 requests in 1.00s, 16.59MB read\n',
    '  69855 requests in 1.00s, 16.59MB read\n  Socket errors: connect 1, read 20, write 300, timeout 4000\n  Non-2xx or 3xx responses: 50000\n',
  );
  assert.equal(parseWrk(out).errors, 54321);
});

test('wrk: a run without figures (nothing listening) is an error with wrk\'s output', () => {
  assert.throws(() => parseWrk('unable to connect to 127.0.0.1:40578 Connection refused\n'), (err: Error) => err instanceof ChildError && /Connection refused/.test(err.message));
  assert.throws(() => parseWrk(WRK_REPORT.replace(/^ {5}99%.*\n/m, '')), ChildError, 'a report without the 99th percentile');
});

test('wrk: one thread, the connections, whole seconds, the latency distribution', () => {
  assert.deepEqual(wrkArgs('http://127.0.0.1:1/', 50, 5), ['-t1', '-c50', '-d5s', '--latency', 'http://127.0.0.1:1/']);
  assert.throws(() => wrkArgs('http://127.0.0.1:1/', 50, 1.5), RangeError);
  assert.throws(() => wrkArgs('http://127.0.0.1:1/', 50, 0), RangeError);
});

// ---- rounds, ratios, table ------------------------------------------------------------

const w = (rps: number, p50: number, p99: number, errors = 0): WrkResult => ({ rps, p50, p99, requests: rps * 5, errors });

test('rounds: every target, the second round backwards; HAProxy only when installed', () => {
  const all = throughputTargets(true);
  assert.deepEqual(all, ['nginx', 'ballast-l7', 'haproxy-http', 'ballast-l4', 'haproxy-tcp']);
  assert.deepEqual(throughputTargets(false), ['nginx', 'ballast-l7', 'ballast-l4']);
  assert.deepEqual(roundOrder(all, 0), all);
  assert.deepEqual(roundOrder(all, 1), [...all].reverse());
  assert.deepEqual(roundOrder(all, 2), all);
  assert.deepEqual(all, ['nginx', 'ballast-l7', 'haproxy-http', 'ballast-l4', 'haproxy-tcp'], 'not reordered in place');
  assert.deepEqual(bestRound([w(10, 1, 2), w(30, 5, 9), w(30, 1, 1), w(20, 1, 2)]), w(30, 5, 9), 'most req/s, the first of equals');
  assert.throws(() => bestRound([]), RangeError);
  assert.deepEqual([1, 2, 4, 5, 9, 10].map(singleSeconds), [2, 2, 2, 2, 4, 5]);
  // 5 targets x (2 rounds x (1 + 5) + 2) = 70.
  assert.equal(estimateThroughputSeconds({ durationS: 5, warmupS: 1, rounds: 2, cpuSeconds: 0, idleClients: 0 }, 5), 70);
  // Plus 4 balancers x (10 + 1) s at 250 req/s, plus 2 x 10 s opening idle clients.
  assert.equal(estimateThroughputSeconds({ durationS: 5, warmupS: 1, rounds: 2, cpuSeconds: 10, idleClients: 10_000 }, 5), 70 + 44 + 20);
});

function row(target: ThroughputRow['target'], label: string, rounds: WrkResult[], single: WrkResult): ThroughputRow {
  return { target, label, rounds, best: bestRound(rounds), single };
}

const ROWS: ThroughputRow[] = [
  row('nginx', 'nginx direct', [w(55048, 0.648, 0.816), w(54000, 0.7, 0.9)], w(30000, 0.025, 0.05)),
  row('ballast-l7', 'Ballast L7', [w(20425, 2.33, 5.32, 1), w(19000, 2.4, 6)], w(9000, 0.091, 0.2, 2)),
  row('haproxy-http', 'HAProxy HTTP', [w(36201, 0.97, 2.49)], w(10000, 0.083, 0.2)),
  row('ballast-l4', 'Ballast L4', [w(37690, 1.14, 2.77)], w(11000, 0.076, 0.15)),
  row('haproxy-tcp', 'HAProxy TCP', [w(39176, 0.89, 1.96)], w(12000, 0.074, 0.15)),
];

function report(rows: ThroughputRow[], haproxy: boolean): ThroughputReport {
  return {
    durationS: 5,
    warmupS: 1,
    connections: 50,
    rounds: 2,
    singleS: 2,
    haproxy: haproxy ? { path: '/usr/sbin/haproxy', version: 'HAProxy version 2.6.12' } : null,
    workers: 1,
    balancerCpus: '0',
    loadCpus: '1',
    rows,
    ratios: throughputRatios(rows),
    cpu: null,
    idle: null,
    tls: null,
    wallMs: 80_000,
  };
}

test('ratios: best rounds\' req/s of Ballast over HAProxy; median added at one connection over nginx direct', () => {
  const r = throughputRatios(ROWS);
  assert.equal(r.l7, 20425 / 36201);
  assert.equal(r.l4, 37690 / 39176);
  assert.ok(Math.abs(r.addedMedianMs.ballastL7! - 0.066) < 1e-12);
  assert.ok(Math.abs(r.addedMedianMs.haproxyHttp! - 0.058) < 1e-12);
  const alone = throughputRatios(ROWS.filter((x) => !x.target.startsWith('haproxy')));
  assert.deepEqual([alone.l7, alone.l4, alone.addedMedianMs.haproxyHttp], [null, null, null]);
});

test('table: one Markdown row per target with its best round, the median at one connection, every run\'s errors; ratios against the goals', () => {
  assert.equal(
    formatThroughput(report(ROWS, true)),
    [
      'wrk -c50, 5 s per run after 1 s of warm-up, 2 rounds in alternating order (best kept), then 2 s at one connection; balancers on CPU 0, wrk and nginx on CPU 1; HAProxy version 2.6.12',
      '',
      '| target | req/s (c=50) | p50 ms | p99 ms | p50 ms at c=1 | errors (all runs) |',
      '|---|---|---|---|---|---|',
      '| nginx direct | 55048 | 0.648 | 0.816 | 0.025 | 0 |',
      '| Ballast L7 | 20425 | 2.330 | 5.320 | 0.091 | 3 |',
      '| HAProxy HTTP | 36201 | 0.970 | 2.490 | 0.083 | 0 |',
      '| Ballast L4 | 37690 | 1.140 | 2.770 | 0.076 | 0 |',
      '| HAProxy TCP | 39176 | 0.890 | 1.960 | 0.074 | 0 |',
      '',
      'Ballast L7 / HAProxy HTTP: 0.56x   (goal >= 0.6x)',
      'Ballast L4 / HAProxy TCP:  0.96x   (goal >= 0.9x)',
      'Median added at one connection: Ballast L7 0.066 ms (goal <= 0.25 ms); HAProxy HTTP 0.058 ms',
      '',
    ].join('\n'),
  );
});

test('table without HAProxy: no ratio lines, the added median alone, and it says HAProxy did not run', () => {
  const text = formatThroughput(report(ROWS.filter((x) => !x.target.startsWith('haproxy')), false));
  assert.match(text.split('\n')[0]!, /; HAProxy not run$/);
  assert.doesNotMatch(text, /HAProxy HTTP|HAProxy TCP|\/ HAProxy/);
  assert.match(text, /^Median added at one connection: Ballast L7 0\.066 ms \(goal <= 0\.25 ms\)$/m);
  assert.equal(text.split('\n').filter((l) => l.startsWith('| ')).length, 4, 'header and three targets');
});

// ---- configs --------------------------------------------------------------------------

test('Ballast config: valid for both data planes, round robin, HTTP checks, no admin API', () => {
  for (const mode of ['http', 'tcp'] as const) {
    const c = parseConfig(throughputBallastConfig(mode, [18001, 18002]));
    assert.equal(c.mode, mode);
    assert.equal(c.strategy, 'round_robin');
    assert.deepEqual(c.servers.map((s) => `${s.host}:${s.port}`), ['127.0.0.1:18001', '127.0.0.1:18002']);
    assert.equal(c.listen.port, 0);
    assert.equal(c.healthCheck.type, 'http');
    assert.equal(c.admin.enabled, false);
  }
});

test('nginx config: one worker, no master, its files under its prefix, the fixed body on the port (nginx -t when installed)', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-nginx-'));
  try {
    const text = nginxConfig({ prefix: dir, host: '127.0.0.1', port: 18099 });
    for (const line of ['daemon off;', 'worker_processes 1;', 'master_process off;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log warn;`, '    listen 127.0.0.1:18099;']) {
      assert.ok(text.split('\n').includes(line), `missing line: ${line}`);
    }
    assert.ok(text.includes(`return 200 "${NGINX_BODY}";`) && NGINX_BODY.length === 100);
    for (const m of text.matchAll(/_temp_path (\S+);/g)) assert.ok(m[1]!.startsWith(`${dir}/`), `temp path inside the prefix: ${m[1]}`);
    const nginx = findTool('nginx');
    // CI installs nginx (.ci/run): there, a missing nginx is a failure, not a skipped check.
    if (nginx === null && process.env.CI === 'true') assert.fail('nginx is not installed (CI=true): .ci/run installs it');
    if (nginx === null) return t.diagnostic('nginx not installed: config not checked by nginx -t');
    writeFileSync(path.join(dir, 'nginx.conf'), text);
    const r = spawnSync(nginx, ['-t', '-c', path.join(dir, 'nginx.conf'), '-p', dir], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- helpers in children.ts and tools.ts ----------------------------------------------

test('pinned: taskset -c CPUS in front of the command; unchanged without a pinning', () => {
  const run = { command: '/usr/bin/node', prefix: ['main.js'] };
  assert.deepEqual(pinned(run, { taskset: '/usr/bin/taskset', cpus: '1' }), { command: '/usr/bin/taskset', prefix: ['-c', '1', '/usr/bin/node', 'main.js'] });
  assert.equal(pinned(run, null), run);
});

test('waitListening: resolves once the child accepts connections; rejects with its output when it exits first', { timeout: 20_000 }, async () => {
  const set = new ChildSet();
  try {
    const port = await freePort();
    // Listens only after 300 ms: the wait must poll, not give up at the first refusal.
    const server = set.spawn('server', process.execPath, ['-e', `setTimeout(()=>require('net').createServer().listen(${port},'127.0.0.1'),300)`]);
    await server.waitListening('127.0.0.1', port, 10_000);
    const quitter = set.spawn('quitter', process.execPath, ['-e', "console.error('cannot bind'); process.exit(3)"]);
    await assert.rejects(quitter.waitListening('127.0.0.1', port + 1, 10_000), (err: Error) => err instanceof ChildError && /quitter exited \(3\) before it listened/.test(err.message) && /cannot bind/.test(err.message));
  } finally {
    await set.stopAll();
  }
});

test('tools: found on PATH before the sbin directories, each path once, only executables', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-tools-'));
  try {
    mkdirSync(path.join(dir, 'a'));
    mkdirSync(path.join(dir, 'b'));
    writeFileSync(path.join(dir, 'a', 'mytool'), '#!/bin/sh\n');
    writeFileSync(path.join(dir, 'b', 'mytool'), '#!/bin/sh\n');
    chmodSync(path.join(dir, 'b', 'mytool'), 0o755);
    const PATH = [path.join(dir, 'a'), path.join(dir, 'b'), path.join(dir, 'b')].join(path.delimiter);
    assert.deepEqual(toolCandidates('mytool', { PATH }), [path.join(dir, 'b', 'mytool')], 'a/mytool is not executable');
    assert.equal(findTool('mytool', { PATH }), path.join(dir, 'b', 'mytool'));
    assert.equal(findTool('no-such-tool-here', { PATH }), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--workers N: Ballast with N workers, HAProxy with nbthread N, on CPUs split between balancers and load while there are enough', async () => {
  assert.deepEqual(cpuSplit(1, 2), { balancer: '0', load: '1' });
  assert.deepEqual(cpuSplit(2, 4), { balancer: '0-1', load: '2-3' });
  assert.deepEqual(cpuSplit(3, 4), { balancer: '0-2', load: '3' });
  assert.deepEqual(cpuSplit(2, 2), { balancer: '0-1', load: '0-1' }, 'no CPU left for the load: everything shares');
  assert.equal(throughputBallastConfig('http', [1, 2], 0, 4).workers, 4);
  assert.match(haproxyConfig({ mode: 'roundrobin', port: 1, socket: '/tmp/s', servers: [], threads: 4 }), /^ {2}nbthread 4$/m);
  assert.match(haproxyConfig({ mode: 'roundrobin', port: 1, socket: '/tmp/s', servers: [] }), /^ {2}nbthread 1$/m);
  for (const bad of ['0', '65', '1.5']) assert.throws(() => throughputFlags({ workers: bad }), (err: Error) => err instanceof UsageError && /--workers/.test(err.message));
  await assert.rejects(benchCommand.run(['--workers', '2']), /--workers is for --throughput/);
});
