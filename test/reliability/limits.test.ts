/**
 * Client-side limits and draining (issue 4): limits.maxClientConnections caps the connections
 * held at once (the next one is closed at once, and counted), and an admin "disable" of a
 * backend drains it: no new requests, while the ones in flight finish.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { parseConfig } from '../../src/config/load.js';
import { startAll, type Running } from '../../src/app/run.js';
import { silentLogger } from '../../src/util/log.js';
import { getText, httpServer, local, request, startBallast, type TestServer } from '../helpers/servers.js';
import { sleep, waitFor } from './helpers.js';
import { cleanups } from '../helpers/lifecycle.js';

function open(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.resume();
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.once('connect', () => resolve({ socket, closed }));
  });
}

test('maxClientConnections: the connection over the limit is closed at once; room frees when one closes', async () => {
  const backend = await httpServer((_req, res) => res.end('ok'));
  cleanups.push(() => backend.close());
  const LIMIT = 10;
  const lb = await startBallast({ servers: [local(backend.port)], limits: { maxClientConnections: LIMIT } });
  cleanups.push(() => lb.stop(50));
  const held = [];
  for (let i = 0; i < LIMIT; i++) held.push(await open(lb.address.port));
  await sleep(50);
  const over = await open(lb.address.port);
  const dropped = await Promise.race([over.closed.then(() => true), sleep(1000).then(() => false)]);
  assert.ok(dropped, 'the connection over the limit was closed');
  assert.ok(held.every((h) => !h.socket.destroyed), 'the ones within the limit stay open');
  held.pop()!.socket.destroy();
  await sleep(50);
  const r = await request(`${lb.url}/`);
  assert.equal(r.status, 200, 'a freed slot serves a new connection');
  for (const h of held) h.socket.destroy();
});

interface Named extends TestServer {
  inflight: number;
}

async function slowNamed(name: string, delayMs: number): Promise<Named> {
  const state = { inflight: 0 };
  const server = await httpServer((req, res) => {
    req.resume();
    state.inflight++;
    setTimeout(() => {
      state.inflight--;
      res.end(name);
    }, delayMs);
  });
  cleanups.push(() => server.close());
  return Object.defineProperty(server, 'inflight', { get: () => state.inflight }) as Named;
}

test('disabling a backend through the admin API drains it: in-flight requests finish, new ones go elsewhere', async () => {
  const a = await slowNamed('a', 600);
  const b = await slowNamed('b', 0);
  const config = parseConfig({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    strategy: 'round_robin',
    healthCheck: { enabled: false },
    servers: [local(a.port), local(b.port)],
  });
  const running: Running = await startAll(config, silentLogger());
  cleanups.push(() => running.stop());
  const url = running.ballast.url;
  const inflight = Array.from({ length: 6 }, (_, i) => getText(`${url}/r${i}`));
  assert.ok(await waitFor(() => a.requests.length + b.requests.length >= 6, 3000), 'all six reached a backend');
  assert.ok(a.inflight >= 2, `requests in flight on a (${a.inflight})`);
  const onA = a.requests.length;
  const toggle = await fetch(`${running.admin!.url}/api/servers/toggle`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ host: '127.0.0.1', port: a.port }),
  });
  assert.equal(toggle.status, 200);
  const after = [];
  for (let i = 0; i < 10; i++) after.push(await getText(`${url}/after${i}`));
  assert.deepEqual(
    after.map((r) => r.body),
    Array(10).fill('b'),
    'no new request to the disabled backend',
  );
  const results = await Promise.all(inflight);
  assert.deepEqual(
    results.map((r) => r.status),
    Array(6).fill(200),
    'in-flight requests finished',
  );
  assert.equal(results.filter((r) => r.body === 'a').length, onA, 'those on the drained backend were answered by it');
  assert.equal(a.requests.length, onA);
  const view = (await (await fetch(`${running.admin!.url}/api/servers`)).json()) as { servers: Array<{ port: number; status: string; inflight: number }> };
  const aView = view.servers.find((s) => s.port === a.port)!;
  assert.equal(aView.status, 'disabled');
  assert.equal(aView.inflight, 0);
});

test('TCP mode: a connection idle in both directions for clientIdleMs is closed (HAProxy timeout client), an active one is not', async () => {
  const backend = await httpServer((_req, res) => res.end('ok'));
  cleanups.push(() => backend.close());
  const IDLE = 300;
  const lb = await startBallast({ mode: 'tcp', servers: [local(backend.port)], timeouts: { clientIdleMs: IDLE } });
  cleanups.push(() => lb.stop(50));
  const idle = await open(lb.address.port);
  // An active connection: a keep-alive request every 100 ms keeps it alive past the limit.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < 8; i++) {
    assert.equal((await request(`${lb.url}/`, { agent })).status, 200);
    await sleep(100);
  }
  agent.destroy();
  // One backend connection for the idle client, one for the active client's single connection.
  assert.equal(backend.connections(), 2, 'the active connection was never cut (no reconnect)');
  const closed = await Promise.race([idle.closed.then(() => true), sleep(IDLE * 4).then(() => false)]);
  idle.socket.destroy();
  assert.ok(closed, `the idle TCP connection was closed (still open ${IDLE * 4 + 800} ms after it went quiet)`);
});
