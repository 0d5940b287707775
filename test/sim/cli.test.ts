import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/cli/command.js';
import { simulateCommand } from '../../src/cli/commands/simulate.js';

// The CLI beside this test: compiled JS under dist/, or the TypeScript source under tsx.
const isTs = import.meta.url.endsWith('.ts');
const main = fileURLToPath(new URL(`../../src/cli/main.${isTs ? 'ts' : 'js'}`, import.meta.url));

/** Runs the command in this process, capturing what it prints (its writes are synchronous). */
async function simulate(args: string[]): Promise<string> {
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  let done: Promise<number>;
  try {
    done = simulateCommand.run(args);
  } finally {
    process.stdout.write = write;
  }
  assert.equal(await done, 0);
  return chunks.join('');
}

function ballast(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...(isTs ? ['--import', 'tsx'] : []), main, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

test('simulate --json: the same seed prints the same numbers; --chart writes an SVG', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-sim-'));
  try {
    const chart = join(dir, 'chart.svg');
    const args = ['--scenario', 'slow-server', '--requests', '3000', '--strategies', 'round_robin,least_connections', '--seed', '9', '--json'];
    const a = await simulate([...args, '--chart', chart]);
    const parsed = JSON.parse(a) as { scenario: { name: string }; seed: number; results: { strategy: string; requests: number; latency: { p99: number } }[] };
    assert.equal(parsed.scenario.name, 'slow-server');
    assert.equal(parsed.seed, 9);
    assert.deepEqual(parsed.results.map((r) => r.strategy), ['round_robin', 'least_connections']);
    assert.equal(parsed.results[0]!.requests, 3000);
    const b = await simulate(args);
    const strip = (s: string) => s.replace(/"wallMs": \d+/, '');
    assert.equal(strip(b), strip(a));
    const svg = readFileSync(chart, 'utf8');
    assert.match(svg, /^<svg /);
    assert.match(svg, /least_connections/);
    assert.match(svg, /<\/svg>\s*$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('simulate prints a table per scenario; --scenario-file and --set override fields', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-sim-'));
  try {
    const file = join(dir, 'scenario.json');
    writeFileSync(file, JSON.stringify({ servers: 3, service: { kind: 'fixed', ms: 5 } }));
    const out = await simulate(['--scenario', 'homogeneous', '--scenario-file', file, '--set', 'rate=100', '--requests', '2000', '--strategies', 'round_robin']);
    assert.match(out, /scenario homogeneous/);
    assert.match(out, /100\/s; 3 servers x 4 slots; service fixed 5 ms/);
    assert.match(out, /round_robin\s+5\.0\s+5\.0\s+5\.0\s+5\.0\s+5\.0/);
    assert.match(out, /s0\s+s1\s+s2\n/);
    const list = await simulate(['--list']);
    for (const name of ['homogeneous', 'slow-server', 'stragglers', 'heavy-tail', 'cache', 'scale-out', 'failure']) assert.match(list, new RegExp(`^${name}: `, 'm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('simulate: bad flags and scenarios are usage errors; the command exits 2', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--scenario', 'nope'], /unknown scenario "nope"/],
    [['--strategies', 'fastest'], /unknown strategy "fastest"/],
    [['--requests', '0'], /--requests/],
    [['--set', 'slots=-1'], /slots/],
    [['--set', 'cache.capacity=5'], /cache/],
    [['--scenario-file', '/nonexistent/x.json'], /cannot read/],
  ];
  for (const [args, message] of cases) {
    await assert.rejects(simulateCommand.run(args), (err) => err instanceof UsageError && message.test(err.message), args.join(' '));
  }
  for (const flag of ['--scenario', '--scenario-file', '--strategies', '--requests', '--seed', '--set', '--json', '--chart']) {
    assert.ok(simulateCommand.help.includes(flag), flag);
  }
  // The command is wired into `ballast`, and main.ts maps a bad flag to exit code 2.
  const r = await ballast(['simulate', '--bogus']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /bogus/);
});
