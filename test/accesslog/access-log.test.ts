/**
 * The access log: its lines through a real Ballast, sampling, off by default, and a file
 * reopened on SIGUSR1 in a real `ballast start` process after a rename (what logrotate does).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.js';
import { AccessLog } from '../../src/accesslog/access-log.js';
import { deadPort, httpServer, local, namedBackend, request, startBallast } from '../helpers/servers.js';
import { cleanups, sleep, track, until } from '../helpers/lifecycle.js';
import { closed, nextMessages, openWs, wsEchoServer } from '../tunnel/helpers.js';

const bin = fileURLToPath(new URL('../../../bin/ballast', import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ballast-access-'));
cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));

function lines(file: string): Array<Record<string, unknown>> {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('one line per request with time, client, method, path, status, bytes, backend, attempts, hedged, duration', async () => {
  const file = path.join(tmp, 'fields.log');
  const a = track(await namedBackend('a'));
  const echo = track(
    await httpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      req.pipe(res);
    }),
  );
  const ws = track(await wsEchoServer());
  const dead = await deadPort();
  const lb = await startBallast({ servers: [{ ...local(a.port), name: 'alpha' }], accessLog: { enabled: true, path: file } });
  const echoLb = await startBallast({ servers: [local(dead), local(echo.port)], accessLog: { enabled: true, path: file } });
  const wsLb = await startBallast({ servers: [local(ws.port)], accessLog: { enabled: true, path: file } });

  const got = await request(`${lb.url}/things?id=7`);
  assert.equal(got.status, 200);
  for (let i = 0; i < 3; i++) {
    const posted = await request(`${echoLb.url}/echo`, { method: 'POST', body: 'x'.repeat(1000), headers: { 'content-length': '1000' } });
    assert.equal(posted.body.length, 1000);
  }
  const socket = await openWs(`ws://127.0.0.1:${wsLb.address.port}/live`);
  const reply = nextMessages(socket, 1);
  socket.send('y'.repeat(300));
  await reply;
  socket.close();
  await closed(socket);
  assert.ok(await until(() => wsLb.pool.totalInflight === 0));
  await Promise.all([lb.stop(50), echoLb.stop(50), wsLb.stop(50)]); // flushes the file

  const all = lines(file);
  assert.equal(all.length, 5, JSON.stringify(all));
  const get = all.find((l) => l.method === 'GET' && l.status === 200)!;
  assert.deepEqual(Object.keys(get), ['time', 'client', 'method', 'path', 'status', 'bytesIn', 'bytesOut', 'backend', 'attempts', 'hedged', 'durationMs']);
  assert.ok(!Number.isNaN(Date.parse(get.time as string)));
  assert.equal(get.client, '127.0.0.1');
  assert.equal(get.path, '/things?id=7');
  assert.equal(get.backend, 'alpha');
  assert.equal(get.attempts, 1);
  assert.equal(get.hedged, false);
  assert.equal(get.bytesIn, 0);
  assert.ok((get.bytesOut as number) > got.body.length, 'head and body counted');
  assert.equal(typeof get.durationMs, 'number');

  const posts = all.filter((l) => l.method === 'POST');
  for (const post of posts) {
    assert.equal(post.bytesIn, 1000);
    assert.equal(post.status, 200);
    assert.equal(post.backend, `127.0.0.1:${echo.port}`);
  }
  // Round robin sends at least one of the three to the dead backend first.
  assert.ok(
    posts.some((p) => p.attempts === 2),
    'a refused connect to the dead backend counts as an attempt',
  );

  const tunnel = all.find((l) => l.status === 101)!;
  assert.equal(tunnel.path, '/live');
  assert.ok((tunnel.bytesIn as number) > 300 && (tunnel.bytesOut as number) > 300, JSON.stringify(tunnel));
});

test('sampling logs the drawn share; sample 0 or enabled false builds no log at all', async () => {
  const file = path.join(tmp, 'sampled.log');
  // Draws 0.0, 0.1, ... 0.9 over and over: with sample 0.3, three in ten are logged.
  let i = 0;
  const log = AccessLog.create({ enabled: true, path: file, sample: 0.3 }, () => (i++ % 10) / 10)!;
  for (let n = 0; n < 100; n++) {
    if (log.sampled()) log.write({ client: 'c', method: 'GET', path: `/${n}`, status: 200, bytesIn: 0, bytesOut: 1, backend: null, attempts: 1, hedged: false, durationMs: 1 });
  }
  await log.close();
  assert.equal(lines(file).length, 30);
  assert.equal(AccessLog.create({ enabled: true, path: file, sample: 0 }), null);
  assert.equal(AccessLog.create({ enabled: false, path: file, sample: 1 }), null);
});

test('the access log is off by default', async () => {
  const config = parseConfig({ servers: [local(1)] });
  assert.deepEqual(config.accessLog, { enabled: false, path: null, sample: 1 });
  const a = track(await namedBackend('a'));
  const lb = track(await startBallast({ servers: [local(a.port)] }));
  assert.equal((lb.proxy as unknown as { px: { accessLog: unknown } }).px.accessLog, null);
});

test('a bad accessLog.sample is a config error naming the field', () => {
  assert.throws(() => parseConfig({ servers: [local(1)], accessLog: { sample: 2 } }), /accessLog\.sample/);
});

test('SIGUSR1 reopens the file: after a rename, new lines go to a new file at the path', { timeout: 30_000 }, async () => {
  const file = path.join(tmp, 'rotate.log');
  const a = track(await namedBackend('a'));
  const port = await deadPort();
  const configFile = path.join(tmp, 'rotate.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      admin: { enabled: false },
      healthCheck: { enabled: false },
      servers: [local(a.port)],
      accessLog: { enabled: true, path: file },
    }),
  );
  const child = spawn(process.execPath, [bin, 'start', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BALLAST_LOG_FORMAT: 'json' } });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  assert.ok(await until(() => stderr.includes('ballast listening'), 15_000), stderr);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 3; i++) assert.equal((await request(`${url}/before/${i}`)).status, 200);
  assert.ok(await until(() => lines(file).length === 3), 'the first lines are written');

  fs.renameSync(file, `${file}.1`);
  child.kill('SIGUSR1');
  assert.ok(await until(() => stderr.includes('access log reopened'), 10_000), stderr);
  for (let i = 0; i < 2; i++) assert.equal((await request(`${url}/after/${i}`)).status, 200);
  assert.ok(await until(() => lines(file).length === 2, 5_000), 'new lines go to the new file');
  assert.deepEqual(
    lines(`${file}.1`).map((l) => l.path),
    ['/before/0', '/before/1', '/before/2'],
  );
  assert.deepEqual(
    lines(file).map((l) => l.path),
    ['/after/0', '/after/1'],
  );
  assert.ok(child.exitCode === null, 'SIGUSR1 did not stop the process');
  assert.ok(!stderr.includes('Debugger listening'), 'SIGUSR1 did not open the inspector');
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await sleep(0);
});
