import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UsageError, type Command } from '../../src/cli/command.js';
import { loadtestCommand } from '../../src/cli/commands/loadtest.js';
import { stresstestCommand } from '../../src/cli/commands/stresstest.js';
import { startServer } from './helpers.js';

// The CLI beside this test: compiled JS under dist/, or the TypeScript source under tsx.
const isTs = import.meta.url.endsWith('.ts');
const main = fileURLToPath(new URL(`../../src/cli/main.${isTs ? 'ts' : 'js'}`, import.meta.url));

function ballast(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...(isTs ? ['--import', 'tsx'] : []), main, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

/** What main.ts turns into exit code 2: a UsageError or one of parseArgs' errors. */
function isUsageFailure(err: unknown): boolean {
  return err instanceof UsageError || String((err as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');
}

test('bad flags are usage errors, naming the problem', async () => {
  const cases: Array<[Command, string[], RegExp]> = [
    [loadtestCommand, [], /--url is required/],
    [loadtestCommand, ['--url', 'nope'], /--url/],
    [loadtestCommand, ['--url', 'http://127.0.0.1:9/', '--bogus'], /bogus/],
    [loadtestCommand, ['--url', 'http://127.0.0.1:9/', '-c', '0'], /--connections/],
    [loadtestCommand, ['--url', 'http://127.0.0.1:9/', '--duration', 'soon'], /--duration/],
    [loadtestCommand, ['--url', 'http://127.0.0.1:9/', '--zipf', '1'], /--zipf needs --keys/],
    [loadtestCommand, ['--url', 'http://127.0.0.1:9/', '--arrivals', 'constant'], /--arrivals needs --rate/],
    [loadtestCommand, ['--url', 'http://127.0.0.1:9/', '--header', 'no colon'], /--header/],
    [stresstestCommand, ['--url', 'http://127.0.0.1:9/', '--start', '50', '--max', '10'], /max/],
    [stresstestCommand, ['--url', 'http://127.0.0.1:9/', '--ramp', 'sideways'], /--ramp/],
    [stresstestCommand, ['--url', 'http://127.0.0.1:9/', '--max-error-rate', '120'], /--max-error-rate/],
  ];
  for (const [command, args, message] of cases) {
    await assert.rejects(command.run(args), (err) => isUsageFailure(err) && message.test((err as Error).message), `${command.name} ${args.join(' ')}`);
  }
});

test('the ballast command exits 2 on bad flags', async () => {
  for (const args of [['loadtest', '--url', 'http://127.0.0.1:9/', '--bogus'], ['stresstest', '--url', 'http://127.0.0.1:9/', '--step', '-1']]) {
    const r = await ballast(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /--help/);
  }
});

test('loadtest --help describes the flags', async () => {
  const r = await ballast(['loadtest', '--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--connections', '--requests', '--duration', '--rate', '--arrivals', '--keys', '--zipf', '--header', '--body', '--timeout', '--new-connection', '--json', '--seed']) {
    assert.ok(r.stdout.includes(flag), flag);
  }
});

test('loadtest --json prints one object whose counts add up', async () => {
  let served = 0;
  const srv = await startServer((_req, res) => {
    served++;
    res.setHeader('X-Backend', 'only:1');
    res.end('ok');
  });
  try {
    const r = await ballast(['loadtest', '--url', srv.url + '/', '-n', '120', '-c', '3', '--json', '--seed', '7']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.sent, 120);
    assert.equal(out.succeeded, 120);
    assert.equal(served, 120);
    assert.equal(out.seed, 7);
    assert.deepEqual(out.backends, [{ backend: 'only:1', count: 120, share: 1 }]);
    const text = await ballast(['loadtest', '--url', srv.url + '/', '-n', '30']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /Succeeded\s+30 \(100\.00%\)/);
    assert.match(text.stdout, /Backends\s+only:1 100\.0%/);
  } finally {
    await srv.close();
  }
});
