/**
 * PROXY protocol in HTTP (L7) mode, end to end on 127.0.0.1: the client address from an
 * incoming header in X-Forwarded-For, the stats and the header sent on to the backend; the
 * request sharing a read with the header; untrusted senders and malformed headers closed
 * without an answer; a backend connection reused only for the client whose header it carried;
 * health checks opening with LOCAL / UNKNOWN; the config errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { encodeV1, encodeV2 } from '../../src/proxy/proxy-protocol/encode.js';
import { parseConfig, ConfigError } from '../../src/config/load.js';
import { local, startBallast } from '../helpers/servers.js';
import { track, until } from '../helpers/lifecycle.js';
import { getSeen, httpBackend, type Seen } from './backends.js';
import { exchange } from './client.js';

const TRUSTED = { proxyProtocol: true, proxyProtocolFrom: ['127.0.0.1/32'] };

/** The JSON bodies of the responses in a raw HTTP/1.1 byte stream (each with Content-Length). */
function bodies(raw: string): Seen[] {
  const out: Seen[] = [];
  for (const part of raw.split('HTTP/1.1 ').slice(1)) {
    assert.match(part, /^200 /, part);
    out.push(JSON.parse(part.slice(part.indexOf('\r\n\r\n') + 4)) as Seen);
  }
  return out;
}

/**
 * A keep-alive client whose one connection opens with `header`: what a client behind a proxy
 * in front of Ballast looks like. `get` runs one request on it.
 */
function proxiedClient(port: number, header: Buffer) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  (agent as unknown as { createConnection: () => net.Socket }).createConnection = () => {
    const s = net.connect(port, '127.0.0.1');
    s.write(header);
    return s;
  };
  const get = (path: string) => getSeen({ port, path, agent });
  return { get, close: () => agent.destroy() };
}

test('http: the request in the same read as a v2 header; the backend gets a v1 header and X-Forwarded-For with the client from it; stats too', async () => {
  const backend = track(await httpBackend());
  const lb = track(await startBallast({ listen: { host: '127.0.0.1', port: 0, ...TRUSTED }, servers: [{ ...local(backend.port), sendProxy: 'v1' }] }));
  const header = encodeV2({ source: '203.0.113.7', sourcePort: 4242, destination: '198.51.100.9', destinationPort: 80 });
  // The client's own X-Forwarded-For is a claim from outside proxy.trustedProxies: replaced.
  const request = 'GET /a HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.9.9.9\r\nConnection: close\r\n\r\n';
  const r = await exchange(lb.address.port, [Buffer.concat([header, Buffer.from(request)])]);
  const [seen] = bodies(r.data);
  assert.deepEqual(seen!.header, { version: 1, command: 'proxy', source: '203.0.113.7', sourcePort: 4242, destination: '198.51.100.9', destinationPort: 80 });
  assert.equal(seen!.xff, '203.0.113.7');
  assert.equal(seen!.path, '/a');
  assert.equal(lb.stats.recentRequests(1)[0]!.client, '203.0.113.7');
});

test('http: a client behind a trusted proxy keeps its forwarding chain, judged by the address in its PROXY header', async () => {
  const backend = track(await httpBackend());
  const lb = track(
    await startBallast({
      listen: { host: '127.0.0.1', port: 0, ...TRUSTED },
      proxy: { trustedProxies: ['203.0.113.0/24'] },
      servers: [{ ...local(backend.port), sendProxy: 'v1' }],
    }),
  );
  const request = 'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.9.9.9\r\nConnection: close\r\n\r\n';
  const trusted = bodies((await exchange(lb.address.port, ['PROXY TCP4 203.0.113.7 198.51.100.9 4242 80\r\n', request])).data);
  assert.equal(trusted[0]!.xff, '10.9.9.9, 203.0.113.7');
  const other = bodies((await exchange(lb.address.port, ['PROXY TCP4 192.0.2.50 198.51.100.9 4242 80\r\n', request])).data);
  assert.equal(other[0]!.xff, '192.0.2.50');
});

