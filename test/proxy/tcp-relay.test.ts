/**
 * The L4 relay on raw libuv handles (src/proxy/tcp): backpressure both ways, a backend or a
 * client that resets mid-stream, the connection limit, listening by host name and on a port
 * in use, and a graceful stop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ConfigError } from '../../src/config/load.js';
import { deadPort, local, startBallast, tcpServer } from '../helpers/servers.js';
import { sleep, track, until } from '../helpers/lifecycle.js';

const TOTAL = 96 << 20;
const CHUNK = 64 << 10;
/** Byte i of the stream is pattern(i): the receiver checks order and content as it goes. */
const pattern = (i: number) => (i * 7 + (i >>> 16)) & 255;
function chunkAt(offset: number): Buffer {
  const b = Buffer.allocUnsafe(CHUNK);
  for (let i = 0; i < CHUNK; i++) b[i] = pattern(offset + i);
  return b;
}

/** Writes TOTAL patterned bytes to `s` as fast as it drains; `sent()` says how far it got. */
function produce(s: net.Socket): { sent: () => number } {
  let offset = 0;
  const pump = () => {
    while (offset < TOTAL) {
      const ok = s.write(chunkAt(offset));
      offset += CHUNK;
      if (!ok) return void s.once('drain', pump);
    }
    s.end();
  };
  pump();
  return { sent: () => offset };
}

/** Reads from `s`, checking the pattern; resolves with the byte count at the end. */
function consume(s: net.Socket): Promise<{ bytes: number; intact: boolean }> {
  let bytes = 0;
  let intact = true;
  s.on('data', (c: Buffer) => {
    for (let i = 0; i < c.length; i += 997) if (c[i] !== pattern(bytes + i)) intact = false;
    bytes += c.length;
  });
  return new Promise((resolve) => s.on('end', () => resolve({ bytes, intact })));
}

test('tcp mode: a client that stops reading holds the backend back (backpressure), then gets every byte in order', async () => {
  let producer: { sent: () => number } | undefined;
  const srv = track(await tcpServer((s) => (producer = produce(s))));
  const lb = track(await startBallast({ mode: 'tcp', servers: [local(srv.port)] }));
  const client = net.connect(lb.address.port, '127.0.0.1');
  client.pause();
  await until(() => producer !== undefined);
  await sleep(700);
  const heldAt = producer!.sent();
  // Without backpressure the backend would have written all 96 MB by now; with it, only what
  // fits in the socket buffers on the way (kernel, a few MB per socket) plus one chunk.
  assert.ok(heldAt < 40 << 20, `backend got ${(heldAt / 2 ** 20).toFixed(1)} MB out to a client that reads nothing`);
  const received = consume(client);
  client.resume();
  const r = await received;
  assert.equal(r.bytes, TOTAL);
  assert.ok(r.intact, 'bytes arrived unchanged and in order');
  client.destroy();
  assert.ok(await until(() => lb.pool.totalInflight === 0));
});

test('tcp mode: a backend that stops reading holds the client back (backpressure), then gets every byte in order', async () => {
  let backendSide: net.Socket | undefined;
  const srv = track(
    await tcpServer((s) => {
      backendSide = s;
      s.pause();
    }),
  );
  const lb = track(await startBallast({ mode: 'tcp', servers: [local(srv.port)] }));
  const client = net.connect(lb.address.port, '127.0.0.1');
  const producer = produce(client);
  await until(() => backendSide !== undefined);
  await sleep(700);
  assert.ok(producer.sent() < 40 << 20, `client got ${(producer.sent() / 2 ** 20).toFixed(1)} MB out to a backend that reads nothing`);
  const received = consume(backendSide!);
  backendSide!.resume();
  const r = await received;
  assert.equal(r.bytes, TOTAL);
  assert.ok(r.intact, 'bytes arrived unchanged and in order');
  client.destroy();
  assert.ok(await until(() => lb.pool.totalInflight === 0));
});

