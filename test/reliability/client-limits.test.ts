/**
 * What one client connection may cost the balancer (issue 12): a trickled request body is cut
 * at timeouts.clientBodyMs, pipelined requests are not read ahead while an earlier one is
 * answered, and a throw inside the handling of a backend's response costs that exchange,
 * not the process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { HttpProxy } from '../../src/proxy/http/server.js';
import { httpServer, local, outcomeBackend, request, startBallast } from '../helpers/servers.js';
import { sleep, track, until } from '../helpers/lifecycle.js';

/** A raw client connection: what it has received, and when the balancer closed it (0: not yet). */
function rawClient(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  const seen = { data: '', closedAt: 0 };
  socket.on('error', () => {});
  socket.on('data', (c: Buffer) => (seen.data += c.toString('latin1')));
  socket.on('close', () => (seen.closedAt = Date.now()));
  return { socket, seen };
}

test('a request body trickled one byte at a time is cut at clientBodyMs with 408, and the backend sees its request aborted', async () => {
  const backend = track(await outcomeBackend());
  const outcomes = backend.outcomes;
  // clientIdleMs is long: each byte is fresh activity, only the overall deadline can end this.
  const lb = track(await startBallast({ servers: [local(backend.port)], timeouts: { clientBodyMs: 600, clientIdleMs: 60_000 } }));
  const { socket: s, seen } = rawClient(lb.address.port);
  await new Promise<void>((r) => s.once('connect', () => r()));
  const start = Date.now();
  s.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
  const drip = setInterval(() => {
    if (!s.destroyed) s.write('a');
  }, 100);
  await until(() => seen.closedAt !== 0, 5_000);
  clearInterval(drip);
  s.destroy();
  assert.ok(seen.closedAt !== 0, 'the balancer closed the connection');
  const lifetime = seen.closedAt - start;
  assert.ok(lifetime >= 550 && lifetime < 2_500, `cut after ${lifetime} ms`);
  assert.match(seen.data, /^HTTP\/1\.1 408 /);
  await until(() => outcomes.length > 0, 1_000);
  assert.deepEqual(outcomes, ['aborted'], 'the backend never saw a complete request');
  assert.equal((await request(`${lb.url}/next`)).status, 200);
});

test('a body that arrives whole within clientBodyMs is not cut, however slowly the backend answers', async () => {
  const backend = track(
    await httpServer((req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => res.end('late'), 700));
    }),
  );
  const lb = track(await startBallast({ servers: [local(backend.port)], timeouts: { clientBodyMs: 300 } }));
  const r = await request(`${lb.url}/`, { method: 'POST', body: 'x'.repeat(10_000) });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'late');
});

test('pipelined requests behind a slow one are parsed to their head only: the connection holds at most one read of them', async () => {
  const BODY = 60_000;
  const PIPELINED = 16;
  const backend = track(
    await httpServer((req, res) => {
      req.resume();
      req.on('end', () => (req.url === '/slow' ? setTimeout(() => res.end('slow'), 800) : res.end(req.url)));
    }),
  );
  const lb = track(await startBallast({ servers: [local(backend.port)] }));
  const proxy = lb.proxy as HttpProxy;
  let payload = 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n';
  for (let i = 0; i < PIPELINED; i++) payload += `POST /p${i} HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY}\r\n\r\n${'b'.repeat(BODY)}`;
  const s = net.connect(lb.address.port, '127.0.0.1', () => s.end(`${payload}GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
  s.on('error', () => {});
  let data = '';
  s.on('data', (c) => (data += c.toString('latin1')));
  const closed = new Promise<void>((r) => s.on('close', () => r()));

  // While /slow is answered, everything pipelined behind it waits in the kernel, not in us.
  await until(() => backend.requests.length === 1, 2_000);
  await sleep(300);
  const held = proxy.connections().bufferedBytes;
  assert.ok(held <= 64 * 1024, `held ${held} bytes of ${PIPELINED * BODY} pipelined`);
  assert.deepEqual(backend.requests.map((r) => r.url), ['/slow'], 'nothing after /slow was sent yet');

  await Promise.race([closed, sleep(10_000)]);
  const bodies = [...data.matchAll(/\r\n\r\n(\/p\d+|slow|\/last)/g)].map((m) => m[1]);
  assert.deepEqual(bodies, ['slow', ...Array.from({ length: PIPELINED }, (_, i) => `/p${i}`), '/last'], 'every request answered, in order');
});

test('a throw inside the handling of a backend response costs that request, not the process', async () => {
  const backend = track(await httpServer((_req, res) => res.end('ok')));
  const lb = track(await startBallast({ servers: [local(backend.port)], retries: { enabled: false } }));
  const ended = lb.active.ended.bind(lb.active);
  let armed = true;
  // ended() runs inside the backend connection's parser callback (response complete).
  lb.active.ended = (...args: Parameters<typeof ended>) => {
    if (armed) {
      armed = false;
      throw new Error('injected fault');
    }
    ended(...args);
  };
  // Its response may have reached the client whole before the fault; either way the
  // connection is cut and the request does not hang.
  await request(`${lb.url}/boom`).catch(() => undefined);
  assert.ok(!armed, 'the fault fired');
  const after = await request(`${lb.url}/after`);
  assert.equal(after.status, 200, 'the balancer lives on');
  assert.equal(after.body.toString(), 'ok');
});

test('a keep-alive connection whose request was answered while its body was held (queued, then 503) reads the next request at once', async () => {
  let release: (() => void) | undefined;
  const backend = track(
    await httpServer((req, res) => {
      req.resume();
      if (req.url === '/hold') release = () => res.end('held');
      else req.on('end', () => res.end(`ok ${req.url}`));
    }),
  );
  const lb = track(await startBallast({ servers: [local(backend.port)], limits: { maxConnectionsPerBackend: 1, queueTimeoutMs: 300 }, timeouts: { clientIdleMs: 60_000 } }));
  const hold = request(`${lb.url}/hold`);
  await until(() => release !== undefined);
  // 100 KiB: over the replay limit, so the balancer stops reading it while it waits in the queue.
  const body = 'b'.repeat(100 * 1024);
  const { socket: s, seen } = rawClient(lb.address.port);
  s.write(`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  assert.ok(await until(() => /^HTTP\/1\.1 503 /.test(seen.data), 3_000), `queued, then 503: ${seen.data.slice(0, 40)}`);
  release!();
  await hold;
  const sentAt = Date.now();
  s.write('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.ok(await until(() => seen.data.includes('ok /next'), 3_000), 'the next request on the connection was read and answered');
  assert.ok(Date.now() - sentAt < 2_000);
  s.destroy();
});

test('graceful stop with a request pipelined behind one in flight: the first is answered and the connection closes at once, not at the stop deadline', async () => {
  const backend = track(await httpServer((_req, res) => void setTimeout(() => res.end('done'), 300)));
  const lb = await startBallast({ servers: [local(backend.port)], timeouts: { clientIdleMs: 60_000 } });
  const { socket: s, seen } = rawClient(lb.address.port);
  s.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
  await until(() => backend.requests.length === 1);
  const stopping = Date.now();
  const stopped = lb.stop(10_000);
  assert.ok(await until(() => seen.closedAt !== 0, 5_000), 'closed by the balancer');
  await stopped;
  assert.match(seen.data, /^HTTP\/1\.1 200 /, 'the request in flight was answered');
  assert.ok(seen.closedAt - stopping < 2_000, `closed ${seen.closedAt - stopping} ms after the stop began (its deadline: 10 s)`);
});
