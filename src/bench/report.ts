/**
 * The benchmark's text output: per scenario, the simulator's table (src/sim/report.ts) with one
 * row per target, each server's share of the responses, and each Ballast strategy's ratio to
 * HAProxy's best mode on p99 and hit rate. Fixed-width text, to paste into a README unchanged.
 */
import { describeScenario } from '../sim/report.js';
import type { BenchReport, ScenarioBench } from './run.js';

function fmt(v: number, digits = 1): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** The scenario's servers, service, stalls, cache and events, plus the live load. */
export function describeLive(b: ScenarioBench): string {
  // describeScenario starts with the simulator's request count and arrival process; the live
  // load replaces both.
  const shape = describeScenario(b.scenario).split('; ').slice(2).join('; ');
  const load = `${b.arrivals} arrivals at ${b.rate} req/s, ${b.durationS} s measured after ${b.warmupS} s warm-up`;
  const runs = Math.max(1, ...b.results.map((r) => r.runs));
  return `${shape}; ${load}${runs > 1 ? `; ${runs} interleaved runs per target (medians)` : ''}; seed ${b.seed}`;
}

export function formatScenario(b: ScenarioBench): string {
  const s = b.scenario;
  const out: string[] = [];
  out.push(`scenario ${s.name} (live)${s.description === '' ? '' : `: ${s.description}`}`);
  if (b.skipped !== null) {
    out.push(`  skipped: ${b.skipped}`);
    return out.join('\n');
  }
  out.push(`  ${describeLive(b)}`);
  out.push('');
  if (b.results.length === 0) {
    out.push('  no run finished');
    return out.join('\n');
  }
  const hasCache = b.results.some((r) => r.cacheHitRate !== null);
  const repeated = b.results.some((r) => r.runs > 1);
  const hasCpu = b.results.some((r) => r.cpuMsPerRequest !== null);
  const header = ['target', 'p50', 'p90', 'p99', ...(repeated ? ['p99 range'] : []), 'p99.9', 'mean', 'extra%', 'hedge%', 'retry%', ...(hasCache ? ['hit%'] : []), 'max/avg', ...(hasCpu ? ['cpu ms/req'] : []), 'errors', 'sent'];
  const rows = b.results.map((r) => [
    r.target,
    fmt(r.latency.p50),
    fmt(r.latency.p90),
    fmt(r.latency.p99),
    ...(repeated ? [`${fmt(Math.min(...r.p99Runs), 0)}-${fmt(Math.max(...r.p99Runs), 0)}`] : []),
    fmt(r.latency.p999),
    fmt(r.latency.mean),
    fmt(r.extraLoadPercent, 2),
    fmt(r.hedgePercent, 2),
    fmt(r.retryPercent, 2),
    ...(hasCache ? [r.cacheHitRate === null ? '-' : fmt(r.cacheHitRate * 100)] : []),
    fmt(r.maxAvgLoad, 2),
    ...(hasCpu ? [r.cpuMsPerRequest === null ? '-' : fmt(r.cpuMsPerRequest, 3)] : []),
    String(r.failed.total),
    String(r.sent),
  ]);
  out.push(table(header, rows));
  out.push('');
  out.push('share of responses per server (%)');
  const names: string[] = [];
  for (const r of b.results) for (const sv of r.servers) if (!names.includes(sv.name)) names.push(sv.name);
  out.push(
    table(
      ['target', ...names],
      b.results.map((r) => [r.target, ...names.map((n) => fmt((r.servers.find((x) => x.name === n)?.share ?? 0) * 100))]),
    ),
  );
  const phased = b.results.filter((r) => r.phases.length > 0);
  if (phased.length > 0) {
    const phases = phased[0]!.phases.map((p) => p.phase);
    out.push('');
    out.push('by phase of the timeline (before the first event, between, after the last): hit% and requests lost');
    out.push(
      table(
        ['target', ...(hasCache ? phases.map((p) => `hit% ${p}`) : []), ...phases.map((p) => `lost ${p}`)],
        phased.map((r) => [
          r.target,
          ...(hasCache ? r.phases.map((p) => (p.hitRate === null ? '-' : fmt(p.hitRate * 100))) : []),
          ...r.phases.map((p) => String(p.failed)),
        ]),
      ),
    );
  }
  const c = b.comparison;
  if (c !== null && c.rows.length > 0) {
    out.push('');
    const hit = c.bestHitRate === null ? '' : `; hit%: ${c.bestHitRate.target} ${fmt(c.bestHitRate.hitRate * 100)}`;
    out.push(`against HAProxy's best (p99: ${c.bestP99.target} ${fmt(c.bestP99.p99)} ms${hit})`);
    const withHit = c.bestHitRate !== null;
    out.push(
      table(
        ['strategy', 'p99 ratio', ...(withHit ? ['hit ratio'] : [])],
        c.rows.map((r) => [r.strategy, `${fmt(r.p99Ratio, 2)}x`, ...(withHit ? [r.hitRatio === null ? '-' : `${fmt(r.hitRatio, 2)}x`] : [])]),
      ),
    );
    out.push(`p99 ratio below 1: lower p99 than HAProxy's best${withHit ? '; hit ratio above 1: more cache hits' : ''}`);
  }
  out.push('');
  out.push("latency in ms from each request's intended start to the end of its response (open loop), as the load tester saw it;");
  if (repeated) out.push('with several runs per target: medians of the runs (p99 range: lowest and highest p99 of a run); errors and sent: sums;');
  out.push('extra% = attempts beyond one per request (hedges, retries, failovers; HAProxy: retries and redispatches) per 100 requests sent;');
  if (hasCpu) out.push("cpu ms/req = the balancer process's CPU time (user + system) in the measured window per request;");
  out.push(`max/avg = responses of the busiest server over the mean; errors = requests without a 2xx/3xx answer${hasCache ? '; hit% = X-Cache HIT among the responses' : ''}`);
  const warned = b.results.filter((r) => r.warnings.length > 0);
  if (warned.length > 0) {
    out.push('warnings:');
    for (const r of warned) for (const w of r.warnings) out.push(`  ${r.target}: ${w}`);
  }
  return out.join('\n');
}

export function formatBench(report: BenchReport): string {
  const parts = report.scenarios.map(formatScenario);
  const tail: string[] = [];
  if (report.interrupted) tail.push('interrupted: the run in progress was dropped; the tables show the runs that finished');
  tail.push(`peer: ${report.haproxy === null ? 'none (Ballast only)' : `${report.haproxy.version} (${report.haproxy.path})`}`);
  tail.push(`wall time ${(report.wallMs / 1000).toFixed(1)} s`);
  return [...parts, tail.join('\n')].join('\n\n') + '\n';
}
