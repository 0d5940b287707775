/**
 * WebSocket tunnels over TLS: a wss:// client to Ballast terminating TLS (listen.tls) in front
 * of a plain ws backend, and a plain client through Ballast to a wss backend (servers[].tls),
 * with certificates made at test time (openssl; see test/tls/support.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { selfSigned } from '../../src/proxy/tls/self-signed.js';
import { local, startBallast } from '../helpers/servers.js';
import { cleanups, track, until } from '../helpers/lifecycle.js';
import { testCertDir } from '../tls/support.js';
import { closed, nextMessages, wsEchoServer } from './helpers.js';

const dir = testCertDir();
const cert = selfSigned(dir, 'ws', 'localhost', ['127.0.0.1']);
const ca = readFileSync(cert.certFile);

function openWss(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const options: WebSocket.ClientOptions = { ca }; // the certificate names 127.0.0.1 too
    const ws = new WebSocket(url, options);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

test('wss:// to Ballast terminating TLS, plain ws behind it: messages both ways, in flight while open', async () => {
  const server = track(await wsEchoServer());
  const lb = track(await startBallast({ listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } }, servers: [local(server.port)] }));
  const ws = await openWss(`wss://127.0.0.1:${lb.address.port}/secure`);
  assert.equal(server.upgrades[0]!['x-forwarded-proto'], 'https');
  assert.equal(lb.pool.backends[0]!.inflight, 1);
  const big = Buffer.alloc(1 << 20, 3);
  const replies = nextMessages(ws, 101);
  for (let i = 0; i < 100; i++) ws.send(`m${i}`);
  ws.send(big);
  const got = await replies;
  assert.equal(got[99]!.toString(), 'm99');
  assert.equal(Buffer.compare(got[100]!, big), 0);
  ws.close();
  await closed(ws);
  assert.ok(await until(() => lb.pool.backends[0]!.inflight === 0));
});

test('a plain client through Ballast to a wss backend (servers[].tls, verified with its CA)', async () => {
  const server = https.createServer({ cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (c) => c.on('message', (d, binary) => c.send(d, { binary })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  const lb = track(await startBallast({ servers: [{ ...local(port), tls: { ca: cert.certFile, servername: 'localhost' } }] }));
  const ws = new WebSocket(`ws://127.0.0.1:${lb.address.port}/to-tls`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const reply = nextMessages(ws, 1);
  ws.send('over tls to the backend');
  assert.equal((await reply)[0]!.toString(), 'over tls to the backend');
  ws.close();
  await closed(ws);
  assert.ok(await until(() => lb.pool.backends[0]!.inflight === 0));
});
