/**
 * `ballast demo --fleet` as a user runs it: a local etcd, three balancers and the backends come
 * up, all three send a key to the same backend, `ballast fleet` lists the three instances on
 * the view in force, and Ctrl-C (SIGINT) stops everything with exit 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { getText, freePortBlock } from '../helpers/servers.js';
import { cleanups, sleep, until } from '../helpers/lifecycle.js';
import http from 'node:http';

const bin = fileURLToPath(new URL('../../../bin/ballast', import.meta.url));

function backendOf(url: string, key: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers: { 'x-key': key } }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.headers['x-backend'])));
      })
      .on('error', reject);
  });
}

test('demo --fleet: three balancers on one etcd agree on every key; ballast fleet lists them; SIGINT stops it all', async () => {
  // The demo listens at fixed offsets: balancers at +0, +100, +200 (admin +10 each), so one
  // block of free ports holds everything: backends at +20..+22, etcd at +30 (peer +31).
  const port = await freePortBlock(211);
  const backendPort = port + 20;
  const etcdPort = port + 30;
  const child = spawn(process.execPath, [bin, 'demo', '--fleet', '--port', String(port), '--backend-port', String(backendPort), '--etcd-port', String(etcdPort)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  cleanups.push(() => void child.kill('SIGKILL'));
  assert.ok(await until(() => out.includes('Ctrl-C stops everything'), 30_000), `the demo came up:\n${out}`);

  const urls = [port, port + 100, port + 200].map((p) => `http://127.0.0.1:${p}/`);
  // Each instance takes the servers once their health checks pass (rise 2, every second).
  const allServe = async () => (await Promise.all(urls.map((u) => getText(u)))).every((r) => r.status === 200);
  let serving = false;
  for (let i = 0; i < 50 && !serving; i++) {
    serving = await allServe();
    if (!serving) await sleep(200);
  }
  assert.ok(serving, 'all three serve');
  for (const key of ['user-1', 'user-2', 'user-3', 'user-42', 'cart-7']) {
    const seen = new Set(await Promise.all(urls.map((u) => backendOf(u, key))));
    assert.equal(seen.size, 1, `${key} went to ${[...seen].join(' and ')}`);
  }

  const fleet = spawnSync(process.execPath, [bin, 'fleet', '--etcd', `http://127.0.0.1:${etcdPort}`, '--prefix', '/ballast/demo'], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(fleet.status, 0, fleet.stderr);
  assert.match(fleet.stdout, /instances \(3\):/);
  assert.equal((fleet.stdout.match(/ current$/gm) ?? []).length, 3, fleet.stdout);

  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 20_000))]);
  assert.equal(code, 0, `exit after SIGINT:\n${out.slice(-2000)}`);
});
