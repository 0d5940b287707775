/**
 * The live benchmark end to end, kept short (1 s per run, small rates, two servers): real demo
 * backends, Ballast and HAProxy as child processes on 127.0.0.1. Checks the report's structure
 * and that its counts add up, never speeds (the machine is shared).
 *
 * HAProxy: the run with it happens when it is installed or CI=true; with CI=true and no
 * HAProxy the test fails (CI installs it, see .ci/run), it is never silently skipped there.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findHaproxy } from '../../src/bench/haproxy.js';
import { runBench, type BenchReport, type ScenarioBench, type TargetResult } from '../../src/bench/run.js';
import { resolveScenario } from '../../src/sim/scenario.js';

/** The cache scenario on two servers at a light rate: keys, X-Cache, bounded loads, all of it. */
const small = () => resolveScenario('cache', { values: { servers: 2 } });

function checkCounts(r: TargetResult, s: ScenarioBench): void {
  assert.equal(r.sent, r.succeeded + r.failed.total, `${r.target}: sent = succeeded + failed`);
  const f = r.failed;
  assert.equal(f.total, f.http4xx + f.http5xx + f.timeout + f.connection + f.otherStatus, `${r.target}: failure kinds add up`);
  // About rate x duration requests (constant arrivals): the open loop held its schedule.
  const expected = s.rate * s.durationS;
  assert.ok(Math.abs(r.sent - expected) <= Math.max(3, expected * 0.05), `${r.target}: sent ${r.sent}, expected about ${expected}`);
  const responses = r.succeeded + f.http4xx + f.http5xx + f.otherStatus;
  assert.equal(r.servers.reduce((n, sv) => n + sv.count, 0), responses, `${r.target}: per-server counts cover every response`);
  assert.deepEqual(r.servers.slice(0, 2).map((sv) => sv.name), ['s0', 's1']);
  const shares = r.servers.reduce((n, sv) => n + sv.share, 0);
  assert.ok(Math.abs(shares - 1) < 0.01, `${r.target}: shares sum to 1 (${shares})`);
  assert.ok(r.cache !== null, `${r.target}: X-Cache counted`);
  assert.equal(r.cache.hits + r.cache.misses, r.succeeded, `${r.target}: every answer has a cache verdict`);
  assert.equal(r.cacheHitRate, Math.round((r.cache.hits / (r.cache.hits + r.cache.misses)) * 1e4) / 1e4);
  const l = r.latency;
  assert.ok(l.p50 > 0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, `${r.target}: percentiles ordered`);
  assert.ok(r.extraLoadPercent >= 0 && Math.abs(r.extraLoadPercent - r.hedgePercent - r.retryPercent) < 0.01);
  assert.ok(r.maxAvgLoad >= 1 && r.maxAvgLoad <= 2);
  if (process.platform === 'linux') assert.ok(r.cpuMsPerRequest !== null && r.cpuMsPerRequest >= 0, `${r.target}: balancer CPU read from /proc`);
}

function onlyScenario(report: BenchReport): ScenarioBench {
  assert.equal(report.interrupted, false);
  assert.equal(report.scenarios.length, 1);
  const s = report.scenarios[0]!;
  assert.equal(s.skipped, null);
  return s;
}

test('Ballast only: two strategies, counts add up, no comparison without a peer', { timeout: 30_000 }, async () => {
  const lines: string[] = [];
  const report = await runBench(
    { scenarios: [small()], strategies: ['round_robin', 'beta1'], haproxy: null, durationS: 1, warmupS: 0, rate: 80, arrivals: 'constant', seed: 3 },
    { onProgress: (l) => lines.push(l) },
  );
  const s = onlyScenario(report);
  assert.deepEqual(s.results.map((r) => r.target), ['round_robin', 'beta1']);
  for (const r of s.results) {
    checkCounts(r, s);
    assert.equal(r.kind, 'ballast');
    assert.equal(r.failed.total, 0, `${r.target}: no errors on a light load`);
    assert.equal(r.hedges, 0);
  }
  assert.equal(s.comparison, null);
  assert.ok(lines.some((l) => /^\[2\/2\] cache: beta1: p50 /.test(l)), lines.join('\n'));
});

