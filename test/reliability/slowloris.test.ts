/**
 * Slowloris (issue 4): 500 connections each dribble a request head one byte at a time and
 * never finish it. The balancer (a child process) must answer each with 408 or close it once
 * timeouts.clientHeadersMs passed since it connected, while normal requests keep succeeding,
 * and none of the partial requests may reach the backend. A connection that sends nothing at
 * all is closed after the same time (issue 12: it used to hold a slot for clientIdleMs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { httpServer, request } from '../helpers/servers.js';
import { sleep, spawnBalancer } from './helpers.js';
import { cleanups } from '../helpers/lifecycle.js';

const HEADERS_MS = 1000;
const CONNECTIONS = 500;

interface Slow {
  socket: net.Socket;
  connectedAt: number;
  firstByteAt: number;
  closedAt: number;
  data: string;
}

/** A balancer process with these timeouts in front of one backend answering 'ok'; both stopped after the file. */
async function balancerWith(timeouts: Record<string, number>) {
  const backend = await httpServer((_req, res) => res.end('ok'));
  cleanups.push(() => backend.close());
  const lb = await spawnBalancer({
    servers: [{ host: '127.0.0.1', port: backend.port }],
    healthCheck: { enabled: false },
    admin: { enabled: false },
    timeouts,
  });
  cleanups.push(() => lb.cleanup());
  return { backend, lb };
}

test(`${CONNECTIONS} slowloris connections get 408 or are closed after clientHeadersMs; normal requests still succeed`, async (t) => {
  const { backend, lb } = await balancerWith({ clientHeadersMs: HEADERS_MS });

  const slow: Slow[] = [];
  // Open them in batches so the accept backlog never overflows.
  for (let batch = 0; batch < CONNECTIONS / 50; batch++) {
    const opened = Array.from({ length: 50 }, () => {
      const s: Slow = { socket: net.connect(lb.port, '127.0.0.1'), connectedAt: 0, firstByteAt: 0, closedAt: 0, data: '' };
      s.socket.on('error', () => {});
      s.socket.on('data', (c) => (s.data += c.toString('latin1')));
      s.socket.on('close', () => (s.closedAt = performance.now()));
      slow.push(s);
      return new Promise<void>((r) =>
        s.socket.once('connect', () => {
          s.connectedAt = performance.now();
          r();
        }),
      );
    });
    await Promise.all(opened);
  }
  const head = 'GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ';
  let offset = 0;
  // One byte per connection per tick, never the end of the head.
  const drip = setInterval(() => {
    const now = performance.now();
    const ch = offset < head.length ? head[offset]! : 'a';
    offset++;
    for (const s of slow) {
      if (s.closedAt !== 0 || s.socket.destroyed) continue;
      if (s.firstByteAt === 0) s.firstByteAt = now;
      s.socket.write(ch);
    }
  }, 50);
  cleanups.push(() => clearInterval(drip));

  // Normal traffic meanwhile.
  const normal: number[] = [];
  const normalLoop = (async () => {
    for (let i = 0; i < 40; i++) {
      const r = await request(`${lb.url}/normal`).catch(() => ({ status: 0 }));
      normal.push(r.status);
      await sleep(50);
      if (slow.every((s) => s.closedAt !== 0) && i >= 10) break;
    }
  })();

  const deadline = performance.now() + HEADERS_MS * 5;
  while (performance.now() < deadline && slow.some((s) => s.closedAt === 0)) await sleep(50);
  clearInterval(drip);
  await normalLoop;

  const open = slow.filter((s) => s.closedAt === 0).length;
  // The head deadline counts from the accept: a connection's lifetime is measured from its connect.
  const lifetimes = slow.filter((s) => s.closedAt !== 0).map((s) => s.closedAt - s.connectedAt);
  const got408 = slow.filter((s) => /^HTTP\/1\.1 408 /.test(s.data)).length;
  const silentClose = slow.filter((s) => s.data === '').length;
  const other = slow.filter((s) => s.data !== '' && !/^HTTP\/1\.1 408 /.test(s.data));
  const maxLife = Math.round(Math.max(...lifetimes));
  t.diagnostic(
    `figures ${JSON.stringify({ slowloris: CONNECTIONS, got408, closedWithoutAnswer: silentClose, stillOpen: open, maxLifetimeMs: maxLife, minLifetimeMs: Math.round(Math.min(...lifetimes)), normalSent: normal.length, normalFailed: normal.filter((s) => s !== 200).length })}`,
  );
  for (const s of slow) s.socket.destroy();

  assert.equal(open, 0, 'every slowloris connection was closed by the balancer');
  assert.deepEqual(other.map((s) => s.data.slice(0, 40)), [], 'only 408s, or a plain close');
  assert.ok(Math.min(...lifetimes) >= HEADERS_MS * 0.9, 'not closed before the timeout');
  // The deadline sweeper ticks at clientHeadersMs/8; the rest is 500 sockets on a shared 2-core machine.
  assert.ok(maxLife <= HEADERS_MS * 2, `closed within ~clientHeadersMs (max ${maxLife} ms)`);
  assert.ok(normal.length >= 10);
  assert.deepEqual(normal.filter((s) => s !== 200), [], 'normal requests all succeeded');
  assert.ok(backend.requests.every((r) => r.url === '/normal'), 'no partial request reached the backend');
  assert.equal(lb.child.exitCode, null, 'the balancer is still running');
});

