import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../../bin/ballast', import.meta.url));

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 15_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('ballast --help lists the commands; each command has --help', () => {
  const top = run('--help');
  assert.equal(top.code, 0);
  for (const name of ['start', 'demo', 'backend', 'loadtest', 'stresstest', 'simulate']) {
    assert.match(top.out, new RegExp(`^  ${name}\\b`, 'm'), `${name} listed`);
    const sub = run(name, '--help');
    assert.equal(sub.code, 0, `${name} --help exits 0`);
    assert.match(sub.out, /Usage: ballast /);
  }
});

test('bad usage exits 2 with a message, no stack trace', () => {
  for (const args of [['nope'], ['start'], ['start', '--bogus'], ['backend', '--port', 'x'], []]) {
    const r = run(...args);
    assert.equal(r.code, 2, `${args.join(' ')} exits 2`);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
});

test('a bad config file exits 2 naming the file and the field, no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-cli-'));
  const cfg = join(dir, 'bad.yaml');
  writeFileSync(cfg, 'servers:\n  - { host: 127.0.0.1, port: 8081, wieght: 3 }\nstrategy: fastest\n');
  const r = run('start', '--config', cfg);
  assert.equal(r.code, 2);
  assert.match(r.err, /bad\.yaml/);
  assert.match(r.err, /servers\[0\]\.wieght: unknown key/);
  assert.match(r.err, /strategy: expected one of/);
  assert.doesNotMatch(r.err, /\n\s+at /);

  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'servers:\n  - { host: 127.0.0.1, port: 8081 }\n');
  const check = run('start', '--config', good, '--check');
  assert.equal(check.code, 0);
  assert.match(check.out, /is valid/);
});

test('tcp mode refuses a strategy that needs HTTP requests, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-cli-'));
  const cfg = join(dir, 'tcp.yaml');
  writeFileSync(cfg, 'mode: tcp\nstrategy: beta1\nlisten: { port: 0 }\nadmin: { enabled: false }\nhealthCheck: { enabled: false }\nservers:\n  - { host: 127.0.0.1, port: 8081 }\n');
  const r = run('start', '--config', cfg);
  assert.equal(r.code, 2);
  assert.match(r.err, /beta1.*needs HTTP requests.*tcp mode/);
});

test('an admin port beyond loopback without a token exits 2 naming the keys, no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-cli-'));
  const cfg = join(dir, 'exposed.yaml');
  writeFileSync(cfg, 'admin: { host: 0.0.0.0 }\nservers:\n  - { host: 127.0.0.1, port: 8081 }\n');
  for (const args of [['start', '--config', cfg, '--check'], ['start', '--config', cfg]]) {
    const r = run(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, /exposed\.yaml/);
    assert.match(r.err, /admin\.host: 0\.0\.0\.0 is beyond loopback/);
    assert.match(r.err, /admin\.token/);
    assert.match(r.err, /admin\.allowInsecure/);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }

  const insecure = join(dir, 'insecure.yaml');
  writeFileSync(insecure, 'admin: { host: 0.0.0.0, allowInsecure: true }\nservers:\n  - { host: 127.0.0.1, port: 8081 }\n');
  const check = run('start', '--config', insecure, '--check');
  assert.equal(check.code, 0, check.err);
  assert.match(check.out, /is valid/);
});