test('tcp mode: sessions at once, each echoing its own bytes through slow readers, get them back intact (reads share one buffer; a write libuv finishes later must not)', async () => {
  // Every session's reads land in the one read buffer of the relay; a write that the kernel
  // does not take at once (a slow reader here) must still send the bytes it was given, not
  // whatever a later read of another session put there.
  const SESSIONS = 4;
  const BYTES = 6 << 20;
  const mark = (session: number, i: number) => (i * 13 + (i >>> 12) + session * 71) & 255;
  const echo = track(await tcpServer((s) => s.pipe(s)));
  const lb = track(await startBallast({ mode: 'tcp', servers: [local(echo.port)] }));
  const runs = Array.from({ length: SESSIONS }, (_, session) => {
    const client = net.connect(lb.address.port, '127.0.0.1');
    let offset = 0;
    const pump = () => {
      while (offset < BYTES) {
        const b = Buffer.allocUnsafe(CHUNK);
        for (let i = 0; i < CHUNK; i++) b[i] = mark(session, offset + i);
        offset += CHUNK;
        if (!client.write(b)) return void client.once('drain', pump);
      }
      client.end();
    };
    pump();
    let bytes = 0;
    let bad = 0;
    client.on('data', (c: Buffer) => {
      for (let i = 0; i < c.length; i++) if (c[i] !== mark(session, bytes + i)) bad++;
      bytes += c.length;
      // Odd sessions read in fits and starts, so the relay's writes to them go asynchronous.
      if (session % 2 === 1 && bytes % (1 << 20) < c.length) {
        client.pause();
        setTimeout(() => client.resume(), 40);
      }
    });
    return new Promise<{ bytes: number; bad: number }>((resolve, reject) => {
      client.on('end', () => resolve({ bytes, bad }));
      client.on('error', reject);
    });
  });
  const results = await Promise.all(runs);
  for (const [session, r] of results.entries()) {
    assert.equal(r.bytes, BYTES, `session ${session}: every byte back`);
    assert.equal(r.bad, 0, `session ${session}: its own bytes, unchanged and in order`);
  }
  assert.ok(await until(() => lb.pool.totalInflight === 0));
});

test('tcp mode: a backend that resets mid-stream: the client gets what it sent, then the close; a client that resets closes the backend side', async () => {
  const srv = track(
    await tcpServer((s) => {
      s.once('data', (c: Buffer) => {
        if (c.toString() === 'reset-me') s.write('partial', () => setTimeout(() => s.resetAndDestroy(), 20));
      });
    }),
  );
  const lb = track(await startBallast({ mode: 'tcp', servers: [local(srv.port)] }));
  const got = await new Promise<{ data: string; closed: boolean }>((resolve) => {
    let data = '';
    const s = net.connect(lb.address.port, '127.0.0.1', () => s.write('reset-me'));
    const timer = setTimeout(() => resolve({ data, closed: false }), 2_000);
    s.on('data', (c) => (data += c));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data, closed: true });
    });
  });
  assert.equal(got.data, 'partial');
  assert.ok(got.closed, 'the client connection was closed after the backend reset');
  assert.ok(await until(() => lb.pool.totalInflight === 0));

  let backendClosed = false;
  const srv2 = track(await tcpServer((s) => s.resume().on('close', () => (backendClosed = true))));
  const lb2 = track(await startBallast({ mode: 'tcp', servers: [local(srv2.port)] }));
  const c = net.connect(lb2.address.port, '127.0.0.1');
  c.on('error', () => {});
  await new Promise((r) => c.once('connect', r));
  c.write('hello');
  await sleep(50);
  c.resetAndDestroy();
  assert.ok(await until(() => backendClosed), 'the backend connection was closed after the client reset');
  assert.ok(await until(() => lb2.pool.totalInflight === 0));
});

