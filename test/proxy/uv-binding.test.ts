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

/** The running major; the bindings are only vouched for on the majors package.json's `engines` names. */
const major = Number(process.versions.node.split('.')[0]);

/**
 * Where the supported majors differ around what we use (checked on 20.20, 22.23 and 24.22).
 * None of it changes our code path (we read neither kLastWriteErr nor write with a null
 * request, and bind without flags), but a difference not listed here means the binding moved:
 * check handles.ts, then add it.
 */
const perMajor: Record<number, { streamState: string[]; tcpFlags: string[]; tcpExtraMethods: string[] }> = {
  20: { streamState: ['kReadBytesOrError', 'kArrayBufferOffset', 'kBytesWritten', 'kLastWriteWasAsync'], tcpFlags: ['SOCKET', 'SERVER', 'UV_TCP_IPV6ONLY'], tcpExtraMethods: [] },
  // 22 has SO_REUSEPORT as a bind flag (what net's `reusePort` listen option uses).
  22: { streamState: ['kReadBytesOrError', 'kArrayBufferOffset', 'kBytesWritten', 'kLastWriteWasAsync'], tcpFlags: ['SOCKET', 'SERVER', 'UV_TCP_IPV6ONLY', 'UV_TCP_REUSEPORT'], tcpExtraMethods: [] },
  // 24 adds kLastWriteErr: net's own writes pass a null request and read the error there.
  24: {
    streamState: ['kReadBytesOrError', 'kArrayBufferOffset', 'kBytesWritten', 'kLastWriteWasAsync', 'kLastWriteErr'],
    tcpFlags: ['SOCKET', 'SERVER', 'UV_TCP_IPV6ONLY', 'UV_TCP_REUSEPORT'],
    tcpExtraMethods: ['setTypeOfService', 'getTypeOfService'],
  },
};

test('the bindings exist with the constructors, constants and methods we use (Node 20, 22 and 24)', () => {
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

test(`the differences of Node ${major}'s bindings from the other supported majors are the known ones`, () => {
  const expected = perMajor[major];
  assert.ok(expected, `Node ${major} is not a supported major (20, 22, 24): check src/proxy/uv/handles.ts against it, then list it here`);
  const legacy = process as unknown as { binding(name: string): Record<string, unknown> };
  const streamWrap = legacy.binding('stream_wrap');
  const stateKeys = Object.keys(streamWrap).filter((k) => k.startsWith('k'));
  assert.deepEqual(stateKeys.sort(), [...expected.streamState].sort());
  assert.equal(streamBaseState.length, expected.streamState.length, 'one streamBaseState slot per index');
  const tcpWrap = legacy.binding('tcp_wrap') as { constants: Record<string, number>; TCP: { prototype: object } };
  assert.deepEqual(Object.keys(tcpWrap.constants).sort(), [...expected.tcpFlags].sort());
  const common = ['open', 'bind', 'listen', 'connect', 'bind6', 'connect6', 'getsockname', 'getpeername', 'setNoDelay', 'setKeepAlive', 'reset', 'constructor'];
  // Methods only: net.js adds an `owner` accessor to the prototype once it has made a socket.
  const proto = tcpWrap.TCP.prototype;
  const methods = Object.getOwnPropertyNames(proto).filter((k) => typeof Object.getOwnPropertyDescriptor(proto, k)!.value === 'function');
  assert.deepEqual(methods.sort(), [...common, ...expected.tcpExtraMethods].sort());
});

test('a write given our own WriteWrap returns a status number on every major, and an asynchronous one completes through oncomplete', async () => {
  // Node 24's net passes a null request and gets a request object back when the write goes
  // asynchronous; the proxy passes its own and relies on getting a number and kLastWriteWasAsync.
  let release!: () => void;
  let received = 0;
  const allIn = new Promise<void>((resolve) => {
    const server = net.createServer((s) => {
      s.pause(); // not reading yet: a large write cannot finish at once
      release = () => s.resume();
      s.on('data', (c: Buffer) => (received += c.length));
      s.on('end', () => {
        s.end();
        server.close(() => resolve());
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      connectTo('127.0.0.1', port, (err, handle) => {
        assert.equal(err, null);
        writeThenShutdown(handle!);
      });
    });
  });
  const size = 16 << 20;
  const completed: number[] = [];
  const writeThenShutdown = (handle: UvTcp) => {
    const big = Buffer.alloc(size, 0x61);
    const req = new WriteWrap();
    req.handle = handle;
    req.async = false;
    req.buffer = big;
    req.oncomplete = (status) => {
      completed.push(status);
      const sreq = new ShutdownWrap();
      sreq.handle = handle;
      sreq.oncomplete = () => handle.close();
      handle.shutdown(sreq);
    };
    const status = handle.writeBuffer(req, big);
    assert.equal(status, 0, 'a number, not a request object');
    assert.equal(streamBaseState[kLastWriteWasAsync], 1, 'more than the socket buffers hold: asynchronous');
    assert.deepEqual(completed, [], 'not complete before the peer reads');
    release();
  };
  await allIn;
  assert.deepEqual(completed, [0]);
  assert.equal(received, size);
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
