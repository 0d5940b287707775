/**
 * TLS files through the command line: `ballast start` with a missing or mismatched
 * certificate exits 2 naming the file, without a stack trace; `--check` reads them too; a
 * SIGHUP with a bad certificate is refused and the running one keeps serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanups, until } from '../helpers/lifecycle.js';
import { deadPort, httpServer } from '../helpers/servers.js';
import { track } from '../helpers/lifecycle.js';
import { selfSigned } from '../../src/proxy/tls/self-signed.js';
import { testCertDir, tlsExchange } from './support.js';

const bin = fileURLToPath(new URL('../../../bin/ballast', import.meta.url));
const dir = testCertDir();
const a = selfSigned(dir, 'a');
const b = selfSigned(dir, 'b');

function configFile(name: string, cert: string, key: string, port = 0, backend = 8081): string {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    `listen: { host: 127.0.0.1, port: ${port}, tls: { cert: ${JSON.stringify(cert)}, key: ${JSON.stringify(key)} } }\n` +
      `admin: { enabled: false }\nhealthCheck: { enabled: false }\nservers:\n  - { host: 127.0.0.1, port: ${backend} }\n`,
  );
  return file;
}

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 15_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('start with a key that does not match its certificate exits 2 naming both files, no stack trace; --check says the same', () => {
  const cfg = configFile('mismatch.yaml', a.certFile, b.keyFile);
  for (const args of [['start', '--config', cfg], ['start', '--config', cfg, '--check']]) {
    const r = run(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /listen\.tls\.key: .*b\.key does not match the certificate in .*a\.crt/);
    assert.doesNotMatch(r.err, /\n\s+at /);
  }
  const missing = run('start', '--config', configFile('missing.yaml', path.join(dir, 'gone.crt'), a.keyFile));
  assert.equal(missing.code, 2);
  assert.match(missing.err, /listen\.tls\.cert: cannot read .*gone\.crt: no such file/);
  assert.equal(run('start', '--config', configFile('good.yaml', a.certFile, a.keyFile), '--check').code, 0);
});

test('SIGHUP re-reads the certificate; a mismatched one is refused and the running one keeps serving', async () => {
  const backend = track(await httpServer((_req, res) => res.end('ok')));
  const port = await deadPort();
  const cert = path.join(dir, 'live.crt');
  const key = path.join(dir, 'live.key');
  copyFileSync(a.certFile, cert);
  copyFileSync(a.keyFile, key);
  const cfg = configFile('live.yaml', cert, key, port, backend.port);
  const child = spawn(process.execPath, [bin, 'start', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  cleanups.push(() => void child.kill('SIGKILL'));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  assert.ok(await until(() => out.includes('ballast listening'), 15_000), out);
  const fp = async () => (await tlsExchange(port, { rejectUnauthorized: false, servername: 'localhost' })).fingerprint;
  assert.equal(await fp(), a.fingerprint);

  copyFileSync(b.certFile, cert);
  copyFileSync(b.keyFile, key);
  child.kill('SIGHUP');
  assert.ok(await until(() => out.includes('config reloaded'), 10_000), out);
  assert.equal(await fp(), b.fingerprint);

  copyFileSync(a.keyFile, key);
  child.kill('SIGHUP');
  assert.ok(await until(() => /reload refused.*live\.key does not match/.test(out), 10_000), out);
  assert.equal(await fp(), b.fingerprint);

  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});