test('a slow second request head on a keep-alive connection also gets 408', async () => {
  const { backend, lb } = await balancerWith({ clientHeadersMs: 500 });
  const s = net.connect(lb.port, '127.0.0.1');
  s.on('error', () => {});
  let data = '';
  s.on('data', (c) => (data += c.toString('latin1')));
  const closed = new Promise<number>((r) => s.on('close', () => r(performance.now())));
  s.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(100);
  const started = performance.now();
  const slowHead = 'GET /second HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  for (let i = 0; i < slowHead.length && !s.destroyed; i++) {
    s.write(slowHead[i]!);
    await sleep(50);
  }
  const at = await Promise.race([closed, sleep(3000).then(() => 0)]);
  assert.ok(at > 0, 'closed');
  assert.ok(at - started < 1500, `closed ${Math.round(at - started)} ms after the second head began`);
  const statuses = [...data.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  assert.deepEqual(statuses, ['200', '408']);
  assert.deepEqual(
    backend.requests.map((r) => r.url),
    ['/first'],
  );
});

test('a connection that sends nothing is closed, without an answer, after clientHeadersMs (not clientIdleMs)', async () => {
  const { lb } = await balancerWith({ clientHeadersMs: 400, clientIdleMs: 60_000 });
  const quiet = Array.from({ length: 20 }, () => {
    const s = net.connect(lb.port, '127.0.0.1');
    s.on('error', () => {});
    let data = '';
    s.on('data', (c) => (data += c.toString('latin1')));
    const openedAt = performance.now();
    return new Promise<{ lifetime: number; data: string }>((resolve) => {
      const giveUp = setTimeout(() => s.destroy(), 5_000);
      s.on('close', () => {
        clearTimeout(giveUp);
        resolve({ lifetime: performance.now() - openedAt, data });
      });
    });
  });
  const results = await Promise.all(quiet);
  const lifetimes = results.map((r) => Math.round(r.lifetime));
  assert.ok(Math.max(...lifetimes) < 2_000, `closed by the balancer within ~400 ms, not held: ${lifetimes.join(', ')}`);
  assert.ok(Math.min(...lifetimes) >= 350, `not before clientHeadersMs: ${Math.min(...lifetimes)} ms`);
  assert.deepEqual(results.map((r) => r.data).filter((d) => d !== ''), [], 'closed without a 408');
  assert.equal((await request(`${lb.url}/after`)).status, 200);
});
