/**
 * Reloading from a config file that is empty, truncated or still being written (runBallast,
 * in process, with the file source `ballast start` uses and an injected watch). Regression: a
 * watch-triggered reload read the file once, so a YAML prefix that still validated (a server
 * list cut between two items) was applied and removed the backends it had not reached yet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { configFileSource, type ConfigSource } from '../../src/config/load.js';
import { runBallast } from '../../src/app/run.js';
import type { Ballast } from '../../src/app/ballast.js';
import { namedBackend, type TestServer } from '../helpers/servers.js';
import { cleanups, track, until } from '../helpers/lifecycle.js';

interface Line {
  level: number;
  msg: string;
  why?: string;
  removed?: string[];
}

/** The servers as YAML, one block entry per server: the shape an editor or a template writes. */
function yaml(servers: TestServer[]): string {
  return [
    'listen: { host: 127.0.0.1, port: 0 }',
    'admin: { enabled: false }',
    'healthCheck: { enabled: false }',
    'strategy: round_robin',
    'servers:',
    ...servers.flatMap((s) => ['  - host: 127.0.0.1', `    port: ${s.port}`]),
    '',
  ].join('\n');
}

/** A balancer run from `file` as `ballast start` runs it; `changed()` plays a watch event. */
async function run(file: string, source: ConfigSource = configFileSource(file)) {
  const lines: Line[] = [];
  const log = pino({ level: 'info', base: undefined }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  let changed = (): void => {};
  let stop!: () => void;
  const stopSignal = new Promise<void>((r) => (stop = r));
  let ballast!: Ballast;
  let done!: Promise<number>;
  const ready = new Promise<void>((r) => {
    done = runBallast(source.parse(source.read()), {
      reloadSource: source,
      watch: (onChange) => {
        changed = onChange;
        return () => {};
      },
      log,
      stopSignal,
      onReady: (b) => {
        ballast = b;
        r();
      },
    });
  });
  await ready;
  cleanups.push(async () => {
    stop();
    await done;
  });
  const ports = () => ballast.pool.backends.map((b) => b.port);
  return { lines, changed: () => changed(), ports, refusals: () => lines.filter((l) => /^reload refused/.test(l.msg)) };
}

function tempFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-reload-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ballast.yaml');
  writeFileSync(file, text);
  return file;
}

test('watch: a file caught half-written, whose prefix validates with fewer servers, is applied only once whole', async () => {
  const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((n) => namedBackend(n).then(track)));
  const file = tempFile(yaml([a!, b!, c!]));
  const whole = yaml([a!, b!, c!, d!]);
  // A writer in progress: the first read finds the new file cut after the first server (valid
  // YAML, valid config), and the rest lands before the next read.
  const prefix = whole.slice(0, whole.indexOf(`  - host: 127.0.0.1\n    port: ${b!.port}`));
  assert.deepEqual(configFileSource(file).parse(prefix).servers.map((s) => s.port), [a!.port], 'the prefix is a valid config');
  const inner = configFileSource(file);
  let reads = 0;
  const writing: ConfigSource = {
    read: () => {
      const text = inner.read();
      if (++reads === 2) writeFileSync(file, whole);
      return text;
    },
    parse: inner.parse,
  };
  const lb = await run(file, writing);
  writeFileSync(file, prefix);
  lb.changed();
  assert.ok(await until(() => lb.lines.some((l) => l.msg === 'config reloaded'), 5_000), 'reloaded');
  assert.deepEqual(lb.ports(), [a!, b!, c!, d!].map((s) => s.port), 'the whole file applied');
  const reloads = lb.lines.filter((l) => l.msg === 'config reloaded');
  assert.equal(reloads.length, 1, 'one reload, of the whole file');
  assert.deepEqual(reloads[0]!.removed, [], 'no server was removed on the way');
});

test('an empty file, a file cut mid-entry and a file cut to new servers only are refused; the running servers stay', async () => {
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => namedBackend(n).then(track)));
  const file = tempFile(yaml([a!, b!]));
  const lb = await run(file);
  const running = [a!.port, b!.port];
  // New server c listed first, the file cut after it: valid, but it keeps none of the running servers.
  const newFirst = yaml([c!, a!, b!]);
  const old = yaml([a!, b!]);
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /expected a mapping/],
    ['cut mid-entry', old.slice(0, old.lastIndexOf('    port:')), /servers\[1\]\.port: expected number/],
    ['cut mid-word', old.slice(0, old.lastIndexOf('    port:') + 6), /not valid YAML/],
    ['cut to new servers only', newFirst.slice(0, newFirst.indexOf(`  - host: 127.0.0.1\n    port: ${a!.port}`)), /keeps none of the 2 running servers/],
  ];
  for (const [why, text, message] of cases) {
    writeFileSync(file, text);
    for (const trigger of ['SIGHUP', 'config file changed'] as const) {
      const before = lb.refusals().length;
      if (trigger === 'SIGHUP') process.emit('SIGHUP');
      else lb.changed();
      assert.ok(await until(() => lb.refusals().length === before + 1, 5_000), `${why} (${trigger}): refused`);
      const line = lb.refusals().at(-1)!;
      assert.equal(line.why, trigger);
      assert.ok(line.level >= 50, 'logged as an error');
      assert.match(line.msg, message, `${why} (${trigger})`);
      assert.deepEqual(lb.ports(), running, `${why} (${trigger}): the running servers stay`);
    }
  }
  assert.ok(!lb.lines.some((l) => l.msg === 'config reloaded'));
});