test('http: with sendProxy, a backend connection serves only the client connection whose header it carried, and closes with it', async () => {
  const backend = track(await httpBackend());
  const lb = track(await startBallast({ listen: { host: '127.0.0.1', port: 0, ...TRUSTED }, servers: [{ ...local(backend.port), sendProxy: 'v2' }] }));
  const a = proxiedClient(lb.address.port, encodeV1({ source: '198.51.100.1', sourcePort: 1111, destination: '192.0.2.1', destinationPort: 80 }));
  const b = proxiedClient(lb.address.port, encodeV1({ source: '198.51.100.2', sourcePort: 2222, destination: '192.0.2.1', destinationPort: 80 }));
  const a1 = await a.get('/a1');
  const b1 = await b.get('/b1');
  const a2 = await a.get('/a2');
  const b2 = await b.get('/b2');
  assert.equal(a1.header.source, '198.51.100.1');
  assert.equal(b1.header.source, '198.51.100.2');
  assert.equal(a2.connection, a1.connection, "a's second request reuses a's backend connection");
  assert.equal(b2.connection, b1.connection, "b's second request reuses b's backend connection");
  assert.notEqual(a1.connection, b1.connection, "b never gets the connection idle after a's request");
  assert.deepEqual([a2.header.source, b2.header.source, a2.xff, b2.xff], ['198.51.100.1', '198.51.100.2', '198.51.100.1', '198.51.100.2']);
  assert.equal(backend.connections(), 2);
  a.close();
  assert.ok(await until(() => backend.open() === 1), "a's backend connection closes with a's client connection");
  b.close();
  assert.ok(await until(() => backend.open() === 0));
});

test('http: limits.maxIdlePerBackend caps the backend connections kept for clients, over all clients', async () => {
  const backend = track(await httpBackend());
  const lb = track(
    await startBallast({ listen: { host: '127.0.0.1', port: 0, ...TRUSTED }, limits: { maxIdlePerBackend: 1 }, servers: [{ ...local(backend.port), sendProxy: 'v1' }] }),
  );
  const a = proxiedClient(lb.address.port, encodeV1({ source: '198.51.100.1', sourcePort: 1111, destination: '192.0.2.1', destinationPort: 80 }));
  const b = proxiedClient(lb.address.port, encodeV1({ source: '198.51.100.2', sourcePort: 2222, destination: '192.0.2.1', destinationPort: 80 }));
  const a1 = await a.get('/a1');
  await b.get('/b1');
  // Both clients stay connected, but only a's backend connection may idle: b's closes.
  assert.ok(await until(() => backend.open() === 1), `${backend.open()} backend connections open`);
  assert.equal((await a.get('/a2')).connection, a1.connection, 'a still reuses its own');
  a.close();
  b.close();
});

test('http: untrusted senders, malformed headers and plain requests on a PROXY listener are closed without an answer', async () => {
  const backend = track(await httpBackend());
  const lb = track(await startBallast({ listen: { host: '127.0.0.1', port: 0, ...TRUSTED }, servers: [local(backend.port)] }));
  const request = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
  const port = lb.address.port;
  assert.deepEqual(await exchange(port, [`PROXY TCP4 203.0.113.7 198.51.100.9 4242 80\r\n${request}`], { localAddress: '127.0.0.2' }), { data: '', closed: true });
  assert.deepEqual(await exchange(port, [request]), { data: '', closed: true });
  assert.deepEqual(await exchange(port, [`PROXY TCP4 203.0.113.7 198.51.100.9 4242\r\n${request}`]), { data: '', closed: true });
  const truncatedTlv = encodeV2({ source: '203.0.113.7', sourcePort: 1, destination: '198.51.100.9', destinationPort: 80 });
  truncatedTlv.writeUInt16BE(12 + 4, 14); // says a TLV follows the addresses...
  const tlv = Buffer.from([0x01, 0x00, 0x10, 0x61]); // ...whose length runs past the header
  assert.deepEqual(await exchange(port, [Buffer.concat([truncatedTlv, tlv, Buffer.from(request)])]), { data: '', closed: true });
  assert.equal(backend.connections(), 0);
  assert.equal(lb.stats.counters().rejected.proxy_protocol, 4);
});

