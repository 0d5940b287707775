/**
 * TLS to backends (servers[].tls), end to end on 127.0.0.1 against node:https backends with
 * certificates made at test time: verification is on by default (an untrusted or misnamed
 * certificate fails like a refused connection), `ca` makes it pass, insecureSkipVerify
 * accepts any, keep-alive connections are reused, and health checks speak TLS with the same
 * verification as traffic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { track, until } from '../helpers/lifecycle.js';
import { request, startBallast } from '../helpers/servers.js';
import { makeCa, selfSigned, signed } from '../../src/proxy/tls/self-signed.js';
import { testCertDir } from './support.js';

const dir = testCertDir();
const ca = makeCa(dir, 'ca');
const leaf = signed(dir, ca, 'backend', 'backend.test');
const self = selfSigned(dir, 'self', 'localhost');

interface HttpsBackend {
  port: number;
  connections(): number;
  seen: Array<{ alpn: string | false | null; servername: string | false }>;
  close(): Promise<void>;
}

async function httpsBackend(cert: { certFile: string; keyFile: string }, name: string): Promise<HttpsBackend> {
  let connections = 0;
  const seen: HttpsBackend['seen'] = [];
  const server = https.createServer({ cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile), ALPNProtocols: ['http/1.1'] }, (req, res) => {
    const sock = req.socket as TLSSocket;
    seen.push({ alpn: sock.alpnProtocol, servername: (sock as TLSSocket & { servername: string | false }).servername });
    res.end(req.url === '/health' ? 'ok' : `from ${name}`);
  });
  server.keepAliveTimeout = 30_000;
  server.on('secureConnection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const signedBackend = track(await httpsBackend(leaf, 'signed'));
const selfBackend = track(await httpsBackend(self, 'self'));

async function get(lbUrl: string, path = '/'): Promise<{ status: number; body: string }> {
  const r = await request(`${lbUrl.replace('https:', 'http:')}${path}`);
  return { status: r.status, body: r.body.toString() };
}

test('verification is on by default: a certificate from an unknown CA fails the request, with ca it is served', async () => {
  const strict = track(await startBallast({ servers: [{ host: '127.0.0.1', port: signedBackend.port, tls: true }], retries: { enabled: false } }));
  const refused = await get(strict.url);
  assert.equal(refused.status, 502);

  const trusting = track(
    await startBallast({ servers: [{ host: '127.0.0.1', port: signedBackend.port, tls: { ca: ca.certFile, servername: 'backend.test' } }] }),
  );
  const ok = await get(trusting.url, '/x');
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'from signed');
  const last = signedBackend.seen.at(-1)!;
  assert.equal(last.alpn, 'http/1.1');
  assert.equal(last.servername, 'backend.test');
});

test('the certificate must name the servername (or the IP when none is given)', async () => {
  const misnamed = track(
    await startBallast({ servers: [{ host: '127.0.0.1', port: signedBackend.port, tls: { ca: ca.certFile, servername: 'other.test' } }], retries: { enabled: false } }),
  );
  assert.equal((await get(misnamed.url)).status, 502);
  // The leaf names 127.0.0.1 too (self-signed.ts): with no servername, the IP is checked.
  const byIp = track(await startBallast({ servers: [{ host: '127.0.0.1', port: signedBackend.port, tls: { ca: ca.certFile } }] }));
  assert.equal((await get(byIp.url)).status, 200);
});

test('insecureSkipVerify accepts a self-signed certificate', async () => {
  const lax = track(await startBallast({ servers: [{ host: '127.0.0.1', port: selfBackend.port, tls: { insecureSkipVerify: true } }] }));
  const r = await get(lax.url);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'from self');
});

test('TLS backend connections are kept alive and reused', async () => {
  const lb = track(await startBallast({ servers: [{ host: '127.0.0.1', port: signedBackend.port, tls: { ca: ca.certFile } }] }));
  const before = signedBackend.connections();
  for (let i = 0; i < 5; i++) assert.equal((await get(lb.url)).status, 200);
  assert.equal(signedBackend.connections() - before, 1);
});

test('health checks speak TLS with the same verification: trusted backend up, untrusted one down', async () => {
  const checks = { enabled: true, intervalMs: 100, timeoutMs: 1_000, rise: 1, fall: 1 };
  const lb = track(
    await startBallast({
      healthCheck: checks,
      servers: [
        { host: '127.0.0.1', port: signedBackend.port, tls: { ca: ca.certFile } },
        { host: '127.0.0.1', port: selfBackend.port, tls: true },
      ],
    }),
  );
  const [trusted, untrusted] = lb.pool.backends;
  assert.ok(await until(() => trusted!.healthy && !untrusted!.healthy, 5_000));
  assert.match(String(lb.health.state(untrusted!)?.lastError), /SELF_SIGNED|CERT/);
  // A TCP-type check is a TLS handshake for a TLS backend: it fails on the same certificate.
  const tcpChecked = track(
    await startBallast({ healthCheck: { ...checks, type: 'tcp' }, servers: [{ host: '127.0.0.1', port: selfBackend.port, tls: true }] }),
  );
  const b = tcpChecked.pool.backends[0]!;
  assert.ok(await until(() => (tcpChecked.health.state(b)?.checks ?? 0) >= 2, 5_000));
  assert.equal(b.healthy, false);
});

test('a CA file that cannot be read or is no certificate refuses the start, naming the file', async () => {
  await assert.rejects(
    startBallast({ servers: [{ host: '127.0.0.1', port: signedBackend.port, tls: { ca: `${dir}/nope.pem` } }] }),
    /servers\[0\]\.tls\.ca: cannot read .*nope\.pem: no such file/,
  );
  await assert.rejects(startBallast({ servers: [{ host: '127.0.0.1', port: signedBackend.port, tls: { ca: leaf.keyFile } }] }), /servers\[0\]\.tls\.ca: .*backend\.key holds no PEM certificate/);
});
