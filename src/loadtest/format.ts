/**
 * Text for people: a load result as labelled lines, a stress result as a table of steps, and a
 * one-line progress bar for a terminal. Machines get the JSON of the result objects instead.
 */
import type { LoadProgress, LoadResult, StressResult } from './types.js';

/** Milliseconds to three significant figures, at least two decimals below 1. */
export function ms(x: number): string {
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function rate(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${((part / whole) * 100).toFixed(2)}%` : '-';
}

export function describeMode(r: LoadResult, bound?: { requests?: number | undefined; durationS?: number | undefined }): string {
  const limits: string[] = [];
  if (bound?.requests !== undefined) limits.push(`${bound.requests} requests`);
  if (bound?.durationS !== undefined) limits.push(`${bound.durationS} s`);
  const keys = r.keys === null ? '' : `, ${r.keys} keys (zipf ${r.zipf})`;
  const lim = limits.length > 0 ? `, ${limits.join(' or ')}` : '';
  if (r.openLoop === null) return `closed loop, ${r.connections} connections${lim}${keys}`;
  return `open loop, ${r.openLoop.targetRate} req/s ${r.openLoop.arrivals}, up to ${r.connections} connections${lim}${keys}`;
}

export function formatLoadResult(r: LoadResult, bound?: { requests?: number | undefined; durationS?: number | undefined }): string {
  const f = r.failed;
  const kinds = (
    [
      ['4xx', f.http4xx],
      ['5xx', f.http5xx],
      ['timeout', f.timeout],
      ['connection', f.connection],
      ['other status', f.otherStatus],
    ] as const
  ).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  const l = r.latencyMs;
  const lines: Array<[string, string]> = [
    ['Target', `${r.method} ${r.url}`],
    ['Mode', describeMode(r, bound)],
    ['Sent', String(r.sent)],
    ['Succeeded', `${r.succeeded} (${percent(r.succeeded, r.sent)})`],
    ['Failed', f.total === 0 ? '0' : `${f.total} (${percent(f.total, r.sent)}: ${kinds.join(', ')})`],
    ['Duration', `${r.durationS.toFixed(3)} s`],
    ['Throughput', `${rate(r.throughput)} req/s (succeeded ${rate(r.goodput)}/s)`],
    [
      'Latency',
      l.count === 0
        ? '-'
        : `min ${ms(l.min)}  mean ${ms(l.mean)}  p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  p99.9 ${ms(l.p999)}  max ${ms(l.max)} ms`,
    ],
  ];
  if (r.openLoop !== null) {
    const o = r.openLoop;
    lines.push(['Rate', `target ${o.targetRate} req/s, achieved ${rate(o.achievedRate)} req/s, latest start ${ms(o.maxStartLagMs)} ms late${o.held ? '' : ' (NOT HELD)'}`]);
  }
  if (r.cache) lines.push(['Cache', `${(r.cache.hitRate * 100).toFixed(1)}% hits (${r.cache.hits} HIT, ${r.cache.misses} MISS in X-Cache)`]);
  if (r.backends.length > 0) lines.push(['Backends', r.backends.map((b) => `${b.backend} ${(b.share * 100).toFixed(1)}%`).join('  ')]);
  const statuses = Object.entries(r.statusCodes);
  if (statuses.length > 0) lines.push(['Status', statuses.map(([s, n]) => `${s} x${n}`).join('  ')]);
  const errors = Object.entries(r.errorCodes);
  if (errors.length > 0) lines.push(['Errors', errors.map(([s, n]) => `${s} x${n}`).join('  ')]);
  lines.push(['Seed', String(r.seed)]);
  const out = lines.map(([k, v]) => `${k.padEnd(11)}${v}`);
  for (const w of r.warnings) out.push(`WARNING: ${w}`);
  return out.join('\n');
}

/** Left-aligned text table with two spaces between columns. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function formatStressResult(s: StressResult): string {
  const unit = s.ramp === 'connections' ? 'connections' : 'req/s';
  const rows = s.steps.map((st, i) => {
    const r = st.result;
    return [
      String(i + 1),
      String(st.level),
      String(r.sent),
      percent(r.failed.total, r.sent),
      rate(r.throughput),
      ms(r.latencyMs.p50),
      ms(r.latencyMs.p99),
      ms(r.latencyMs.max),
      st.held ? 'yes' : `no: ${st.reason}`,
    ];
  });
  const out = [
    `Thresholds: error rate <= ${(s.maxErrorRate * 100).toFixed(2)}%, p99 <= ${s.maxP99Ms} ms${s.ramp === 'rate' ? ', rate held' : ''}`,
    '',
    table(['step', unit, 'sent', 'errors', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'held'], rows),
    '',
  ];
  const k = s.knee;
  out.push(
    k === null
      ? 'Knee: none, the first step already failed'
      : `Knee: ${k.level} ${unit} (${rate(k.result.throughput)} req/s, p99 ${ms(k.result.latencyMs.p99)} ms, errors ${percent(k.result.failed.total, k.result.sent)})${k === s.steps.at(-1) ? '; every step held, so the real knee is at or above this: raise --max' : ''}`,
  );
  out.push(`Stopped: ${s.stoppedBy}`);
  out.push(`Seed: ${s.seed} (step n used seed + n - 1)`);
  return out.join('\n');
}

/** A single redrawn line on a terminal (carriage return, no scrolling). */
export class ProgressBar {
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream, private readonly width = 20) {}

  render(p: LoadProgress, prefix = ''): void {
    const filled = Math.round(p.fraction * this.width);
    const bar = '#'.repeat(filled) + '.'.repeat(this.width - filled);
    const rateNow = p.elapsedS > 0 ? p.done / p.elapsedS : 0;
    const count = p.total === null ? `${p.done}` : `${p.done}/${p.total}`;
    const line = `${prefix}[${bar}] ${(p.fraction * 100).toFixed(0).padStart(3)}% ${count} done ${p.elapsedS.toFixed(1)}s ${rate(rateNow)}/s ${p.failed} failed`;
    const cols = this.stream.columns ?? 100;
    this.stream.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
