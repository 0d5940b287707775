/**
 * RawSocket (src/proxy/uv/socket.ts), the net.Socket stand-in under the L7 proxy: the parts
 * of net.Socket's behaviour the proxy relies on, checked against real sockets on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { RawSocket, type RawSocketListener } from '../../src/proxy/uv/socket.js';
import { keepable } from '../../src/proxy/uv/read-buffer.js';
import { deadPort } from '../helpers/servers.js';
import { cleanups, sleep } from '../helpers/lifecycle.js';

/** A listener that records what happened, in order. */
function recorder(): RawSocketListener & { events: string[]; data: Buffer[]; errors: string[]; closed: Promise<void> } {
  let onClosed = () => {};
  const closed = new Promise<void>((r) => (onClosed = r));
  const rec = {
    events: [] as string[],
    data: [] as Buffer[],
    errors: [] as string[],
    closed,
    onConnect: () => rec.events.push('connect'),
    onData: (c: Buffer) => rec.data.push(Buffer.from(c)),
    onEnd: () => rec.events.push('end'),
    onDrain: () => rec.events.push('drain'),
    onTimeout: () => rec.events.push('timeout'),
    onError: (e: NodeJS.ErrnoException) => rec.errors.push(e.code ?? e.message),
    onClose: () => {
      rec.events.push('close');
      onClosed();
    },
  };
  return rec;
}

async function server(onConnection: (s: net.Socket) => void) {
  const open = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen: true }, (c) => {
    open.add(c);
    c.on('close', () => open.delete(c));
    onConnection(c);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const close = () =>
    new Promise<void>((r) => {
      for (const c of open) c.destroy();
      if (srv.listening) srv.close(() => r());
      else r();
    });
  // Also closed after the file's tests: a test that failed before its own close() left a
  // half-open connection that kept the test process, and the suite, waiting for ever.
  cleanups.push(close);
  return { port: (srv.address() as net.AddressInfo).port, close };
}

test('cork/uncork sends a latin1 head and a body as one chunk; end() sends the FIN after it; the peer FIN closes', async () => {
  let received: Promise<{ chunks: number; bytes: Buffer }> | undefined;
  const s = await server((c) => {
    received = new Promise((resolve) => {
      const chunks: Buffer[] = [];
      c.on('data', (d) => chunks.push(d));
      c.on('end', () => {
        resolve({ chunks: chunks.length, bytes: Buffer.concat(chunks) });
        c.end('bye');
      });
    });
  });
  const rec = recorder();
  const sock = RawSocket.connect('127.0.0.1', s.port, rec);
  sock.cork();
  sock.write('HEAD caf\u00e9\r\n');
  sock.write(Buffer.from([1, 2, 3]));
  sock.uncork();
  sock.end();
  await rec.closed;
  const got = await received!;
  assert.equal(got.chunks, 1, 'one write, one segment');
  assert.deepEqual([...got.bytes], [...Buffer.from('HEAD caf\u00e9\r\n', 'latin1'), 1, 2, 3]);
  assert.equal(Buffer.concat(rec.data).toString(), 'bye', 'a half-closed socket still reads until the peer ends');
  assert.deepEqual(rec.events, ['connect', 'close']);
  await s.close();
});

test('write() says stop past 16 KiB the peer has not taken, onDrain says go on, and every byte arrives in order', async () => {
  let peer: net.Socket | undefined;
  const s = await server((c) => {
    peer = c;
    c.pause();
  });
  const rec = recorder();
  const sock = RawSocket.connect('127.0.0.1', s.port, rec);
  await new Promise<void>((r) => (rec.onConnect = () => r()));
  const block = Buffer.alloc(64 * 1024);
  let written = 0;
  let seq = 0;
  while (written < 64 << 20) {
    for (let i = 0; i < block.length; i += 4096) block.writeUInt32BE(seq++, i);
    written += block.length;
    if (!sock.write(Buffer.from(block))) break;
  }
  assert.ok(written < 64 << 20, 'write() returned false before 64 MB were queued');
  assert.ok(sock.writableLength >= 16 * 1024);
  const drained = new Promise<void>((r) => (rec.onDrain = () => r()));
  // The peer has read everything once it sees our FIN (a fixed sleep was too short under load).
  const peerEnded = once(peer!, 'end');
  let total = 0;
  let ordered = true;
  let expect = 0;
  peer!.on('data', (d: Buffer) => {
    for (let i = (4096 - (total % 4096)) % 4096; i + 4 <= d.length; i += 4096) if (d.readUInt32BE(i) !== expect++) ordered = false;
    total += d.length;
  });
  peer!.resume();
  await drained;
  assert.equal(sock.writableLength, 0);
  sock.destroy();
  await rec.closed;
  await peerEnded;
  assert.equal(total, written);
  assert.ok(ordered, 'blocks arrived in order');
  await s.close();
});

test('setTimeout fires once per quiet period, not while data flows; reading re-arms it', async () => {
  let peer: net.Socket | undefined;
  const s = await server((c) => (peer = c));
  const rec = recorder();
  const sock = RawSocket.connect('127.0.0.1', s.port, rec);
  sock.setTimeout(150);
  await new Promise<void>((r) => (rec.onConnect = () => r()));
  for (let i = 0; i < 6; i++) {
    peer!.write('x');
    await sleep(50);
  }
  assert.ok(!rec.events.includes('timeout'), 'no timeout while a byte arrives every 50 ms');
  await sleep(400);
  assert.equal(rec.events.filter((e) => e === 'timeout').length, 1, 'one timeout for one quiet period');
  peer!.write('y');
  await sleep(250);
  assert.equal(rec.events.filter((e) => e === 'timeout').length, 2, 'activity re-armed it');
  sock.destroy();
  await rec.closed;
  await s.close();
});

