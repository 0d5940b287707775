/**
 * The tunnel at the byte level, with raw sockets on both sides: bytes sent in the same packet
 * as the upgrade request and the 101, half-close both ways, and backpressure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { local, startBallast, tcpServer } from '../helpers/servers.js';
import { track, until } from '../helpers/lifecycle.js';

const UPGRADE = 'GET /raw HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: byte-stream\r\n\r\n';

/** Reads from `s` until `marker` has been seen; resolves with everything read. */
function readUntil(s: net.Socket, marker: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (c: Buffer): void => {
      got += c.toString('latin1');
      if (got.includes(marker)) {
        s.off('data', onData);
        resolve(got);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('close', () => reject(new Error(`closed before ${JSON.stringify(marker)}; got ${JSON.stringify(got)}`)));
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

test('bytes riding with the upgrade request and with the 101 get through; half-close works both ways', async () => {
  let backendGot = '';
  let backendSawEnd = false;
  const backend = track(
    await tcpServer(
      (s) => {
        let head = '';
        const onHead = (c: Buffer): void => {
          head += c.toString('latin1');
          const at = head.indexOf('\r\n\r\n');
          if (at < 0) return;
          s.off('data', onHead);
          backendGot += head.slice(at + 4);
          s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: byte-stream\r\n\r\nhello from backend;');
          s.on('data', (d: Buffer) => (backendGot += d.toString('latin1')));
          s.on('end', () => {
            backendSawEnd = true;
            // The client finished sending: answer, then close our side.
            s.end(`got ${backendGot.length} bytes;bye`);
          });
        };
        s.on('data', onHead);
      },
      { allowHalfOpen: true },
    ),
  );
  const lb = track(await startBallast({ servers: [local(backend.port)] }));
  const client = await connect(lb.address.port);
  const first = readUntil(client, 'hello from backend;');
  client.write(UPGRADE + 'early bytes;');
  const head = await first;
  assert.match(head, /^HTTP\/1\.1 101 /);
  assert.match(head, /\r\nUpgrade: byte-stream\r\n/i);
  assert.match(head, /\r\nConnection: Upgrade\r\n/i);
  assert.ok(await until(() => backendGot === 'early bytes;'), `backend got ${JSON.stringify(backendGot)}`);

  client.write('more;');
  assert.ok(await until(() => backendGot === 'early bytes;more;'));
  // Half-close from the client: the backend sees the FIN and can still answer.
  const rest = new Promise<string>((resolve) => {
    let tail = '';
    client.on('data', (c: Buffer) => (tail += c.toString('latin1')));
    client.on('end', () => resolve(tail));
  });
  client.end();
  assert.equal(await rest, 'got 17 bytes;bye');
  assert.ok(backendSawEnd);
  assert.ok(await until(() => lb.pool.backends[0]!.inflight === 0), 'both FINs passed: the tunnel closed');
  client.destroy();
  const f = lb.stats.backend(lb.pool.backends[0]!);
  assert.equal(f.bytesIn, 'early bytes;more;'.length);
  assert.equal(f.bytesOut, 'hello from backend;'.length + 'got 17 bytes;bye'.length);
});

test('backpressure: a client that stops reading stops the backend, and every byte arrives once it reads again', async () => {
  const total = 64 << 20;
  let backendSocket: net.Socket | undefined;
  const backend = track(
    await tcpServer((s) => {
      backendSocket = s;
      s.once('data', () => {
        s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: byte-stream\r\n\r\n');
        const chunk = Buffer.alloc(1 << 20, 7);
        for (let i = 0; i < total / chunk.length; i++) s.write(chunk);
      });
      s.on('error', () => {});
    }),
  );
  const lb = track(await startBallast({ servers: [local(backend.port)] }));
  const client = await connect(lb.address.port);
  const head = readUntil(client, '\r\n\r\n');
  client.write(UPGRADE);
  const first = await head;
  const headLength = first.indexOf('\r\n\r\n') + 4;
  let received = Buffer.byteLength(first, 'latin1') - headLength;
  client.pause();
  // Kernel buffers on both hops hold a few MiB at most; Ballast holds one socket buffer. So
  // most of the 64 MiB must still wait in the backend's own write queue.
  await until(() => false, 500);
  assert.ok(backendSocket!.writableLength > total / 2, `the backend still holds ${backendSocket!.writableLength} bytes`);
  client.on('data', (c: Buffer) => (received += c.length));
  client.resume();
  assert.ok(await until(() => received >= total, 20_000), `received ${received} of ${total}`);
  assert.equal(received, total);
  assert.equal(backendSocket!.writableLength, 0);
  client.destroy();
});