test('with HAProxy (installed, or CI=true): its modes run on the same load and the ratios follow', { timeout: 40_000 }, async (t) => {
  const haproxy = findHaproxy();
  if (haproxy === null) {
    assert.notEqual(process.env.CI, 'true', 'CI=true but haproxy is not installed (.ci/run installs it)');
    t.skip('haproxy not installed');
    return;
  }
  const report = await runBench({
    scenarios: [small()],
    strategies: ['beta1'],
    haproxy,
    haproxyModes: ['roundrobin', 'hash'],
    durationS: 1,
    warmupS: 0.5,
    rate: 80,
    arrivals: 'constant',
    seed: 3,
  });
  const s = onlyScenario(report);
  assert.deepEqual(s.results.map((r) => r.target), ['beta1', 'haproxy roundrobin', 'haproxy hash']);
  for (const r of s.results) {
    checkCounts(r, s);
    assert.equal(r.failed.total, 0, `${r.target}: no errors on a light load`);
  }
  assert.equal(s.results[1]!.kind, 'haproxy');
  assert.equal(s.results[1]!.maxAvgLoad, 1, 'roundrobin alternates exactly');
  const c = s.comparison!;
  assert.ok(c !== null);
  const bestP99 = Math.min(s.results[1]!.latency.p99, s.results[2]!.latency.p99);
  assert.equal(c.bestP99.p99, bestP99);
  assert.equal(c.rows[0]!.strategy, 'beta1');
  assert.equal(c.rows[0]!.p99Ratio, Math.round((s.results[0]!.latency.p99 / bestP99) * 1000) / 1000);
  assert.ok(c.bestHitRate !== null && c.rows[0]!.hitRatio !== null);
});

function cli(args: string[], onStderr?: (text: string, pid: number) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const built = fileURLToPath(import.meta.url).endsWith('.js');
  const argv = built ? [fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))] : ['--import', 'tsx', main];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...argv, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(stderr, p.pid!);
    });
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('CLI: Ctrl-C stops the run, stops every child process, reports what finished, exits 130', { skip: process.platform !== 'linux' && 'reads /proc', timeout: 30_000 }, async () => {
  let children: number[] = [];
  let sent = false;
  const res = await cli(['--no-haproxy', '--strategies', 'round_robin', '--servers', '2', '--rate', '50', '--duration', '20', '--warmup', '0'], (text, pid) => {
    // The run is under way once the first target starts; give it a moment to spawn everything.
    if (!sent && /\[1\/1\] homogeneous: round_robin \.\.\./.test(text)) {
      sent = true;
      setTimeout(() => {
        children = childrenOf(pid);
        process.kill(pid, 'SIGINT');
      }, 3_000);
    }
  });
  assert.equal(res.code, 130, res.stderr);
  assert.match(res.stderr, /stopping/);
  assert.match(res.stdout, /interrupted: the run in progress was dropped/);
  assert.ok(children.length >= 2, `children seen before the interrupt: ${children.length}`);
  for (const c of children) assert.equal(alive(c), false, `child ${c} still running`);
});

test('CLI: haproxy missing runs Ballast only (exit 0), but exits 1 when HAProxy modes were asked for; bad usage exits 2', { timeout: 30_000 }, async () => {
  const [asked, simOnly, auto] = await Promise.all([
    cli(['--haproxy-bin', '/nonexistent/haproxy', '--haproxy-modes', 'roundrobin']),
    cli(['--scenario', 'heavy-tail']),
    cli(['--haproxy-bin', '/nonexistent/haproxy', '--strategies', 'least_connections', '--servers', '2', '--rate', '50', '--duration', '0.5', '--warmup', '0', '--repeat', '2', '--json']),
  ]);
  assert.equal(asked.code, 1, asked.stderr);
  assert.match(asked.stderr, /haproxy not found .*apt-get install -y haproxy/);
  assert.equal(simOnly.code, 2, simOnly.stderr);
  assert.match(simOnly.stderr, /heavy-tail cannot run live: service pareto/);
  assert.equal(auto.code, 0, auto.stderr);
  assert.match(auto.stderr, /haproxy not found .*running Ballast only/);
  assert.match(auto.stderr, /2 runs \(homogeneous; 1 strategies\), each 0 s warm-up \+ 0\.5 s measured \(2 interleaved rounds\): about \d+ s in all/);
  const report = JSON.parse(auto.stdout) as BenchReport;
  assert.equal(report.haproxy, null);
  const r = report.scenarios[0]!.results[0]!;
  assert.equal(r.target, 'least_connections');
  assert.equal(r.runs, 2);
  assert.equal(r.p99Runs.length, 2);
  assert.ok(Math.abs(r.sent - 50) <= 4, `sent ${r.sent}: two runs of 25`);
  assert.equal(r.sent, r.succeeded + r.failed.total);
  assert.equal(r.cache, null);
});