test('a refused connect is an error with its code, then close; a socket dropped before its connect never reaches the server', async () => {
  const rec = recorder();
  RawSocket.connect('127.0.0.1', await deadPort(), rec);
  await rec.closed;
  assert.deepEqual(rec.errors, ['ECONNREFUSED']);
  assert.deepEqual(rec.events, ['close']);

  let accepted = 0;
  const s = await server(() => accepted++);
  const rec2 = recorder();
  RawSocket.connect('127.0.0.1', s.port, rec2).destroy();
  await rec2.closed;
  await sleep(100);
  assert.equal(accepted, 0);
  assert.deepEqual(rec2.errors, []);
  await s.close();
});

test('a peer reset is a read error then close; writing to a reset peer fails later, never inside write()', async () => {
  const s = await server((c) => {
    c.on('error', () => {});
    c.once('data', () => c.resetAndDestroy());
  });
  const rec = recorder();
  const sock = RawSocket.connect('127.0.0.1', s.port, rec);
  await new Promise<void>((r) => (rec.onConnect = () => r()));
  sock.write('trigger');
  await rec.closed;
  assert.deepEqual(rec.errors, ['ECONNRESET']);
  assert.doesNotThrow(() => sock.write('after'));
  assert.equal(sock.write('after'), false, 'a destroyed socket takes nothing');
  await s.close();
});

test('resetAndDestroy after end() with writes still queued (a slow reader cut at its timeout) still closes', async () => {
  const s = await server((c) => c.pause());
  const rec = recorder();
  const sock = RawSocket.connect('127.0.0.1', s.port, rec);
  await new Promise<void>((r) => (rec.onConnect = () => r()));
  sock.write(Buffer.alloc(8 << 20));
  sock.end();
  assert.ok(sock.writableLength > 0, 'part of the 8 MB waits for the peer');
  sock.resetAndDestroy();
  const closed = await Promise.race([rec.closed.then(() => true), sleep(1_000).then(() => false)]);
  assert.ok(closed, 'onClose came');
  await s.close();
});

test('a write after end() is an error (as in net.Socket), never a silent wait for a drain that cannot come', async () => {
  const s = await server((c) => c.resume());
  const rec = recorder();
  const sock = RawSocket.connect('127.0.0.1', s.port, rec);
  await new Promise<void>((r) => (rec.onConnect = () => r()));
  sock.end('last');
  assert.equal(sock.write('too late'), false);
  await rec.closed;
  assert.deepEqual(rec.errors, ['ERR_STREAM_WRITE_AFTER_END']);
  await s.close();
});

test('writes and end() before the connect completes are sent in order once connected, corked or not', async () => {
  const got: string[] = [];
  const s = await server((c) => {
    let text = '';
    c.on('data', (d) => (text += d));
    c.on('end', () => {
      got.push(text);
      c.end();
    });
  });
  for (const corked of [false, true]) {
    const rec = recorder();
    const sock = RawSocket.connect('127.0.0.1', s.port, rec);
    if (corked) sock.cork();
    sock.write('head;');
    sock.write(Buffer.from('body;'));
    sock.end('last');
    await Promise.race([rec.closed, sleep(2_000)]);
  }
  await sleep(50);
  assert.deepEqual(got, ['head;body;last', 'head;body;last']);
  await s.close();
});

test('a chunk given to onData lies in the shared read buffer: keepable() copies it, write() of it is safe after later reads', async () => {
  // Two peers; what A receives is relayed to C (written while C's peer reads nothing, so the
  // write stays queued in libuv) and kept, then B's reads overwrite the shared buffer.
  const heldByPeer: Buffer[] = [];
  let sinkPeer: net.Socket | undefined;
  const sink = await server((c) => {
    sinkPeer = c;
    c.pause();
  });
  const sources: net.Socket[] = [];
  const src = await server((c) => (sources[0] = c));
  const srcB = await server((c) => (sources[1] = c));
  const toSink = RawSocket.connect('127.0.0.1', sink.port, recorder());
  const kept: Buffer[] = [];
  const a = recorder();
  a.onData = (chunk: Buffer) => {
    assert.notEqual(keepable(chunk), chunk, 'a read chunk is copied by keepable');
    kept.push(keepable(chunk));
    toSink.write(chunk);
  };
  const b = recorder();
  const sa = RawSocket.connect('127.0.0.1', src.port, a);
  const sb = RawSocket.connect('127.0.0.1', srcB.port, b);
  while (sources[0] === undefined || sources[1] === undefined || sinkPeer === undefined) await sleep(5);
  const payload = Buffer.alloc(256 * 1024, 'a');
  sources[0]!.write(payload);
  while (kept.reduce((n, k) => n + k.length, 0) < payload.length) await sleep(5);
  // B's reads now land where A's chunks were.
  sources[1]!.write(Buffer.alloc(256 * 1024, 'b'));
  while (b.data.reduce((n, k) => n + k.length, 0) < 256 * 1024) await sleep(5);
  assert.ok(Buffer.concat(kept).equals(payload), 'kept chunks unchanged by later reads');
  const own = Buffer.from('not shared');
  assert.equal(keepable(own), own, 'a buffer of its own is kept as is');
  // The sink's peer reads at last: every byte relayed is A's, none of B's.
  sinkPeer!.resume();
  const relayed: Buffer[] = [];
  sinkPeer!.on('data', (d: Buffer) => relayed.push(d));
  while (relayed.reduce((n, k) => n + k.length, 0) < payload.length) await sleep(5);
  assert.ok(Buffer.concat(relayed).equals(payload), 'queued writes of read chunks carry what was read');
  for (const s of [sa, sb, toSink]) s.destroy();
  await Promise.all([src.close(), srcB.close(), sink.close()]);
});
