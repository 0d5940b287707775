/**
 * The TCP (L4) proxy moves bytes on Node's libuv handles (`process.binding('tcp_wrap')` and
 * `('stream_wrap')`), which are private API. These tests pin the shape src/proxy/uv/handles.ts
 * relies on, so a Node upgrade that changes it fails here, loudly, instead of in production.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  ShutdownWrap,
  TCP,
  TCPConnectWrap,
  TCP_SERVER,
  TCP_SOCKET,
  UV_EOF,
  WriteWrap,
  connectTo,
  kArrayBufferOffset,
  kLastWriteWasAsync,
  kReadBytesOrError,
  listenHandle,
  streamBaseState,
  uvError,
  type UvTcp,
} from '../../src/proxy/uv/handles.js';

test('the bindings exist with the constructors, constants and methods we use (Node 20)', () => {
  for (const ctor of [TCP, TCPConnectWrap, WriteWrap, ShutdownWrap]) assert.equal(typeof ctor, 'function');
  assert.ok(streamBaseState instanceof Int32Array, 'streamBaseState is an Int32Array');
  for (const k of [kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync]) {
    assert.equal(typeof k, 'number');
    assert.ok(k >= 0 && k < streamBaseState.length, `index ${k} inside streamBaseState`);
  }
  assert.equal(UV_EOF, -4095);
  assert.notEqual(TCP_SOCKET, TCP_SERVER);
  const h = new TCP(TCP_SOCKET) as unknown as Record<string, unknown>;
  for (const m of ['readStart', 'readStop', 'useUserBuffer', 'writeBuffer', 'shutdown', 'close', 'setNoDelay', 'bind', 'bind6', 'listen', 'connect', 'connect6', 'getsockname', 'getpeername']) {
    assert.equal(typeof h[m], 'function', m);
  }
  assert.equal(typeof h.bytesRead, 'number');
  (h as unknown as UvTcp).close();
});

test('a round trip on raw handles: accept, connect, read, synchronous write, EOF, shutdown, close', async () => {
  const server = await listenHandle('127.0.0.1', 0);
  assert.ok(server.port > 0);
  const got: string[] = [];
  const done = new Promise<void>((resolve) => {
    server.handle.onconnection = (status, client) => {
      assert.equal(status, 0);
      const peer: Partial<net.AddressInfo> = {};
      assert.equal(client!.getpeername(peer), 0);
      assert.equal(peer.address, '127.0.0.1');
      client!.onread = (ab) => {
        const n = streamBaseState[kReadBytesOrError]!;
        if (n > 0) {
          got.push(Buffer.from(ab!, streamBaseState[kArrayBufferOffset]!, n).toString());
          const req = new WriteWrap();
          req.handle = client!;
          req.oncomplete = () => {};
          req.async = false;
          assert.equal(client!.writeBuffer(req, Buffer.from('pong')), 0);
          assert.equal(streamBaseState[kLastWriteWasAsync], 0, 'a small write completes at once');
          return;
        }
        assert.equal(n, UV_EOF, 'the client half-closed: EOF');
        const sreq = new ShutdownWrap();
        sreq.handle = client!;
        sreq.oncomplete = (s) => {
          assert.equal(s, 0);
          client!.close(() => resolve());
        };
        assert.equal(client!.shutdown(sreq), 0);
      };
      assert.equal(client!.readStart(), 0);
    };
  });
  const reply = await new Promise<string>((resolve, reject) => {
    const s = net.connect({ port: server.port, host: '127.0.0.1', allowHalfOpen: true }, () => s.end('ping'));
    let text = '';
    s.on('data', (c) => (text += c));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
  await done;
  assert.deepEqual(got, ['ping']);
  assert.equal(reply, 'pong');
  await new Promise<void>((r) => server.handle.close(r));
});

test('listenHandle names a port in use as EADDRINUSE; connectTo reports a refused port with its code, and tries every address of a name', async () => {
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as net.AddressInfo).port;
  await assert.rejects(listenHandle('127.0.0.1', port), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE' && err.message.includes(`127.0.0.1:${port}`));
  const connect = (host: string) =>
    new Promise<{ code: string | undefined; connected: boolean }>((resolve) => {
      connectTo(host, port, (err, handle) => {
        handle?.close();
        resolve({ code: err?.code, connected: handle !== null });
      });
    });
  // 'localhost' may resolve to ::1 first; the IPv4 listener must still be found.
  assert.deepEqual(await connect('localhost'), { code: undefined, connected: true });
  await new Promise<void>((r) => taken.close(() => r()));
  assert.deepEqual(await connect('127.0.0.1'), { code: 'ECONNREFUSED', connected: false });
  assert.equal(uvError(undefined, 'write').code, 'EBADF', 'a closed handle returns undefined: still a proper error');
});
