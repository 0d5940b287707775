/**
 * The benchmark's chart: the simulator's SVG of latency percentiles per strategy
 * (src/sim/chart.ts), fed with one bar group per target and retitled for a live run.
 */
import { renderChart } from '../sim/chart.js';
import type { SimulationReport } from '../sim/run.js';
import type { ScenarioBench } from './run.js';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function renderBenchChart(b: ScenarioBench): string {
  // The chart reads only the scenario's name, requests and rate, the seed, and each result's
  // label and percentiles.
  const shaped = {
    scenario: b.scenario,
    seed: b.seed,
    strategies: b.results.map((r) => r.target),
    results: b.results.map((r) => ({ strategy: r.target, latency: r.latency })),
    wallMs: 0,
  } as unknown as SimulationReport;
  const svg = renderChart(shaped);
  const runs = b.results.reduce((n, r) => Math.max(n, r.runs), 1);
  const perRun = Math.round(b.results.reduce((n, r) => Math.max(n, r.sent / r.runs), 0));
  // The simulator's title and subtitle are its first two <text> elements; say what this run was.
  const texts = [...svg.matchAll(/<text [^>]*>[^<]*<\/text>/g)];
  if (texts.length < 2) return svg;
  const retitle = (el: string, text: string): string => el.replace(/>[^<]*</, `>${esc(text)}<`);
  const title = retitle(texts[0]![0], `Live benchmark latency: scenario ${b.scenario.name}`);
  const rounds = runs > 1 ? `, medians of ${runs} runs` : '';
  const subtitle = retitle(texts[1]![0], `${b.arrivals} ${b.rate} req/s for ${b.durationS} s (${perRun} requests per run${rounds}), seed ${b.seed}; ms, log scale`);
  return svg.replace(texts[0]![0], title).replace(texts[1]![0], subtitle);
}
