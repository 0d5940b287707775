/**
 * The PROXY protocol with TLS, end to end on 127.0.0.1: the header travels in clear on the TCP
 * connection, before the TLS handshake, on both sides.
 * - Listener (listen.proxyProtocol with listen.tls): a balancer in front that passes TLS
 *   through (an AWS NLB, HAProxy in tcp mode) sends the header and, more often than not, the
 *   client's hello in the same segment; both ways must work, and the header's client is the
 *   one the backend is told about.
 * - Backends (servers[].sendProxy with servers[].tls): the header, then the handshake, for
 *   traffic and for health checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { encodeV1, encodeV2 } from '../../src/proxy/proxy-protocol/encode.js';
import { selfSigned } from '../../src/proxy/tls/self-signed.js';
import { deadPort, httpServer, local, startBallast } from '../helpers/servers.js';
import { track, until } from '../helpers/lifecycle.js';
import { testCertDir } from '../tls/support.js';
import { getSeen, tlsHttpBackend } from './backends.js';

const dir = testCertDir();
const cert = selfSigned(dir, 'lb', 'localhost');
const TRUSTED = { proxyProtocol: true, proxyProtocolFrom: ['127.0.0.1/32'] };

/**
 * A TCP balancer in front that passes TLS through and opens each connection to `target` with
 * `header`: together with the client's first bytes (one write), or alone `gapMs` before them.
 */
async function frontProxy(target: number, header: Buffer, gapMs: number | null) {
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    client.once('data', (first: Buffer) => {
      client.pause();
      const up = net.connect(target, '127.0.0.1', () => {
        const relay = () => {
          client.pipe(up).pipe(client);
          client.resume();
        };
        if (gapMs === null) {
          up.write(Buffer.concat([header, first]));
          relay();
        } else {
          up.write(header);
          setTimeout(() => {
            up.write(first);
            relay();
          }, gapMs);
        }
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
      client.once('close', () => up.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const close = () =>
    new Promise<void>((r) => {
      for (const s of open) s.destroy();
      server.close(() => r());
    });
  return { port: (server.address() as AddressInfo).port, close };
}

/** GET over TLS through `port`; the response's status and body. */
function tlsGet(port: number, path: string): Promise<{ status: number; body: string; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        createConnection: () => tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: [readFileSync(cert.certFile)], ALPNProtocols: ['http/1.1'] }),
        headers: { connection: 'close' },
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, protocol: (res.socket as tls.TLSSocket).getProtocol() }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('listen.proxyProtocol with listen.tls: the header before the handshake, in the same segment as the hello or alone; the backend hears of the header\'s client', async () => {
  const backend = track(
    await httpServer((req, res) => {
      res.end(String(req.headers['x-forwarded-for']) + ' ' + String(req.headers['x-forwarded-proto']));
    }),
  );
  const lb = track(await startBallast({ listen: { host: '127.0.0.1', port: 0, ...TRUSTED, tls: { cert: cert.certFile, key: cert.keyFile } }, servers: [local(backend.port)] }));
  const cases: Array<[string, Buffer, number | null, string]> = [
    ['v2 with the hello', encodeV2({ source: '203.0.113.7', sourcePort: 4242, destination: '198.51.100.9', destinationPort: 443 }), null, '203.0.113.7'],
    ['v1 with the hello', encodeV1({ source: '203.0.113.8', sourcePort: 4243, destination: '198.51.100.9', destinationPort: 443 }), null, '203.0.113.8'],
    ['v2 alone, the hello 30 ms later', encodeV2({ source: '203.0.113.9', sourcePort: 4244, destination: '198.51.100.9', destinationPort: 443 }), 30, '203.0.113.9'],
  ];
  for (const [name, header, gap, client] of cases) {
    const front = track(await frontProxy(lb.address.port, header, gap));
    const r = await tlsGet(front.port, '/');
    assert.equal(r.status, 200, name);
    assert.equal(r.body, `${client} https`, name);
    assert.equal(r.protocol, 'TLSv1.3', name);
    assert.equal(lb.stats.recentRequests(1)[0]!.client, client, `${name}: the stats' client`);
  }
  // A TLS client straight to the listener, without a header, is refused and nothing is served.
  const rejected = lb.stats.counters().rejected.proxy_protocol;
  await assert.rejects(tlsGet(lb.address.port, '/direct'));
  assert.ok(await until(() => lb.stats.counters().rejected.proxy_protocol === rejected + 1));
});

test('servers[].sendProxy with servers[].tls: the header in clear, then the TLS handshake, for traffic and for health checks', async () => {
  const backend = track(await tlsHttpBackend(cert));
  const lb = track(
    await startBallast({
      servers: [{ ...local(backend.port), sendProxy: 'v2', tls: { ca: cert.certFile, servername: 'localhost' } }],
      healthCheck: { enabled: true, intervalMs: 100, timeoutMs: 2_000, path: '/health' },
    }),
  );
  // A health check came: LOCAL, the balancer's own connection, then TLS.
  assert.ok(await until(() => backend.headers.some((h) => h.command === 'local')), JSON.stringify(backend.headers));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path: string) => getSeen({ port: lb.address.port, path, agent, localAddress: '127.0.0.2' });
  const a = await get('/a');
  const b = await get('/b');
  agent.destroy();
  assert.equal(a.header.version, 2);
  assert.equal(a.header.command, 'proxy');
  assert.equal(a.header.source, '127.0.0.2', 'the client, in the header');
  assert.equal(a.xff, '127.0.0.2');
  assert.equal(b.connection, a.connection, 'the same client reuses its backend connection (TLS kept alive)');
  assert.deepEqual([a.path, b.path], ['/a', '/b']);
});

test('servers[].sendProxy with servers[].tls: a backend that refuses the connection fails the attempt at once, and the request goes to the next backend', async () => {
  const live = track(await tlsHttpBackend(cert));
  const dead = await deadPort();
  const lb = track(
    await startBallast({
      strategy: 'round_robin',
      // Long, so that a refusal noticed only at the connect timeout could not pass below.
      timeouts: { connectMs: 20_000 },
      servers: [
        { ...local(dead), sendProxy: 'v2', tls: { ca: cert.certFile, servername: 'localhost' } },
        { ...local(live.port), sendProxy: 'v2', tls: { ca: cert.certFile, servername: 'localhost' } },
      ],
    }),
  );
  // Round robin sends one of every two first attempts to the dead backend: each must fail over.
  for (const path of ['/1', '/2', '/3', '/4']) {
    const started = performance.now();
    const seen = await getSeen({ port: lb.address.port, path, agent: false });
    assert.equal(seen.path, path);
    assert.equal(seen.header.command, 'proxy');
    // A refused connection is noticed when it is refused, not at the connect timeout.
    assert.ok(performance.now() - started < 10_000, `${path} took ${(performance.now() - started).toFixed(0)} ms`);
  }
});
