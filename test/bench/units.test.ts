/**
 * The benchmark's pure parts: HAProxy config generation (checked by `haproxy -c` when HAProxy
 * is installed), runtime API and Prometheus parsing, the live plan of each scenario, the pause
 * schedule, the comparison with HAProxy's best and the report's layout.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultHaproxyModes, findHaproxy, haproxyConfig, parseShowStat, serverStatuses, HAPROXY_MODES } from '../../src/bench/haproxy.js';
import { liveSupport, pauseSchedule, planLive, UnsupportedScenarioError } from '../../src/bench/live-scenario.js';
import { ballastCounters } from '../../src/bench/prometheus.js';
import { combine, compare, estimateSeconds, loadConnections, targetsFor, type ScenarioBench, type TargetResult } from '../../src/bench/run.js';
import { formatScenario } from '../../src/bench/report.js';
import { renderBenchChart } from '../../src/bench/chart.js';
import { backendCliArgs } from '../../src/bench/targets.js';
import { NAMED_SCENARIOS, resolveScenario } from '../../src/sim/scenario.js';
import { SeededRandom } from '../../src/util/random.js';

const servers = [
  { name: 's0', host: '127.0.0.1', port: 18001, weight: 1, disabled: false },
  { name: 's1', host: '127.0.0.1', port: 18002, weight: 3, disabled: true },
];

test('haproxy config: one thread, loopback bind, reuse, timeouts, checks, and the balance lines of each mode', () => {
  const base = { port: 18000, socket: '/tmp/x.sock', servers };
  const rr = haproxyConfig({ ...base, mode: 'roundrobin' });
  for (const line of [
    '  nbthread 1',
    '  stats socket /tmp/x.sock mode 600 level admin',
    '  http-reuse always',
    '  timeout connect 3s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout queue 5s',
    '  bind 127.0.0.1:18000',
    '  balance roundrobin',
    '  option httpchk GET /health',
    '  default-server inter 1000ms fall 2 rise 2',
    '  server s0 127.0.0.1:18001 weight 1 check',
    '  server s1 127.0.0.1:18002 weight 3 check disabled',
  ]) {
    assert.ok(rr.split('\n').includes(line), `missing line: ${line}\n${rr}`);
  }
  assert.ok(!/bind (?!127\.0\.0\.1)/.test(rr), 'binds loopback only');
  assert.match(haproxyConfig({ ...base, mode: 'leastconn' }), /^ {2}balance leastconn$/m);
  assert.match(haproxyConfig({ ...base, mode: 'random' }), /^ {2}balance random\(2\)$/m);
  const hash = haproxyConfig({ ...base, mode: 'hash' });
  assert.match(hash, /^ {2}balance hdr\(X-Key\)\n {2}hash-type consistent\n {2}hash-balance-factor 125$/m);
  assert.throws(() => haproxyConfig({ ...base, mode: 'hash', keyHeader: 'X Key' }), RangeError);
  assert.deepEqual(defaultHaproxyModes(false), ['roundrobin', 'leastconn', 'random']);
  assert.deepEqual(defaultHaproxyModes(true), ['roundrobin', 'leastconn', 'random', 'hash']);
});

test('haproxy config in TCP mode (the throughput benchmark): mode tcp, nothing only HTTP mode has, the same checks', () => {
  const base = { port: 18000, socket: '/tmp/x.sock', servers };
  const tcp = haproxyConfig({ ...base, mode: 'roundrobin', protocol: 'tcp' }).split('\n');
  const http = haproxyConfig({ ...base, mode: 'roundrobin' }).split('\n');
  assert.ok(tcp.includes('  mode tcp') && !tcp.includes('  mode http'));
  assert.ok(http.includes('  mode http') && !http.includes('  mode tcp'));
  const httpOnly = ['  option http-keep-alive', '  http-reuse always', '  retry-on conn-failure empty-response', '  timeout http-request 10s', '  timeout http-keep-alive 60s'];
  for (const line of httpOnly) {
    assert.ok(http.includes(line), `http has ${line}`);
    assert.ok(!tcp.includes(line), `tcp lacks ${line}`);
  }
  // Everything else is the same config.
  assert.deepEqual(tcp.filter((l) => l !== '  mode tcp'), http.filter((l) => l !== '  mode http' && !httpOnly.includes(l)));
  assert.throws(() => haproxyConfig({ ...base, mode: 'hash', protocol: 'tcp' }), /needs protocol http/);
});

test('haproxy config: haproxy -c accepts every mode, and TCP mode, without warnings (when HAProxy is installed)', (t) => {
  const bin = findHaproxy();
  if (bin === null) {
    // The live test in bench.test.ts fails under CI=true without HAProxy; this unit check
    // needs the binary and has nothing to check without it.
    assert.notEqual(process.env.CI, 'true', 'CI=true but haproxy is not installed');
    t.diagnostic('haproxy not installed: config syntax not checked by haproxy -c');
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-cfg-'));
  try {
    const configs = [...HAPROXY_MODES.map((mode) => ({ mode, protocol: 'http' as const })), { mode: 'roundrobin' as const, protocol: 'tcp' as const }];
    for (const { mode, protocol } of configs) {
      const file = path.join(dir, `${mode}-${protocol}.cfg`);
      writeFileSync(file, haproxyConfig({ mode, protocol, port: 18000, socket: path.join(dir, 's.sock'), servers }));
      // No warnings either: -q hides them, so they are read from the output without it.
      const r: SpawnSyncReturns<string> = spawnSync(bin.path, ['-c', '-f', file], { encoding: 'utf8', timeout: 10_000 });
      const out = `${r.stdout}${r.stderr}`;
      assert.equal(r.status, 0, `${mode} ${protocol}: ${out}`);
      assert.doesNotMatch(out, /WARNING|ALERT/, `${mode} ${protocol}: ${out}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('haproxy show stat: retries and redispatches of the BACKEND row', () => {
  const csv = [
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status',
    'fe,FRONTEND,,,0,1,4096,10,0,0,0,0,0,,,,,OPEN',
    'be,s0,0,0,0,1,,5,0,0,,0,,0,0,2,1,UP',
    'be,BACKEND,0,0,0,1,410,10,0,0,0,0,,0,0,7,3,UP',
    '',
  ].join('\n');
  assert.deepEqual(parseShowStat(csv), { retries: 7, redispatches: 3 });
  assert.deepEqual([...serverStatuses(csv)], [['s0', 'UP']]);
  assert.throws(() => parseShowStat('no header'), /header/);
});

test('prometheus: requests, hedges, retries and failovers summed over labels', () => {
  const text = [
    '# HELP ballast_requests_total x',
    '# TYPE ballast_requests_total counter',
    'ballast_requests_total{backend="s0",code="2xx"} 10',
    'ballast_requests_total{backend="s1",code="2xx"} 5',
    'ballast_requests_total{backend="none",code="5xx"} 1',
    'ballast_hedges_sent_total 4',
    'ballast_hedges_won_total 2',
    'ballast_retries_total{kind="failover"} 3',
    'ballast_retries_total{kind="retry"} 1',
    'ballast_backend_inflight{backend="s0"} 2',
  ].join('\n');
  assert.deepEqual(ballastCounters(text), { requests: 16, hedgesSent: 4, hedgesWon: 2, retries: 1, failovers: 3 });
});

test('live plan: the named scenarios map to demo backend options; heavy-tail is refused with the reason', () => {
  const slow = planLive(resolveScenario('slow-server'), 1);
  assert.equal(slow.servers.length, 5);
  assert.deepEqual(slow.servers[0]!.backend.serviceTime, { kind: 'lognormal', median: 60, sigma: 0.5 });
  assert.deepEqual(slow.servers[1]!.backend.serviceTime, { kind: 'lognormal', median: 20, sigma: 0.5 });
  assert.equal(slow.servers[1]!.backend.workers, 4);
  assert.equal(slow.keys, null);
  assert.equal(slow.cache, false);

  const st = planLive(resolveScenario('stragglers'), 1);
  assert.equal(st.servers[0]!.backend.stallProbability, 0.02);
  assert.equal(st.servers[0]!.backend.stallMs, 150);
  assert.deepEqual(st.pause, { probability: 0.0005, ms: 100 });

  const cache = planLive(resolveScenario('cache'), 1);
  assert.equal(cache.cache, true);
  assert.deepEqual(cache.keys, { count: 20_000, zipf: 0.7 });
  assert.equal(cache.servers[3]!.backend.cacheSize, 1000);
  assert.equal(cache.servers[3]!.backend.missPenaltyMs, 30);
  assert.equal(cache.servers[3]!.backend.cacheKeyHeader, 'X-Key');
  assert.equal(new Set(cache.servers.map((s) => s.backend.seed)).size, 8, 'a seed per backend');

  const scale = planLive(resolveScenario('scale-out'), 1);
  assert.deepEqual(scale.servers.map((s) => s.initial), [true, true, true, false, false]);
  assert.deepEqual(scale.events, [{ at: 0.3, action: 'join', servers: [3, 4] }]);

  const failure = planLive(resolveScenario('failure'), 1);
  assert.deepEqual(failure.events.map((e) => [e.at, e.action, e.servers]), [[0.3, 'die', [1]], [0.6, 'revive', [1]], [0.8, 'die', [3]]]);

  assert.throws(() => planLive(resolveScenario('heavy-tail'), 1), (err: unknown) => err instanceof UnsupportedScenarioError && /pareto/.test(err.message));
  const live = Object.keys(NAMED_SCENARIOS).filter((n) => liveSupport(resolveScenario(n)) === null);
  assert.deepEqual(live, ['homogeneous', 'slow-server', 'stragglers', 'cache', 'scale-out', 'churn', 'failure']);
  const churn = planLive(resolveScenario('churn'), 1);
  assert.deepEqual(churn.events.map((e) => [e.at, e.action, e.servers]), [[0.4, 'leave', [1]], [0.6, 'join', [5]]]);
  assert.equal(churn.servers.length, 6);
  assert.equal(churn.servers[5]!.initial, false);
  assert.match(liveSupport(resolveScenario('homogeneous', { settings: ['arrivals={"kind":"bursty","factor":3,"burstMs":100,"share":0.1}'] }))!, /bursty/);
});

test('backend CLI flags: used when the CLI parser reads the service time back exactly', () => {
  const o = planLive(resolveScenario('cache'), 1).servers[0]!.backend;
  const fixed = { ...o, serviceTime: { kind: 'fixed' as const, ms: 5 } };
  assert.deepEqual(backendCliArgs(fixed), [
    '--name', 's0', '--service', 'fixed:5', '--workers', '4',
    '--cache-size', '1000', '--miss-penalty-ms', '30', '--cache-key-header', 'X-Key', '--orca', 'text', '--seed', '1000',
  ]);
  // lognormal goes through the CLI or through backend-child.ts, whichever reads it exactly.
  const args = backendCliArgs(o);
  if (args !== null) assert.ok(args.includes('lognormal:5:0.3'));
});

test('pause schedule: seeded, inside the window, about p x rate pauses per second in all', () => {
  const plan = planLive(resolveScenario('stragglers', { settings: ['pause.probability=0.01'] }), 1);
  const a = pauseSchedule(plan, 400, 10, new SeededRandom(7));
  const b = pauseSchedule(plan, 400, 10, new SeededRandom(7));
  assert.deepEqual(a, b);
  assert.ok(a.every((p) => p.atMs >= 0 && p.atMs < 10_000 && p.ms === 100 && p.server < 4));
  // Expected 0.01 x 400 x 10 = 40 pauses; Poisson, so a wide band.
  assert.ok(a.length > 20 && a.length < 60, `pauses: ${a.length}`);
  assert.deepEqual(pauseSchedule(planLive(resolveScenario('homogeneous'), 1), 400, 10, new SeededRandom(1)), []);
});

function result(target: string, kind: 'ballast' | 'haproxy', p99: number, hit: number | null): TargetResult {
  return {
    target,
    kind,
    runs: 1,
    p99Runs: [p99],
    sent: 100,
    succeeded: 100,
    phases: [],
    failed: { total: 0, http4xx: 0, http5xx: 0, timeout: 0, connection: 0, otherStatus: 0 },
    latency: { p50: p99 / 4, p90: p99 / 2, p99, p999: p99 * 1.2, mean: p99 / 3, max: p99 * 2 },
    hedges: 0,
    retries: 0,
    failovers: 0,
    extraLoadPercent: 0,
    hedgePercent: 0,
    retryPercent: 0,
    cache: hit === null ? null : { hits: hit * 100, misses: 100 - hit * 100, hitRate: hit },
    cacheHitRate: hit,
    servers: [
      { name: 's0', count: 60, share: 0.6 },
      { name: 's1', count: 40, share: 0.4 },
    ],
    maxAvgLoad: 1.2,
    cpuMsPerRequest: null,
    openLoop: null,
    warnings: [],
    wallMs: 1000,
  };
}

test("comparison: each strategy against HAProxy's lowest p99 and highest hit rate", () => {
  const results = [result('round_robin', 'ballast', 100, 0.2), result('beta1', 'ballast', 40, 0.6), result('haproxy roundrobin', 'haproxy', 80, 0.2), result('haproxy hash', 'haproxy', 50, 0.5)];
  const c = compare(results)!;
  assert.deepEqual(c.bestP99, { target: 'haproxy hash', p99: 50 });
  assert.deepEqual(c.bestHitRate, { target: 'haproxy hash', hitRate: 0.5 });
  assert.deepEqual(c.rows, [
    { strategy: 'round_robin', p99Ratio: 2, hitRatio: 0.4 },
    { strategy: 'beta1', p99Ratio: 0.8, hitRatio: 1.2 },
  ]);
  assert.equal(compare(results.slice(0, 2)), null, 'no HAProxy, no comparison');

  const bench: ScenarioBench = { scenario: resolveScenario('cache'), skipped: null, rate: 600, durationS: 10, warmupS: 2, arrivals: 'constant', seed: 1, results, comparison: c };
  const text = formatScenario(bench);
  assert.match(text, /^target +p50 +p90 +p99 +p99\.9 +mean +extra% +hedge% +retry% +hit% +max\/avg +errors +sent$/m);
  assert.match(text, /^beta1 .* 60\.0 +1\.20 +0 +100$/m);
  assert.match(text, /^against HAProxy's best \(p99: haproxy hash 50\.0 ms; hit%: haproxy hash 50\.0\)$/m);
  assert.match(text, /^beta1 +0\.80x +1\.20x$/m);
  assert.match(text, /8 servers x 4 slots; service lognormal median 5 ms sigma 0\.3; keys Zipf\(0\.7\) over 20000; LRU 1000 keys\/server, miss \+30 ms; constant arrivals at 600 req\/s, 10 s measured after 2 s warm-up; seed 1/);
  const svg = renderBenchChart(bench);
  assert.match(svg, /Live benchmark latency: scenario cache/);
  assert.match(svg, /constant 600 req\/s for 10 s \(100 requests per run\), seed 1/);
  assert.ok(!svg.includes('Simulated'));
  assert.match(svg, /haproxy hash p99: 50\.0 ms/);
});

test('targets and time estimate: strategies first, hash only for keyed scenarios, unsupported scenarios cost nothing', () => {
  const haproxy = { path: '/usr/sbin/haproxy', version: 'HAProxy version 2.6' };
  const homo = planLive(resolveScenario('homogeneous'), 1);
  assert.deepEqual(
    targetsFor(homo, { strategies: ['alpha1'], haproxy }).map((t) => (t.kind === 'ballast' ? t.strategy : t.mode)),
    ['alpha1', 'roundrobin', 'leastconn', 'random'],
  );
  assert.equal(targetsFor(homo, { strategies: ['alpha1'], haproxy: null }).length, 1);
  const est = estimateSeconds({
    scenarios: [resolveScenario('cache'), resolveScenario('heavy-tail')],
    strategies: ['round_robin', 'beta1'],
    haproxy,
    durationS: 10,
    warmupS: 2,
    arrivals: 'constant',
    seed: 1,
  });
  assert.equal(est.runs, 6);
  assert.ok(est.seconds >= 6 * 12);
});

test('repetitions: medians of the figures, sums of the counts, every p99 kept; connections follow the rate', () => {
  const plan = planLive(resolveScenario('cache', { values: { servers: 2 } }), 1);
  const runs = [result('beta1', 'ballast', 30, 0.5), result('beta1', 'ballast', 90, 0.7), result('beta1', 'ballast', 40, 0.6)];
  const c = combine(plan, runs);
  assert.equal(c.runs, 3);
  assert.deepEqual(c.p99Runs, [30, 90, 40]);
  assert.equal(c.latency.p99, 40);
  assert.equal(c.latency.p50, 10);
  assert.equal(c.latency.max, 180);
  assert.equal(c.cacheHitRate, 0.6);
  assert.equal(c.sent, 300);
  assert.equal(c.succeeded, 300);
  assert.deepEqual(c.servers, [
    { name: 's0', count: 180, share: 0.6 },
    { name: 's1', count: 120, share: 0.4 },
  ]);
  assert.equal(c.maxAvgLoad, 1.2);
  assert.deepEqual(c.cache, { hits: 180, misses: 120, hitRate: 0.6 });
  assert.equal(combine(plan, [runs[0]!]), runs[0]);
  const bench: ScenarioBench = { scenario: resolveScenario('cache'), skipped: null, rate: 600, durationS: 10, warmupS: 2, arrivals: 'constant', seed: 1, results: [c], comparison: null };
  const text = formatScenario(bench);
  assert.match(text, /^target +p50 +p90 +p99 +p99 range +p99\.9/m);
  assert.match(text, /^beta1 +10\.0 +20\.0 +40\.0 +30-90 /m);
  assert.match(text, /3 interleaved runs per target \(medians\)/);
  assert.deepEqual([loadConnections(10), loadConnections(250), loadConnections(5000)], [64, 250, 1000]);
});
