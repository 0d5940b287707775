/**
 * An SVG chart of latency percentiles per strategy: one group of bars per strategy (p50, p90,
 * p99, p99.9) on a logarithmic axis, since tails are often ten times the median. Hand-written
 * SVG: no dependency, readable in any browser and on GitHub.
 */
import type { SimulationReport } from './run.js';

const PERCENTILES = [
  { key: 'p50', label: 'p50', color: '#9ecae1' },
  { key: 'p90', label: 'p90', color: '#4292c6' },
  { key: 'p99', label: 'p99', color: '#08519c' },
  { key: 'p999', label: 'p99.9', color: '#08306b' },
] as const;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Tick values 1, 2, 5 x 10^k covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out;
}

/** Largest 1, 2 or 5 x 10^k at or below v. */
function niceBelow(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  return v >= 5 * e ? 5 * e : v >= 2 * e ? 2 * e : e;
}

/** Smallest 1, 2 or 5 x 10^k at or above v. */
function niceAbove(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  return v <= e ? e : v <= 2 * e ? 2 * e : v <= 5 * e ? 5 * e : 10 * e;
}

export function renderChart(report: SimulationReport): string {
  const results = report.results;
  const bar = 16;
  const gap = 28;
  const groupW = PERCENTILES.length * bar + gap;
  const left = 64;
  const top = 72;
  const plotH = 300;
  const bottom = 100;
  const width = Math.max(480, left + results.length * groupW + 24);
  const height = top + plotH + bottom;

  let lo = Infinity;
  let hi = 0;
  for (const r of results) {
    for (const p of PERCENTILES) {
      const v = r.latency[p.key];
      if (v > 0) lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!Number.isFinite(lo)) {
    lo = 1;
    hi = 10;
  }
  // Below the smallest value, so even the shortest bar shows.
  const yMin = niceBelow(lo / 1.5);
  const yMax = niceAbove(Math.max(hi, yMin * 2));
  const y = (v: number) => top + plotH - ((Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH;

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  const s = report.scenario;
  parts.push(`<text x="${left}" y="20" font-size="15" font-weight="600">${esc(`Simulated latency: scenario ${s.name}`)}</text>`);
  parts.push(`<text x="${left}" y="37" fill="#555">${esc(`${s.requests} requests at ${s.rate}/s, seed ${report.seed}; ms, log scale`)}</text>`);
  for (const t of ticks(yMin, yMax)) {
    const ty = y(t).toFixed(1);
    parts.push(`<line x1="${left}" x2="${width - 16}" y1="${ty}" y2="${ty}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${left - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle" fill="#555">${t}</text>`);
  }
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#999"/>`);
  results.forEach((r, i) => {
    const gx = left + gap / 2 + i * groupW;
    PERCENTILES.forEach((p, j) => {
      const v = r.latency[p.key];
      const by = y(v);
      const x = gx + j * bar;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${by.toFixed(1)}" width="${bar - 2}" height="${(top + plotH - by).toFixed(1)}" fill="${p.color}"><title>${esc(`${r.strategy} ${p.label}: ${v.toFixed(1)} ms`)}</title></rect>`,
      );
    });
    const cx = gx + (PERCENTILES.length * bar) / 2;
    parts.push(`<text x="${cx.toFixed(1)}" y="${top + plotH + 14}" text-anchor="end" transform="rotate(-30 ${cx.toFixed(1)} ${top + plotH + 14})">${esc(r.strategy)}</text>`);
  });
  // Legend under the subtitle, clear of the rotated strategy names under the axis.
  PERCENTILES.forEach((p, j) => {
    const lx = left + j * 64;
    const ly = 58;
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${p.color}"/>`);
    parts.push(`<text x="${lx + 16}" y="${ly}">${p.label}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