test('http: health checks to a backend sent PROXY headers open with v2 LOCAL (HTTP check) or v1 UNKNOWN (TCP check)', async () => {
  const v2 = track(await httpBackend());
  const v1 = track(await httpBackend());
  const checks = { enabled: true, intervalMs: 60_000, timeoutMs: 2_000 };
  const lb = track(await startBallast({ healthCheck: { ...checks, path: '/health' }, servers: [{ ...local(v2.port), sendProxy: 'v2' }] }));
  const tcp = track(await startBallast({ healthCheck: { ...checks, type: 'tcp' }, servers: [{ ...local(v1.port), sendProxy: 'v1' }] }));
  assert.equal(lb.pool.ready.length, 1, 'the HTTP check passed: the backend read its LOCAL header, then the request');
  assert.equal(tcp.pool.ready.length, 1);
  assert.ok(await until(() => v1.headers.length === 1));
  const none = { source: '', sourcePort: 0, destination: '', destinationPort: 0 };
  assert.deepEqual(v2.headers, [{ version: 2, command: 'local', ...none }]);
  assert.deepEqual(v1.headers, [{ version: 1, command: 'local', ...none }]);
  assert.equal(v2.bad() + v1.bad(), 0);
});

test('config: proxyProtocol without proxyProtocolFrom, or the other way round, is an error naming the field', () => {
  const servers = [{ host: '127.0.0.1', port: 9 }];
  assert.throws(() => parseConfig({ listen: { proxyProtocol: true }, servers }), (err: Error) => err instanceof ConfigError && /listen\.proxyProtocolFrom: required when listen\.proxyProtocol/.test(err.message));
  assert.throws(() => parseConfig({ listen: { proxyProtocol: true, proxyProtocolFrom: [] }, servers }), /listen\.proxyProtocolFrom: required/);
  assert.throws(() => parseConfig({ listen: { proxyProtocolFrom: ['10.0.0.0/8'] }, servers }), /listen\.proxyProtocolFrom: only means something with listen\.proxyProtocol/);
  assert.throws(() => parseConfig({ listen: { proxyProtocol: true, proxyProtocolFrom: ['10.0.0.0/33'] }, servers }), /listen\.proxyProtocolFrom\[0\]: .*prefix length/);
  assert.throws(() => parseConfig({ servers: [{ ...servers[0], sendProxy: 'v3' }] }), /servers\[0\]\.sendProxy/);
  const ok = parseConfig({ listen: { proxyProtocol: true, proxyProtocolFrom: ['10.0.0.5'] }, servers: [{ ...servers[0], sendProxy: 'v2' }] });
  assert.equal(ok.listen.port, 8080, 'the other listen defaults still apply');
  assert.equal(ok.servers[0]!.sendProxy, 'v2');
  assert.equal(parseConfig({ servers }).listen.proxyProtocol, false);
});

test('reload: turning listen.proxyProtocol on applies to the next connections', async () => {
  const backend = track(await httpBackend());
  const servers = [{ ...local(backend.port), sendProxy: 'v1' as const }];
  const lb = track(await startBallast({ servers }));
  const request = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  assert.equal(bodies((await exchange(lb.address.port, [request])).data)[0]!.header.source, '127.0.0.1');
  lb.reload(parseConfig({ listen: { host: '127.0.0.1', port: 0, ...TRUSTED }, admin: { enabled: false }, healthCheck: { enabled: false }, servers }));
  assert.deepEqual(await exchange(lb.address.port, [request]), { data: '', closed: true }, 'a plain request is refused now');
  const r = await exchange(lb.address.port, [`PROXY TCP4 203.0.113.7 198.51.100.9 4242 80\r\n${request}`]);
  assert.equal(bodies(r.data)[0]!.header.source, '203.0.113.7');
});
