/**
 * GET /api/events: server-sent events carry a snapshot at once and then one per second, and
 * a client that goes away is forgotten (no timer left running, nothing written to it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type ClientRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { EventHub } from '../../src/admin/events.js';
import { call, startFixture } from './fixture.js';

/** Opens an event stream and collects parsed `data:` payloads. */
function subscribe(port: number, path: string) {
  const events: any[] = [];
  let waiters: (() => void)[] = [];
  let headers: Record<string, unknown> = {};
  let buffer = '';
  const req: ClientRequest = request({ host: '127.0.0.1', port, path, headers: { Accept: 'text/event-stream' } });
  const ready = new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let i: number;
        while ((i = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (data !== '') events.push(JSON.parse(data));
        }
        const w = waiters;
        waiters = [];
        w.forEach((f) => f());
      });
      res.on('error', () => {});
      resolve();
    });
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
  });
  req.end();
  return {
    events,
    headers: () => headers,
    ready,
    async waitFor(n: number, timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`only ${events.length} of ${n} events within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    close: () => req.destroy(),
  };
}

test('/api/events sends a snapshot at once, then one a second', async () => {
  const f = await startFixture();
  try {
    f.stats.requestFinished(f.pool.backends[0], 200, 5, 'c');
    const s = subscribe(f.port, '/api/events');
    await s.ready;
    assert.match(String(s.headers()['content-type']), /^text\/event-stream/);
    await s.waitFor(1, 1000);
    const e = s.events[0];
    assert.equal(e.status.running, true);
    assert.equal(e.status.strategy, 'round_robin');
    assert.equal(e.performance.total_requests, 1);
    assert.equal(e.servers.length, 3);
    assert.equal(e.servers[0].host, '127.0.0.1');
    assert.ok('point' in e && 'servers' in e.point);
    assert.equal(e.algorithm.strategy, 'round_robin');
    const t0 = Date.now();
    await s.waitFor(2, 2500);
    assert.ok(Date.now() - t0 >= 300, 'the next snapshot waits for the tick');
    await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'least_connections' } });
    await s.waitFor(3, 2500);
    assert.equal(s.events[2].status.strategy, 'least_connections');
    s.close();
  } finally {
    await f.close();
  }
});

async function waitSize(hub: EventHub, n: number): Promise<void> {
  for (let i = 0; i < 200 && hub.size !== n; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(hub.size, n);
}

test('the hub forgets closed clients and stops its timer when none is left', async () => {
  let snapshots = 0;
  const hub = new EventHub(() => ({ n: ++snapshots }), () => 16, 20);
  const server = createServer((req, res) => hub.add(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  try {
    const a = subscribe(port, '/');
    const b = subscribe(port, '/');
    await Promise.all([a.ready, b.ready]);
    await a.waitFor(3, 2000);
    await b.waitFor(3, 2000);
    assert.equal(hub.size, 2);
    a.close();
    await waitSize(hub, 1);
    const before = b.events.length;
    await b.waitFor(before + 2, 2000);
    b.close();
    await waitSize(hub, 0);
    // No clients: the timer is gone, so no more snapshots are built.
    const built = snapshots;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(snapshots, built);
  } finally {
    hub.close();
    server.closeAllConnections();
    server.close();
  }
});

test('closing the hub ends every stream', async () => {
  const hub = new EventHub(() => ({ ok: true }), () => 16, 1000);
  const server = createServer((req, res) => hub.add(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  try {
    const ended = new Promise<void>((resolve) => {
      request({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      }).end();
    });
    await waitSize(hub, 1);
    hub.close();
    await ended;
    assert.equal(hub.size, 0);
  } finally {
    server.close();
  }
});
