/**
 * The simulator's text output: one row per strategy (latency percentiles, extra load, cache hit
 * rate, balance, failures), then each server's share of the attempts. Plain fixed-width text so
 * it pastes into a README code block unchanged.
 */
import type { SimulationReport } from './run.js';
import type { Scenario } from './scenario.js';

function fmt(v: number, digits = 1): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** One line describing the scenario's main parameters. */
export function describeScenario(s: Scenario): string {
  const svc = s.service;
  const service =
    svc.kind === 'fixed'
      ? `fixed ${svc.ms} ms`
      : svc.kind === 'exponential'
        ? `exponential mean ${svc.mean} ms`
        : svc.kind === 'lognormal'
          ? `lognormal median ${svc.median} ms sigma ${svc.sigma}`
          : svc.kind === 'pareto'
            ? `pareto scale ${svc.scale} ms alpha ${svc.alpha}${svc.cap === undefined ? '' : ` cap ${svc.cap} ms`}`
            : `bimodal ${svc.fastMs}/${svc.slowMs} ms (${svc.slowShare * 100}% slow)`;
  const parts = [
    `${s.requests} requests`,
    `${s.arrivals.kind === 'poisson' ? 'Poisson' : `bursty (x${s.arrivals.factor}, ${s.arrivals.burstMs} ms bursts, ${s.arrivals.share * 100}% of the time)`} at ${s.rate}/s`,
    `${s.servers} servers x ${s.slots} slots`,
    `service ${service}`,
  ];
  for (const o of s.overrides) {
    const bits = [o.factor !== undefined ? `x${o.factor} slower` : '', o.slots !== undefined ? `${o.slots} slots` : '', o.weight !== undefined ? `weight ${o.weight}` : '']
      .filter((b) => b !== '')
      .join(', ');
    parts.push(`s${o.server} ${bits}`);
  }
  if (s.stall.probability > 0) parts.push(`stall ${s.stall.probability * 100}% +${s.stall.ms} ms`);
  if (s.pause.probability > 0) parts.push(`pause ${s.pause.probability * 100}% of starts, ${s.pause.ms} ms`);
  if (s.keys !== null) parts.push(`keys Zipf(${s.keys.zipf}) over ${s.keys.count}`);
  if (s.cache !== null) parts.push(`LRU ${s.cache.capacity} keys/server, miss +${s.cache.missPenaltyMs} ms`);
  for (const e of s.events) {
    const what = e.action === 'join' ? `${e.count} join` : e.action === 'slow' ? `s${e.server} slows x${e.factor}` : `s${e.server} ${e.action}s`;
    parts.push(`${what} at ${Math.round(e.at * 100)}%`);
  }
  return parts.join('; ');
}

export function formatReport(report: SimulationReport): string {
  const s = report.scenario;
  const out: string[] = [];
  out.push(`scenario ${s.name}${s.description === '' ? '' : `: ${s.description}`}`);
  out.push(`  ${describeScenario(s)}; seed ${report.seed}`);
  out.push('');
  const hasCache = s.cache !== null;
  const header = ['strategy', 'p50', 'p90', 'p99', 'p99.9', 'mean', 'extra%', 'hedge%', 'retry%', ...(hasCache ? ['hit%'] : []), 'max/avg', 'failed'];
  const rows = report.results.map((r) => [
    r.strategy,
    fmt(r.latency.p50),
    fmt(r.latency.p90),
    fmt(r.latency.p99),
    fmt(r.latency.p999),
    fmt(r.latency.mean),
    fmt(r.extraLoadPercent, 2),
    fmt(r.hedgePercent, 2),
    fmt(r.retryPercent, 2),
    ...(hasCache ? [r.cacheHitRate === null ? '-' : fmt(r.cacheHitRate * 100)] : []),
    fmt(r.maxAvgLoad, 2),
    String(r.failed),
  ]);
  out.push(table(header, rows));
  out.push('');
  out.push('share of attempts per server (%)');
  const names: string[] = [];
  for (const r of report.results) for (const sv of r.servers) if (!names.includes(sv.name)) names.push(sv.name);
  const shareRows = report.results.map((r) => [
    r.strategy,
    ...names.map((n) => {
      const sv = r.servers.find((x) => x.name === n);
      return sv === undefined ? '-' : fmt(sv.share * 100);
    }),
  ]);
  out.push(table(['strategy', ...names], shareRows));
  const phased = report.results.filter((r) => r.phases.length > 0);
  if (phased.length > 0) {
    const phases = phased[0]!.phases;
    const share = (ms: number) => `${Math.round((ms / Math.max(1, phased[0]!.simulatedMs)) * 100)}%`;
    out.push('');
    out.push(`by phase of the timeline: ${phases.map((p) => `${p.phase} ${share(p.fromMs)}-${share(p.toMs)}`).join(', ')} of the run`);
    const head = ['strategy', ...(hasCache ? phases.map((p) => `hit% ${p.phase}`) : []), ...phases.map((p) => `lost ${p.phase}`)];
    const rows2 = phased.map((r) => [
      r.strategy,
      ...(hasCache ? r.phases.map((p) => (p.hitRate === null ? '-' : fmt(p.hitRate * 100))) : []),
      ...r.phases.map((p) => String(p.failed)),
    ]);
    out.push(table(head, rows2));
  }
  out.push('');
  out.push('latency in ms from arrival to response; extra% = attempts beyond one per request (hedges, retries and failovers) per 100 requests;');
  out.push('max/avg = attempts of the busiest server over the mean' + (hasCache ? '; hit% = server cache hits per lookup' : ''));
  return out.join('\n');
}
