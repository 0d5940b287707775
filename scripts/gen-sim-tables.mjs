#!/usr/bin/env node
/**
 * Regenerates what the docs show of the simulator, so no figure is edited by hand:
 *
 * 1. the tables between `<!-- sim-matrix KIND -->` and `<!-- /sim-matrix -->` in README.md and
 *    docs/comparison.md, from the same runs as `./bin/ballast simulate --scenario all --seed 1`
 *    (every named scenario, every strategy, 100 000 requests each);
 * 2. in every Markdown file under docs/, the output shown after each `$ ./bin/ballast simulate
 *    ...` line of a code block: the command is run again and its output replaces the old one,
 *    in the same shape (with or without the scenario header and the share table, as the page
 *    had it; never the legend or the wall-clock line).
 *
 * `npm run docs:sim` builds first. Arguments: Markdown files to limit step 2 to.
 *
 * KIND is one of p50, p99, p999, mean (latency, ms; best in bold), extra (attempts beyond one
 * per request, per 100), hit (cache hit rate in %, scenarios with a cache only; best in bold),
 * balance (busiest server over the mean) and failed (requests without an answer).
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { runSimulation, defaultStrategies } = await import(join(root, 'dist/src/sim/run.js'));
const { NAMED_SCENARIOS, resolveScenario } = await import(join(root, 'dist/src/sim/scenario.js'));

const SEED = 1;
const names = Object.keys(NAMED_SCENARIOS);
const strategies = defaultStrategies();
/** results[scenario][strategy] */
const results = {};
for (const name of names) {
  const report = runSimulation(resolveScenario(name), strategies, SEED);
  results[name] = Object.fromEntries(report.results.map((r) => [r.strategy, r]));
  process.stderr.write(`${name} done\n`);
}

const kinds = {
  p50: { value: (r) => r.latency.p50, digits: 1, best: 'min' },
  p99: { value: (r) => r.latency.p99, digits: 1, best: 'min' },
  p999: { value: (r) => r.latency.p999, digits: 1, best: 'min' },
  mean: { value: (r) => r.latency.mean, digits: 1, best: 'min' },
  extra: { value: (r) => r.extraLoadPercent, digits: 2, best: null },
  hit: { value: (r) => (r.cacheHitRate === null ? null : r.cacheHitRate * 100), digits: 1, best: 'max' },
  balance: { value: (r) => r.maxAvgLoad, digits: 2, best: null },
  failed: { value: (r) => r.failed, digits: 0, best: null },
};

function table(kind) {
  const k = kinds[kind];
  if (k === undefined) throw new Error(`unknown sim-matrix kind "${kind}"`);
  const cols = names.filter((n) => strategies.every((s) => k.value(results[n][s]) !== null));
  const cell = (n, s) => k.value(results[n][s]).toFixed(k.digits);
  const best = {};
  for (const n of cols) {
    if (k.best === null) continue;
    const shown = strategies.map((s) => Number(cell(n, s)));
    best[n] = k.best === 'min' ? Math.min(...shown) : Math.max(...shown);
  }
  const lines = [`| strategy | ${cols.join(' | ')} |`, `|---|${cols.map(() => '---:').join('|')}|`];
  for (const s of strategies) {
    const cells = cols.map((n) => {
      const c = cell(n, s);
      return best[n] !== undefined && Number(c) === best[n] ? `**${c}**` : c;
    });
    lines.push(`| ${s} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

for (const file of ['README.md', 'docs/comparison.md']) {
  const path = join(root, file);
  const text = readFileSync(path, 'utf8');
  const next = text.replace(/<!-- sim-matrix (\w+) -->\n[\s\S]*?<!-- \/sim-matrix -->/g, (_m, kind) => `<!-- sim-matrix ${kind} -->\n\n${table(kind)}\n\n<!-- /sim-matrix -->`);
  if (next !== text) writeFileSync(path, next);
  process.stderr.write(`${file}: ${next === text ? 'unchanged' : 'updated'}\n`);
}

// ---- 2. command outputs ----------------------------------------------------------------------

/** Splits a shell-like command line (double or single quotes, no escapes) into arguments. */
function argv(line) {
  const out = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(line)) !== null) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** The command's output shaped like `old` (the lines the page showed after the command). */
function fresh(command, old) {
  const args = argv(command).slice(1); // after ./bin/ballast
  const text = execFileSync(join(root, 'bin/ballast'), args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
  let lines = text.split('\n');
  const legend = lines.findIndex((l) => l.startsWith('latency in ms from arrival'));
  if (legend >= 0) lines = lines.slice(0, legend);
  if (!old.some((l) => l.startsWith('scenario '))) {
    const header = lines.findIndex((l) => l.startsWith('strategy '));
    if (header > 0) lines = lines.slice(header);
  }
  if (!old.some((l) => l.startsWith('share of attempts'))) {
    const share = lines.findIndex((l) => l.startsWith('share of attempts'));
    if (share >= 0) lines = lines.slice(0, share);
  }
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  return lines;
}

function refreshOutputs(path) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const out = [];
  let inBlock = false;
  let changed = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trimStart().startsWith('```')) inBlock = !inBlock;
    out.push(line);
    const cmd = line.trimStart();
    if (!inBlock || !cmd.startsWith('$ ./bin/ballast simulate')) continue;
    const indent = line.slice(0, line.length - cmd.length);
    // The old output: up to the next command or the end of the block, without trailing blanks.
    let j = i + 1;
    while (j < lines.length && !lines[j].trimStart().startsWith('$ ') && !lines[j].trimStart().startsWith('```')) j++;
    let end = j;
    while (end > i + 1 && lines[end - 1].trim() === '') end--;
    const old = lines.slice(i + 1, end).map((l) => l.slice(indent.length));
    const next = fresh(cmd.slice(2), old).map((l) => (l === '' ? '' : indent + l));
    if (next.join('\n') !== lines.slice(i + 1, end).join('\n')) changed = true;
    out.push(...next, ...lines.slice(end, j));
    i = j - 1;
  }
  if (changed) writeFileSync(path, out.join('\n'));
  process.stderr.write(`${path}: ${changed ? 'outputs updated' : 'outputs unchanged'}\n`);
}

const only = process.argv.slice(2);
const pages = only.length > 0 ? only.map((f) => join(root, f)) : [join(root, 'docs/comparison.md'), ...readdirSync(join(root, 'docs/strategies')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs/strategies', f))];
for (const page of pages) refreshOutputs(page);
