/**
 * The throughput benchmark's output: a Markdown table (to paste into docs/comparison.md as it
 * is) of each target's best round and its median at one connection, then Ballast's ratios to
 * HAProxy beside the goals.
 */
import { EFFICIENCY_GOALS } from './efficiency.js';
import { GOALS, TARGET_LABELS, type ThroughputReport } from './throughput.js';
import { formatTls } from './tls.js';

const ms = (v: number): string => v.toFixed(3);

/** What ran and how, in one paragraph. */
export function describeThroughput(r: ThroughputReport): string {
  const warm = r.warmupS > 0 ? ` after ${r.warmupS} s of warm-up` : '';
  const haproxy = r.haproxy === null ? 'HAProxy not run' : r.haproxy.version;
  return (
    `wrk -c${r.connections}, ${r.durationS} s per run${warm}, ${r.rounds} round${r.rounds === 1 ? '' : 's'} in alternating order (best kept), ` +
    `then ${r.singleS} s at one connection; balancers on CPU ${r.balancerCpus}, wrk and nginx on CPU ${r.loadCpus}; ${haproxy}`
  );
}

export function formatThroughput(r: ThroughputReport): string {
  const out: string[] = [describeThroughput(r), ''];
  out.push(`| target | req/s (c=${r.connections}) | p50 ms | p99 ms | p50 ms at c=1 | errors (all runs) |`);
  out.push('|---|---|---|---|---|---|');
  for (const row of r.rows) {
    // Errors of every run, not only the best: a target that drops requests in any round shows it.
    const errors = [...row.rounds, row.single].reduce((n, w) => n + w.errors, 0);
    out.push(`| ${row.label} | ${row.best.rps.toFixed(0)} | ${ms(row.best.p50)} | ${ms(row.best.p99)} | ${ms(row.single.p50)} | ${errors} |`);
  }
  out.push('');
  const { l7, l4, addedMedianMs } = r.ratios;
  if (l7 !== null) out.push(`Ballast L7 / HAProxy HTTP: ${l7.toFixed(2)}x   (goal >= ${GOALS.l7Ratio}x)`);
  if (l4 !== null) out.push(`Ballast L4 / HAProxy TCP:  ${l4.toFixed(2)}x   (goal >= ${GOALS.l4Ratio}x)`);
  if (addedMedianMs.ballastL7 !== null) {
    const peer = addedMedianMs.haproxyHttp === null ? '' : `; HAProxy HTTP ${ms(addedMedianMs.haproxyHttp)} ms`;
    out.push(`Median added at one connection: Ballast L7 ${ms(addedMedianMs.ballastL7)} ms (goal <= ${GOALS.addedMedianMs} ms)${peer}`);
  }
  if (r.tls !== null) out.push('', ...formatTls(r.tls, r.connections));
  if (r.cpu !== null) {
    out.push('');
    out.push(`CPU per request at ${r.cpu.rate} req/s (open loop, constant gaps, ${r.cpu.seconds} s; every thread of the balancer, from /proc):`);
    out.push('');
    out.push('| target | requests | failed | CPU ms | µs CPU per request |');
    out.push('|---|---|---|---|---|');
    for (const row of r.cpu.rows) out.push(`| ${TARGET_LABELS[row.target]} | ${row.requests} | ${row.failed} | ${row.cpuMs.toFixed(1)} | ${row.cpuUsPerRequest.toFixed(1)} |`);
    out.push('');
    if (r.cpu.ratios.l7 !== null) out.push(`CPU per request, Ballast L7 / HAProxy HTTP: ${r.cpu.ratios.l7.toFixed(2)}x   (goal <= ${EFFICIENCY_GOALS.cpuRatio}x)`);
    if (r.cpu.ratios.l4 !== null) out.push(`CPU per request, Ballast L4 / HAProxy TCP:  ${r.cpu.ratios.l4.toFixed(2)}x`);
  }
  if (r.idle !== null) {
    out.push('');
    out.push('RSS with idle keep-alive client connections (one request each, then idle):');
    out.push('');
    out.push('| target | idle clients | RSS at rest MB | RSS with them MB | KB per connection |');
    out.push('|---|---|---|---|---|');
    for (const row of r.idle.rows) out.push(`| ${TARGET_LABELS[row.target]} | ${row.connections} | ${row.restRssMb.toFixed(1)} | ${row.idleRssMb.toFixed(1)} | ${row.perConnectionKb.toFixed(2)} |`);
    out.push('');
    const b = r.idle.rows.find((row) => row.target === 'ballast-l7');
    const goal = r.idle.connections === EFFICIENCY_GOALS.idleConnections ? `   (goal <= ${EFFICIENCY_GOALS.idleRssMb} MB)` : '';
    if (b !== undefined) out.push(`Ballast L7 RSS with ${r.idle.connections} idle clients: ${b.idleRssMb.toFixed(1)} MB${goal}`);
    if (r.idle.ratio !== null) out.push(`KB per idle connection, Ballast L7 / HAProxy HTTP: ${r.idle.ratio.toFixed(2)}x`);
  }
  return out.join('\n') + '\n';
}