test('tcp mode: maxClientConnections closes the connection over the limit at once; room frees when one closes', async () => {
  const srv = track(await tcpServer((s) => s.pipe(s)));
  const lb = track(await startBallast({ mode: 'tcp', servers: [local(srv.port)], limits: { maxClientConnections: 3 } }));
  const open = async () => {
    const s = net.connect(lb.address.port, '127.0.0.1');
    s.on('error', () => {});
    const closed = new Promise<boolean>((r) => s.on('close', () => r(true)));
    await new Promise((r) => s.once('connect', r));
    return { s, closed };
  };
  const held = [await open(), await open(), await open()];
  await sleep(50);
  const over = await open();
  assert.ok(await Promise.race([over.closed, sleep(1_000).then(() => false)]), 'the fourth connection was closed');
  assert.ok(held.every((h) => !h.s.destroyed));
  held.pop()!.s.destroy();
  await until(() => lb.proxy.connections().open === 2);
  const again = await open();
  const echoed = await new Promise<string>((r) => {
    again.s.once('data', (c) => r(c.toString()));
    again.s.write('still room');
  });
  assert.equal(echoed, 'still room');
  for (const h of [...held, again]) h.s.destroy();
});

test('tcp mode listens and connects by host name; a port in use is a config error naming listen, in both modes', async () => {
  const srv = track(await tcpServer((s) => s.end('by name')));
  const lb = track(await startBallast({ mode: 'tcp', listen: { host: 'localhost', port: 0 }, servers: [{ host: 'localhost', port: srv.port }] }));
  const reply = await new Promise<string>((resolve) => {
    let text = '';
    const s = net.connect(lb.address.port, lb.address.host, () => {});
    s.on('data', (c) => (text += c));
    s.on('error', (e) => resolve(`error ${e.message}`));
    s.on('end', () => {
      s.end();
      resolve(text);
    });
  });
  assert.equal(reply, 'by name');
  for (const mode of ['tcp', 'http'] as const) {
    await assert.rejects(
      startBallast({ mode, listen: { host: '127.0.0.1', port: srv.port }, servers: [local(srv.port)] }),
      (err: Error) => err instanceof ConfigError && /^listen: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/.test(err.message),
    );
  }
});

test('tcp mode stop: new connections are refused at once, an open one gets the deadline and is then cut', async () => {
  const srv = track(await tcpServer((s) => s.pipe(s)));
  const lb = await startBallast({ mode: 'tcp', servers: [local(srv.port)] });
  const s = net.connect(lb.address.port, '127.0.0.1');
  s.on('error', () => {});
  const closedAt = new Promise<number>((r) => s.on('close', () => r(Date.now())));
  await new Promise((r) => s.once('connect', r));
  const started = Date.now();
  const stopped = lb.stop(400);
  await sleep(50);
  const refused = await new Promise<boolean>((resolve) => {
    const n = net.connect(lb.address.port, '127.0.0.1');
    n.on('error', () => resolve(true));
    n.on('connect', () => {
      n.destroy();
      resolve(false);
    });
  });
  assert.ok(refused, 'a new connection is refused while stopping');
  const echoed = await new Promise<string>((r) => {
    s.once('data', (c) => r(c.toString()));
    s.write('during drain');
  });
  assert.equal(echoed, 'during drain', 'the open connection still works during the drain');
  await stopped;
  const at = await closedAt;
  assert.ok(at - started >= 350, `cut after ${at - started} ms, not before the 400 ms deadline`);
  assert.equal(lb.pool.totalInflight, 0);
});

test('tcp mode with no backend to take it: each connection is closed and forgotten, so the limit never fills up', async () => {
  const lb = track(await startBallast({ mode: 'tcp', servers: [local(await deadPort())], limits: { maxClientConnections: 3 } }));
  for (let i = 0; i < 6; i++) {
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect(lb.address.port, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => resolve(true));
      setTimeout(() => resolve(false), 2_000);
    });
    assert.ok(closed, `connection ${i + 1} was closed`);
  }
  assert.ok(await until(() => lb.proxy.connections().open === 0), `open sessions: ${lb.proxy.connections().open}`);
  assert.equal(lb.stats.counters().rejected.too_many_connections, 0, 'none was refused for the limit');
});
