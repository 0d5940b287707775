/**
 * Backpressure and the slow-read guard over TLS (TlsSocket keeps RawSocket's semantics): a
 * TLS client that stops reading for a while and reads on gets the whole large body (write()
 * said stop, drain said go on), and one that never reads is cut after clientIdleMs with its
 * backend attempt released (write progress, not writes, counts as activity).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { sleep, track, until } from '../helpers/lifecycle.js';
import { httpServer, local, startBallast } from '../helpers/servers.js';
import { selfSigned } from '../../src/proxy/tls/self-signed.js';
import { testCertDir } from './support.js';

const dir = testCertDir();
const cert = selfSigned(dir, 'slow');
const SIZE = 8 << 20;

const backend = track(
  await httpServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(SIZE) });
    const chunk = Buffer.alloc(64 * 1024, 120);
    let sent = 0;
    const pump = (): void => {
      while (sent < SIZE) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('error', () => {});
    pump();
  }),
);

function connect(port: number): tls.TLSSocket {
  const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' });
  s.on('error', () => {});
  return s;
}

test('a TLS client that pauses reading mid-body and reads on gets all of it', async () => {
  const lb = track(await startBallast({ listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } }, servers: [local(backend.port)] }));
  const s = connect(lb.address.port);
  let received = 0;
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('data', (c: Buffer) => (received += c.length));
  s.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await sleep(100);
  s.pause();
  await sleep(1_500);
  s.resume();
  await Promise.race([closed, sleep(10_000)]);
  assert.ok(received > SIZE, `the whole body arrived (${received} bytes of ${SIZE} + head)`);
});

test('a TLS client that never reads its response is cut after clientIdleMs, and the backend attempt ends', async () => {
  const IDLE = 500;
  const lb = track(
    await startBallast({ listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } }, servers: [local(backend.port)], timeouts: { clientIdleMs: IDLE } }),
  );
  const s = connect(lb.address.port);
  await new Promise<void>((r) => s.once('secureConnect', () => r()));
  s.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
  s.pause();
  assert.ok(await until(() => lb.proxy.connections().open === 1, 5_000), 'the request is being answered');
  assert.ok(await until(() => lb.proxy.connections().open === 0, IDLE * 10), 'the balancer dropped the non-reading client');
  assert.ok(await until(() => lb.pool.backends[0]!.inflight === 0, 2_000), 'the backend attempt ended');
  s.destroy();
});
