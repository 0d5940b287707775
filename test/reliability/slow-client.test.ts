/**
 * Slow clients on the request body side: an upload that is slow but steady must succeed,
 * however long it takes (only the client's idle timeout bounds it, between reads, like nginx's
 * client_body_timeout); a body that stops arriving gets 408 after timeouts.clientIdleMs, and
 * neither counts against the backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { httpServer, local, startBallast } from '../helpers/servers.js';
import { sleep } from './helpers.js';
import { cleanups } from '../helpers/lifecycle.js';

async function countingBackend() {
  const aborted: string[] = [];
  const server = await httpServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(`got ${n}`));
    req.on('error', () => {});
    req.on('close', () => {
      if (!req.complete) aborted.push(req.url!);
    });
  });
  cleanups.push(() => server.close());
  return { ...server, aborted };
}

/** A backend answering every request with `size` bytes, written as fast as the connection drains. */
function bigBodyBackend(size: number) {
  return httpServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(size) });
    const chunk = Buffer.alloc(64 * 1024, 120);
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('error', () => {}); // a client cut mid-body is what some tests here do
    pump();
  });
}

test('a request body slower than connectMs still goes through (the connect deadline ends at connect)', async () => {
  const backend = await countingBackend();
  const lb = await startBallast({ servers: [local(backend.port)], timeouts: { connectMs: 300, clientIdleMs: 2000 } });
  cleanups.push(() => lb.stop(50));
  const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(`${lb.url}/upload`, { method: 'POST', agent: false, headers: { 'content-length': '10' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    let sent = 0;
    const drip = setInterval(() => {
      req.write('x');
      if (++sent === 10) {
        clearInterval(drip);
        req.end();
      }
    }, 120);
    req.on('close', () => clearInterval(drip));
  });
  assert.deepEqual(result, { status: 200, body: 'got 10' }, 'a 1.2 s upload with connectMs 300');
  assert.equal(lb.pool.backends[0]!.consecutiveFailures, 0, 'a slow client is not a backend failure');
});

test('a request body that stops arriving gets 408 after clientIdleMs; the backend is not blamed', async () => {
  const backend = await countingBackend();
  const IDLE = 500;
  const lb = await startBallast({ servers: [local(backend.port)], timeouts: { clientIdleMs: IDLE } });
  cleanups.push(() => lb.stop(50));
  const s = net.connect(lb.address.port, '127.0.0.1');
  s.on('error', () => {});
  let data = '';
  s.on('data', (c) => (data += c.toString('latin1')));
  const closed = new Promise<number>((r) => s.on('close', () => r(performance.now())));
  s.write('POST /stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
  const sentAt = performance.now();
  const at = await Promise.race([closed, sleep(IDLE * 6).then(() => 0)]);
  assert.ok(at > 0, 'the balancer closed the stalled connection');
  assert.ok(at - sentAt >= IDLE * 0.9 && at - sentAt <= IDLE * 3, `after ${Math.round(at - sentAt)} ms`);
  assert.match(data, /^HTTP\/1\.1 408 /);
  await sleep(100);
  assert.deepEqual(backend.aborted, ['/stalled'], 'the backend saw the request aborted, never completed');
  assert.equal(lb.pool.backends[0]!.consecutiveFailures, 0, 'not counted as a backend failure');
});

test('a client reading a large response slowly is not cut by upstreamIdleMs (the backend is waiting on us, not idle)', async () => {
  const SIZE = 8 << 20;
  const backend = await bigBodyBackend(SIZE);
  cleanups.push(() => backend.close());
  const lb = await startBallast({ servers: [local(backend.port)], timeouts: { upstreamIdleMs: 400, backendKeepAliveMs: 400 } });
  cleanups.push(() => lb.stop(50));
  const s = net.connect(lb.address.port, '127.0.0.1');
  s.on('error', () => {});
  let received = 0;
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('data', (c: Buffer) => (received += c.length));
  s.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  // Read a little, then stop reading for 1.5 s (buffers fill, the backend is paused), then read on.
  await sleep(100);
  s.pause();
  await sleep(1500);
  s.resume();
  await Promise.race([closed, sleep(5000)]);
  assert.ok(received > SIZE, `the whole body arrived (${received} bytes of ${SIZE} + head)`);
});

test('a client that never reads its response (slow-read attack) is cut after clientIdleMs, and the backend connection is released', async () => {
  const SIZE = 8 << 20;
  const backend = await bigBodyBackend(SIZE);
  cleanups.push(() => backend.close());
  const IDLE = 500;
  const lb = await startBallast({ servers: [local(backend.port)], timeouts: { clientIdleMs: IDLE } });
  cleanups.push(() => lb.stop(50));
  const s = net.connect(lb.address.port, '127.0.0.1');
  s.on('error', () => {});
  s.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
  s.pause(); // never reads
  const t0 = performance.now();
  // Judged on the balancer's side: a client that does not read does not notice a reset either.
  const { waitFor } = await import('./helpers.js');
  assert.ok(await waitFor(() => lb.proxy.connections().open === 1, 2000), 'the request is being answered');
  const cut = await waitFor(() => lb.proxy.connections().open === 0, IDLE * 8);
  const ms = performance.now() - t0;
  const b = lb.pool.backends[0]!;
  s.destroy();
  assert.ok(cut, `the balancer dropped the non-reading client (still held after ${IDLE * 8} ms)`);
  assert.ok(ms < IDLE * 4, `after ${Math.round(ms)} ms`);
  assert.ok(await waitFor(() => b.inflight === 0, 500), 'the backend attempt ended');
});
