/**
 * `ballast demo --tls` as a user runs it: it prints the https URL and the certificate's
 * SHA-256 fingerprint, serves HTTPS with that certificate (trusted through the printed file),
 * and SIGINT stops it with exit 0, removing the certificate and its key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deadPort } from '../helpers/servers.js';
import { cleanups, sleep, until } from '../helpers/lifecycle.js';
import { tlsExchange } from '../tls/support.js';

const bin = fileURLToPath(new URL('../../../bin/ballast', import.meta.url));

test('demo --tls: https URL and fingerprint printed, HTTPS served with that certificate, SIGINT exits 0 and removes the key', async () => {
  const port = await deadPort();
  const adminPort = await deadPort();
  const backendPort = await deadPort();
  const child = spawn(process.execPath, [bin, 'demo', '--tls', '--port', String(port), '--admin-port', String(adminPort), '--backend-port', String(backendPort), '--backends', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  cleanups.push(() => void child.kill('SIGKILL'));
  assert.ok(await until(() => out.includes('Ctrl-C stops everything'), 30_000), `the demo came up:\n${out}`);

  assert.match(out, new RegExp(`balancer +https://127\\.0\\.0\\.1:${port}`));
  const fingerprint = /SHA-256 fingerprint ([0-9A-F:]{95})/.exec(out)?.[1];
  assert.ok(fingerprint !== undefined, out);
  const certFile = /--cacert (\S+)/.exec(out)?.[1];
  assert.ok(certFile !== undefined && existsSync(certFile), out);

  // Backends are up after their health checks (rise 2, every second).
  let reply = { status: 0, fingerprint: '' };
  for (let i = 0; i < 50 && reply.status !== 200; i++) {
    reply = await tlsExchange(port, { ca: [readFileSync(certFile)], servername: 'localhost' });
    if (reply.status !== 200) await sleep(200);
  }
  assert.equal(reply.status, 200);
  assert.equal(reply.fingerprint, fingerprint);

  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 20_000))]);
  assert.equal(code, 0, `exit after SIGINT:\n${out.slice(-2000)}`);
  assert.equal(existsSync(certFile), false, 'the certificate and key are removed at exit');
});
