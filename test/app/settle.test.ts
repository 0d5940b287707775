/**
 * SettledReads, the wait before a watch-triggered reload: a file is reloaded only once two
 * reads in a row agree, so a half-written prefix seen by the first read is never applied.
 * The reads are scripted (what a writer in progress would leave on disk at each read).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SettledReads } from '../../src/app/settle.js';
import { sleep, until } from '../helpers/lifecycle.js';

const INTERVAL = 10;

/** Reads `script` one entry per read (an Error is thrown), repeating the last one. */
function harness(script: Array<string | Error>, intervalMs = INTERVAL) {
  let reads = 0;
  const settled: string[] = [];
  const failed: string[] = [];
  const s = new SettledReads(
    () => {
      const x = script[Math.min(reads++, script.length - 1)]!;
      if (x instanceof Error) throw x;
      return x;
    },
    intervalMs,
    { settled: (t) => settled.push(t), failed: (e) => failed.push((e as Error).message) },
  );
  return { s, settled, failed, reads: () => reads };
}

test('a prefix seen by the first read is not applied: the text that reads the same twice is', async () => {
  const { s, settled, failed, reads } = harness(['servers:\n  - {host: a, port: 1}\n', 'servers:\n  - {host: a, port: 1}\n  - {host: b, port: 2}\n']);
  s.changed();
  assert.ok(await until(() => settled.length === 1));
  assert.deepEqual(settled, ['servers:\n  - {host: a, port: 1}\n  - {host: b, port: 2}\n']);
  assert.deepEqual(failed, []);
  assert.equal(reads(), 3, 'prefix, whole, whole');
  await sleep(INTERVAL * 5);
  assert.equal(reads(), 3, 'nothing more is read until the next change');
});

test('a file that stays empty or unreadable is reported once, after two reads agree', async () => {
  const empty = harness(['']);
  empty.s.changed();
  assert.ok(await until(() => empty.settled.length === 1));
  assert.deepEqual(empty.settled, [''], 'an empty file is handed on (and refused by validation)');

  const gone = harness([new Error('cannot read config x: no such file')]);
  gone.s.changed();
  assert.ok(await until(() => gone.failed.length === 1));
  assert.deepEqual(gone.failed, ['cannot read config x: no such file']);
  assert.deepEqual(gone.settled, []);

  // Missing for a moment (deleted, then written again) is not an error.
  const back = harness([new Error('no such file'), 'servers: []\n']);
  back.s.changed();
  assert.ok(await until(() => back.settled.length === 1));
  assert.deepEqual(back.failed, []);
});

test('a change event restarts the wait; stop cancels it', async () => {
  const { s, settled, reads } = harness(['a'], 200);
  s.changed();
  for (let i = 0; i < 5; i++) {
    await sleep(20);
    s.changed();
  }
  assert.equal(reads(), 0, 'no read while events keep coming');
  assert.ok(await until(() => settled.length === 1));
  s.changed();
  s.stop();
  await sleep(500);
  assert.equal(settled.length, 1);
});
