/**
 * PROXY protocol in TCP (L4) mode, end to end on 127.0.0.1: a header accepted from a trusted
 * sender and its client address passed on in the header sent to the backend; the client's
 * bytes that share a read with the header; untrusted senders, malformed headers and silent
 * connections closed with nothing forwarded; the client address as the hash key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeV2 } from '../../src/proxy/proxy-protocol/encode.js';
import { local, startBallast } from '../helpers/servers.js';
import { track, until } from '../helpers/lifecycle.js';
import { echoBackend } from './backends.js';
import { exchange } from './client.js';

const TRUSTED = { proxyProtocol: true, proxyProtocolFrom: ['127.0.0.1/32'] };

test('tcp: a v1 header from a trusted sender, the client data in the same write; the backend gets a v2 header with the client address, then the data', async () => {
  const backend = track(await echoBackend());
  const lb = track(await startBallast({ mode: 'tcp', listen: { host: '127.0.0.1', port: 0, ...TRUSTED }, servers: [{ ...local(backend.port), sendProxy: 'v2' }] }));
  const r = await exchange(lb.address.port, ['PROXY TCP4 203.0.113.7 198.51.100.9 4242 80\r\nhello, backend'], { end: true });
  assert.equal(r.data, 'hello, backend');
  assert.deepEqual(backend.headers, [{ version: 2, command: 'proxy', source: '203.0.113.7', sourcePort: 4242, destination: '198.51.100.9', destinationPort: 80 }]);
});

test('tcp: a v2 IPv6 header arriving in pieces, the data after a pause; the backend gets it as a v1 TCP6 line', async () => {
  const backend = track(await echoBackend());
  const lb = track(await startBallast({ mode: 'tcp', listen: { host: '127.0.0.1', port: 0, ...TRUSTED }, servers: [{ ...local(backend.port), sendProxy: 'v1' }] }));
  const header = encodeV2({ source: '2001:db8::7', sourcePort: 50000, destination: '2001:db8::1', destinationPort: 443 });
  const r = await exchange(lb.address.port, [header.subarray(0, 5), 30, header.subarray(5, 20), 30, Buffer.concat([header.subarray(20), Buffer.from('first')]), 30, ' second'], { end: true });
  assert.equal(r.data, 'first second');
  assert.deepEqual(backend.headers, [{ version: 1, command: 'proxy', source: '2001:db8::7', sourcePort: 50000, destination: '2001:db8::1', destinationPort: 443 }]);
});

test('tcp: a LOCAL header (the sender\'s own check) and no incoming header at all: the real peer and listener are passed on', async () => {
  const backend = track(await echoBackend());
  const plain = track(await startBallast({ mode: 'tcp', servers: [{ ...local(backend.port), sendProxy: 'v1' }] }));
  assert.equal((await exchange(plain.address.port, ['direct'], { end: true })).data, 'direct');
  const lb = track(await startBallast({ mode: 'tcp', listen: { host: '127.0.0.1', port: 0, ...TRUSTED }, servers: [{ ...local(backend.port), sendProxy: 'v1' }] }));
  assert.equal((await exchange(lb.address.port, [Buffer.concat([encodeV2(null), Buffer.from('local')])], { end: true })).data, 'local');
  assert.equal(backend.headers.length, 2);
  for (const [i, port] of [plain.address.port, lb.address.port].entries()) {
    const h = backend.headers[i]!;
    assert.equal(h.command, 'proxy');
    assert.equal(h.source, '127.0.0.1');
    assert.ok(h.sourcePort > 0);
    assert.equal(h.destination, '127.0.0.1');
    assert.equal(h.destinationPort, port, 'the destination is the listener the client reached');
  }
});

test('tcp: untrusted senders, malformed headers and a silent connection are closed; the backend never hears of them', async () => {
  const backend = track(await echoBackend());
  const lb = track(
    await startBallast({
      mode: 'tcp',
      listen: { host: '127.0.0.1', port: 0, ...TRUSTED },
      timeouts: { clientHeadersMs: 300 },
      servers: [{ ...local(backend.port), sendProxy: 'v2' }],
    }),
  );
  const port = lb.address.port;
  // From 127.0.0.2, outside proxyProtocolFrom: even a well-formed header is not believed.
  const untrusted = await exchange(port, ['PROXY TCP4 203.0.113.7 198.51.100.9 4242 80\r\nspoofed'], { localAddress: '127.0.0.2' });
  assert.deepEqual(untrusted, { data: '', closed: true });
  for (const bad of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'PROXY TCP4 203.0.113.7 198.51.100.9 99999 80\r\ndata', `PROXY UNKNOWN ${'x'.repeat(200)}\r\n`]) {
    assert.deepEqual(await exchange(port, [bad]), { data: '', closed: true }, JSON.stringify(bad.slice(0, 30)));
  }
  // A header that never completes, and a connection that sends nothing: closed after clientHeadersMs.
  assert.deepEqual(await exchange(port, ['PROXY TCP4 203.0.'], { idleMs: 5_000 }), { data: '', closed: true });
  assert.deepEqual(await exchange(port, [], { idleMs: 5_000 }), { data: '', closed: true });
  assert.equal(backend.connections(), 0);
  assert.equal(lb.stats.counters().rejected.proxy_protocol, 6);
  // The same listener still serves a good one.
  assert.equal((await exchange(port, ['PROXY TCP4 203.0.113.7 198.51.100.9 4242 80\r\nok'], { end: true })).data, 'ok');
  assert.ok(await until(() => lb.pool.totalInflight === 0));
});

test('tcp: the header\'s client address is the hash key (beta1 by client IP): one client, one backend, whatever the real peer', async () => {
  const a = track(await echoBackend());
  const b = track(await echoBackend());
  const lb = track(
    await startBallast({
      mode: 'tcp',
      strategy: 'beta1',
      beta1: { key: { clientIp: true } },
      listen: { host: '127.0.0.1', port: 0, ...TRUSTED },
      servers: [{ ...local(a.port), sendProxy: 'v1' }, { ...local(b.port), sendProxy: 'v1' }],
    }),
  );
  // Enough clients that all of them hashing to one backend (the ports, and so the backends'
  // hashes, change per run) is a 2^-39 chance, not the 2^-11 of twelve.
  const clients = Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 1}`);
  for (let round = 0; round < 2; round++) {
    for (const c of clients) {
      const r = await exchange(lb.address.port, [`PROXY TCP4 ${c} 192.0.2.1 1000 80\r\nx`], { end: true });
      assert.equal(r.data, 'x');
    }
  }
  const servedBy = new Map<string, Set<string>>();
  for (const [name, backend] of [['a', a], ['b', b]] as const) {
    for (const h of backend.headers) (servedBy.get(h.source) ?? servedBy.set(h.source, new Set()).get(h.source)!).add(name);
  }
  assert.equal(servedBy.size, clients.length);
  for (const [client, names] of servedBy) assert.equal(names.size, 1, `${client} went to ${[...names]}`);
  assert.ok(a.headers.length > 0 && b.headers.length > 0, 'the clients spread over both backends');
});
