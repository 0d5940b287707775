/**
 * WebSocket tunnels end to end: a real `ws` client, Ballast, a real `ws` server, on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startAll } from '../../src/app/run.js';
import { silentLogger } from '../../src/util/log.js';
import { deadPort, httpServer, local, startBallast } from '../helpers/servers.js';
import { cleanups, track, until } from '../helpers/lifecycle.js';
import { closed, nextMessages, openWs, wsEchoServer } from './helpers.js';

const wsUrl = (lb: { address: { port: number } }, path = '/chat'): string => `ws://127.0.0.1:${lb.address.port}${path}`;

test('a WebSocket echoes through Ballast: many messages both ways, large ones intact', async () => {
  const server = track(await wsEchoServer());
  const lb = track(await startBallast({ servers: [local(server.port)] }));
  const ws = await openWs(wsUrl(lb, '/chat?room=1'));
  assert.equal(server.upgrades.length, 1);
  assert.equal(server.upgrades[0]!.upgrade, 'websocket');
  assert.match(String(server.upgrades[0]!['x-forwarded-for']), /127\.0\.0\.1/);

  const n = 500;
  const replies = nextMessages(ws, n);
  for (let i = 0; i < n; i++) ws.send(`message ${i}`);
  const got = await replies;
  assert.deepEqual(
    got.map((b) => b.toString()),
    Array.from({ length: n }, (_, i) => `message ${i}`),
  );

  // 4 MiB each way, binary, several frames in flight at once.
  const big = Buffer.alloc(4 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 255;
  const echoes = nextMessages(ws, 3);
  for (let i = 0; i < 3; i++) ws.send(big);
  for (const e of await echoes) assert.equal(Buffer.compare(e, big), 0);

  ws.close(1000, 'done');
  assert.equal(await closed(ws), 1000);
  assert.ok(await until(() => lb.pool.backends[0]!.inflight === 0), 'the tunnel left the in-flight count');
  assert.equal(lb.stats.counters().tunnels, 1);
  const f = lb.stats.backend(lb.pool.backends[0]!);
  assert.equal(f.statusClasses['1xx'], 1, 'the tunnel is one request with status 101');
  assert.ok(f.bytesIn > 3 * big.length && f.bytesOut > 3 * big.length, `bytes counted both ways (${f.bytesIn} in, ${f.bytesOut} out)`);
});

test('an open tunnel is in flight in /api/status and /api/servers, and 0 after it closes', async () => {
  const server = track(await wsEchoServer());
  const config = parseConfig({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    healthCheck: { enabled: false },
    strategy: 'least_connections',
    servers: [local(server.port)],
    timeouts: { shutdownMs: 200 },
  } satisfies ConfigInput);
  const running = await startAll(config, silentLogger());
  cleanups.push(() => running.stop());
  const api = async (path: string): Promise<Record<string, unknown>> => (await fetch(`${running.admin!.url}${path}`)).json() as Promise<Record<string, unknown>>;
  const serverInflight = async (): Promise<number> => ((await api('/api/servers')).servers as Array<{ inflight: number }>)[0]!.inflight;

  const a = await openWs(wsUrl(running.ballast));
  const b = await openWs(wsUrl(running.ballast));
  assert.equal((await api('/api/status')).inflight, 2);
  assert.equal(await serverInflight(), 2);
  a.close();
  await closed(a);
  assert.ok(await until(() => running.ballast.pool.totalInflight === 1));
  assert.equal((await api('/api/status')).inflight, 1);
  b.terminate();
  assert.ok(await until(() => running.ballast.pool.totalInflight === 0));
  assert.equal((await api('/api/status')).inflight, 0);
  assert.equal(await serverInflight(), 0);
});

test('least_connections sees open tunnels: new ones go to the backend with fewer', async () => {
  const s1 = track(await wsEchoServer());
  const s2 = track(await wsEchoServer());
  const lb = track(await startBallast({ servers: [local(s1.port), local(s2.port)], strategy: 'least_connections' }));
  const open = [];
  for (let i = 0; i < 6; i++) open.push(await openWs(wsUrl(lb)));
  assert.equal(s1.wss.clients.size, 3);
  assert.equal(s2.wss.clients.size, 3);
  // Close the three on s1: the next three all go there.
  for (const c of s1.wss.clients) c.close();
  assert.ok(await until(() => lb.pool.backends[0]!.inflight === 0));
  for (let i = 0; i < 3; i++) open.push(await openWs(wsUrl(lb)));
  assert.equal(s1.wss.clients.size, 3);
  assert.equal(s2.wss.clients.size, 3);
  for (const ws of open) ws.terminate();
});

test('a backend refusing the upgrade (403) is relayed as a normal response', async () => {
  const refusing = track(
    await httpServer((_req, res) => {
      res.writeHead(200).end('not an upgrade');
    }),
  );
  const lb = track(await startBallast({ servers: [local(refusing.port)] }));
  const refusingWs = track(await wsEchoServer());
  refusingWs.wss.options.verifyClient = (_info: unknown, done: (ok: boolean, code?: number, message?: string) => void) => done(false, 403, 'Forbidden');
  const lb2 = track(await startBallast({ servers: [local(refusingWs.port)] }));
  const err = (await openWs(wsUrl(lb2)).then(
    () => assert.fail('the upgrade should be refused'),
    (e: Error & { status?: number }) => e,
  )) as Error & { status?: number };
  assert.equal(err.status, 403);
  assert.ok(await until(() => lb2.pool.backends[0]!.inflight === 0));
  assert.equal(lb2.stats.counters().tunnels, 0);
  assert.equal(lb2.stats.backend(lb2.pool.backends[0]!).statusClasses['4xx'], 1);
  // A plain HTTP server that ignores Upgrade: its 200 is relayed too.
  const plain = await openWs(wsUrl(lb)).then(
    () => undefined,
    (e: Error & { status?: number }) => e.status,
  );
  assert.equal(plain, 200);
});

test('an upgrade fails over to another backend when the connect fails', async () => {
  const server = track(await wsEchoServer());
  const dead = await deadPort();
  const lb = track(await startBallast({ servers: [local(dead), local(server.port)] }));
  for (let i = 0; i < 4; i++) {
    const ws = await openWs(wsUrl(lb));
    const reply = nextMessages(ws, 1);
    ws.send(`hi ${i}`);
    assert.equal((await reply)[0]!.toString(), `hi ${i}`);
    ws.terminate();
  }
  assert.ok(lb.stats.counters().failovers >= 1);
});

test('a tunnel idle for tunnelIdleMs is closed', async () => {
  const server = track(await wsEchoServer());
  const lb = track(await startBallast({ servers: [local(server.port)], timeouts: { tunnelIdleMs: 300 } }));
  const ws = await openWs(wsUrl(lb));
  const reply = nextMessages(ws, 1);
  ws.send('still here');
  await reply;
  assert.equal(await closed(ws), 1006, 'closed by the balancer without a close frame');
  assert.ok(await until(() => lb.pool.backends[0]!.inflight === 0));
  assert.ok(await until(() => server.wss.clients.size === 0), 'the backend side is closed too');
});

test('a tunnel is closed after tunnelMaxMs even while busy', async () => {
  const server = track(await wsEchoServer());
  const lb = track(await startBallast({ servers: [local(server.port)], timeouts: { tunnelMaxMs: 400 } }));
  const ws = await openWs(wsUrl(lb));
  const ticker = setInterval(() => ws.readyState === ws.OPEN && ws.send('tick'), 20);
  try {
    assert.equal(await closed(ws), 1006);
  } finally {
    clearInterval(ticker);
  }
  assert.ok(await until(() => lb.pool.backends[0]!.inflight === 0));
});

test('a backend dying mid-tunnel closes the client side', async () => {
  const server = track(await wsEchoServer());
  const lb = track(await startBallast({ servers: [local(server.port)] }));
  const ws = await openWs(wsUrl(lb));
  const reply = nextMessages(ws, 1);
  ws.send('before');
  await reply;
  for (const c of server.wss.clients) c.terminate(); // the backend's socket is destroyed, no close frame
  await closed(ws);
  assert.ok(await until(() => lb.pool.backends[0]!.inflight === 0));
});

test('graceful stop lets an open tunnel work until the drain deadline, then closes it', async () => {
  const server = track(await wsEchoServer());
  const lb = await startBallast({ servers: [local(server.port)] });
  const ws = await openWs(wsUrl(lb));
  const stopping = lb.stop(1_000);
  // Still a working tunnel during the drain.
  const reply = nextMessages(ws, 1);
  ws.send('during the drain');
  assert.equal((await reply)[0]!.toString(), 'during the drain');
  await closed(ws);
  await stopping;
  assert.equal(lb.pool.backends[0]!.inflight, 0);
  assert.equal(lb.stats.counters().tunnels, 1);
});

test('h2c upgrades and CONNECT still get 501', async () => {
  const server = track(await wsEchoServer());
  const lb = track(await startBallast({ servers: [local(server.port)] }));
  const status = (headers: Record<string, string>, method = 'GET', path = '/'): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: lb.address.port, method, path, headers, agent: false });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve(res.statusCode!);
      });
      req.on('connect', (res, socket) => {
        socket.destroy();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
  assert.equal(await status({ connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAAP__' }), 501);
  assert.equal(await status({}, 'CONNECT', '127.0.0.1:1'), 501);
  assert.equal(server.upgrades.length, 0);
});
