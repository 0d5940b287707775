/**
 * The listener's features on two workers: TLS termination (a reload's new certificate reaches
 * every worker), PROXY protocol headers, WebSocket tunnels (counted in the shared in-flight
 * count and the main thread's statistics), and the access log (the main thread writes every
 * worker's lines to the one file).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import type { HttpProxy } from '../../src/proxy/http/server.js';
import { encodeV1 } from '../../src/proxy/proxy-protocol/encode.js';
import { selfSigned } from '../../src/proxy/tls/self-signed.js';
import { httpServer, local } from '../helpers/servers.js';
import { cleanups } from '../helpers/lifecycle.js';
import { testCertDir, tlsExchange } from '../tls/support.js';
import { closed, nextMessages, openWs, wsEchoServer } from '../tunnel/helpers.js';
import { eventually, get, holdingBackend, LISTEN_PATHS, startWorkers } from './helpers.js';

const certs = testCertDir();
const first = selfSigned(certs, 'first', 'localhost');
const second = selfSigned(certs, 'second', 'localhost');

for (const listen of LISTEN_PATHS) {
  test(`${listen.name}: workers terminate TLS, and a reload's new certificate reaches every worker`, async () => {
    const backend = await holdingBackend('a');
    const certFile = path.join(certs, `live-${listen.forceHandoff}.crt`);
    const keyFile = path.join(certs, `live-${listen.forceHandoff}.key`);
    copyFileSync(first.certFile, certFile);
    copyFileSync(first.keyFile, keyFile);
    const input = { listen: { host: '127.0.0.1', port: 0, tls: { cert: certFile, key: keyFile } }, servers: [local(backend.port)] };
    const lb = await startWorkers(input, listen.forceHandoff);
    const port = lb.ballast.address.port;
    // A connection each: the kernel spreads them over both workers.
    for (let i = 0; i < 6; i++) {
      const r = await tlsExchange(port, { rejectUnauthorized: false, servername: 'localhost' });
      assert.equal(r.status, 200);
      assert.equal(r.fingerprint, first.fingerprint);
    }

    copyFileSync(second.certFile, certFile);
    copyFileSync(second.keyFile, keyFile);
    lb.ballast.reload(parseConfig({ ...lb.ballast.config, ...input }));
    // A worker answers inspect() after the messages sent to it before, the reload included.
    assert.equal((await lb.plane!.inspect()).length, 2);
    for (let i = 0; i < 10; i++) {
      const r = await tlsExchange(port, { rejectUnauthorized: false, servername: 'localhost' });
      assert.equal(r.status, 200);
      assert.equal(r.fingerprint, second.fingerprint, `connection ${i} got the old certificate`);
    }
  });
}

test('a worker restarted while its certificate files are mid-rotation fails its start, and is tried again until they are whole', async () => {
  const backend = await holdingBackend('a');
  const certFile = path.join(certs, 'rotating.crt');
  const keyFile = path.join(certs, 'rotating.key');
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);
  const lb = await startWorkers({ listen: { host: '127.0.0.1', port: 0, tls: { cert: certFile, key: keyFile } }, servers: [local(backend.port)] });
  const plane = lb.plane!;
  // The new certificate is in place, its key not yet: a worker starting now cannot load them.
  copyFileSync(second.certFile, certFile);
  await plane.threads()[1]!.terminate();
  assert.ok(await eventually(async () => plane.status().restarts >= 2, 5_000), 'the restart failed and was tried again');
  assert.equal(plane.status().up, 1);
  copyFileSync(second.keyFile, keyFile);
  assert.ok(await eventually(async () => plane.status().up === 2, 10_000), 'the worker is back once the files match');
  // The other worker serves meanwhile, with the certificate it loaded.
  assert.equal((await tlsExchange(lb.ballast.address.port, { rejectUnauthorized: false, servername: 'localhost' })).status, 200);
});

test('workers read PROXY protocol headers: the client address from the header reaches the backend and the main thread\'s statistics', async () => {
  const backend = await httpServer((req, res) => res.end(String(req.headers['x-forwarded-for'])));
  cleanups.push(() => backend.close());
  const lb = await startWorkers({ listen: { host: '127.0.0.1', port: 0, proxyProtocol: true, proxyProtocolFrom: ['127.0.0.1/32'] }, servers: [local(backend.port)] });
  const port = lb.ballast.address.port;
  for (let i = 0; i < 6; i++) {
    const header = encodeV1({ source: `203.0.113.${i + 1}`, sourcePort: 4000 + i, destination: '198.51.100.9', destinationPort: 80 });
    const reply = await exchange(port, Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]));
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.ok(reply.endsWith(`203.0.113.${i + 1}`), reply);
  }
  // Without a header the connection is closed, on whichever worker took it.
  assert.equal(await exchange(port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), '');
  assert.ok(await eventually(async () => lb.ballast.stats.recentRequests(10).length === 6));
  assert.deepEqual(lb.ballast.stats.recentRequests(10).map((r) => r.client).sort(), [1, 2, 3, 4, 5, 6].map((i) => `203.0.113.${i}`));
});

test('a WebSocket tunnel on a worker counts in the shared in-flight count while open, and in the main thread\'s statistics once closed', async () => {
  const echo = await wsEchoServer();
  cleanups.push(() => echo.close());
  const lb = await startWorkers({ servers: [local(echo.port)] });
  const backend = lb.ballast.pool.backends[0]!;
  const ws = await openWs(`ws://127.0.0.1:${lb.ballast.address.port}/chat`);
  assert.equal(backend.inflight, 1, 'the main thread sees the tunnel a worker holds');
  ws.send('hello');
  assert.deepEqual((await nextMessages(ws, 1)).map(String), ['hello']);
  ws.close();
  await closed(ws);
  assert.ok(await eventually(async () => backend.inflight === 0), 'the tunnel left the count');
  assert.ok(await eventually(async () => lb.ballast.stats.counters().tunnels === 1), 'the tunnel reached the main thread\'s statistics');
});

test('the access log on workers: the main thread writes every worker\'s lines to the one file', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ballast-workers-access-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'access.log');
  const backend = await holdingBackend('a');
  const lb = await startWorkers({ servers: [local(backend.port)], accessLog: { enabled: true, path: file } });
  // Every line passes through the main thread; a worker writing the file itself would double them.
  const proxy = lb.ballast.proxy as HttpProxy;
  const write = proxy.writeAccessLines.bind(proxy);
  let forwarded = 0;
  proxy.writeAccessLines = (lines) => {
    forwarded += lines.length;
    write(lines);
  };
  const n = 20;
  for (let i = 0; i < n; i++) assert.equal((await get(`${lb.ballast.url}/p${i}`)).status, 200);
  const read = (): Array<Record<string, unknown>> =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
  assert.ok(await eventually(async () => read().length === n), `lines: ${read().length}`);
  const entries = read();
  assert.deepEqual(entries.map((e) => e.path).sort(), Array.from({ length: n }, (_, i) => `/p${i}`).sort());
  for (const e of entries) assert.equal(e.status, 200);
  assert.equal(forwarded, n);
});

/** Sends `payload` on a fresh connection and collects the reply until the balancer closes. */
function exchange(port: number, payload: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(payload));
    s.setTimeout(3_000, () => s.destroy());
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}
