/**
 * TLS termination on the L7 listener (listen.tls), end to end on 127.0.0.1 with certificates
 * made at test time: the handshake and proxying (X-Forwarded-Proto https), SNI choosing the
 * certificate, TLS 1.1 and h2-only ALPN refused, keep-alive over TLS, a reload swapping the
 * certificate while an open connection keeps working, and bad files refused naming the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { parse as parseYaml } from 'yaml';
import { track, until } from '../helpers/lifecycle.js';
import { httpServer, local, startBallast } from '../helpers/servers.js';
import { makeCa, selfSigned, signed } from '../../src/proxy/tls/self-signed.js';
import { parseConfig, ConfigError } from '../../src/config/load.js';
import { Ballast } from '../../src/app/ballast.js';
import { silentLogger } from '../../src/util/log.js';
import { tlsExchange, testCertDir } from './support.js';

const dir = testCertDir();
const ca = makeCa(dir, 'ca');
const main = signed(dir, ca, 'main', 'localhost');
const api = signed(dir, ca, 'api', 'api.test');
const wild = signed(dir, ca, 'wild', '*.apps.test');
const other = selfSigned(dir, 'other', 'localhost');

const backend = track(
  await httpServer((req, res) => {
    res.setHeader('X-Seen-Proto', String(req.headers['x-forwarded-proto']));
    res.end(`hello ${req.url}`);
  }),
);

function tlsConfig(certFile = main.certFile, keyFile = main.keyFile, extra: Record<string, unknown> = {}) {
  return {
    cert: certFile,
    key: keyFile,
    sni: [
      { servername: 'api.test', cert: api.certFile, key: api.keyFile },
      { servername: '*.apps.test', cert: wild.certFile, key: wild.keyFile },
    ],
    ...extra,
  };
}

const lb = track(await startBallast({ listen: { host: '127.0.0.1', port: 0, tls: tlsConfig() }, servers: [local(backend.port)] }));
const port = lb.address.port;
const trusting = { ca: [readFileSync(ca.certFile)] };


test('a request over TLS is proxied, the backend is told X-Forwarded-Proto: https, TLS 1.3 and ALPN http/1.1 are negotiated', async () => {
  const r = await tlsExchange(port, { ...trusting, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'], requests: ['GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'] });
  assert.equal(r.status, 200);
  assert.match(r.text, /\r\n\r\nhello \/x$/);
  assert.match(r.text, /X-Seen-Proto: https/i);
  assert.equal(r.protocol, 'TLSv1.3');
  assert.equal(r.alpn, 'http/1.1');
  assert.equal(r.fingerprint, main.fingerprint);
  assert.equal(lb.url, `https://127.0.0.1:${port}`);
});

test('TLS 1.2 is served too, with a forward-secret AEAD cipher', async () => {
  const r = await tlsExchange(port, { ...trusting, servername: 'localhost', maxVersion: 'TLSv1.2' });
  assert.equal(r.status, 200);
  assert.equal(r.protocol, 'TLSv1.2');
});

test('keep-alive over TLS: several requests on one connection, in order', async () => {
  const reqs = ['/a', '/b', '/c'].map((p, i) => `GET ${p} HTTP/1.1\r\nHost: localhost\r\n${i === 2 ? 'Connection: close\r\n' : ''}\r\n`);
  const r = await tlsExchange(port, { ...trusting, servername: 'localhost', requests: reqs });
  const bodies = [...r.text.matchAll(/hello (\/\w)/g)].map((m) => m[1]);
  assert.deepEqual(bodies, ['/a', '/b', '/c']);
});

test('SNI picks the certificate: an exact name, a wildcard one label deep, the default for any other name', async () => {
  assert.equal((await tlsExchange(port, { ...trusting, servername: 'api.test' })).fingerprint, api.fingerprint);
  assert.equal((await tlsExchange(port, { ...trusting, servername: 'x.apps.test' })).fingerprint, wild.fingerprint);
  // Two labels below the wildcard: not covered, the default certificate.
  assert.equal((await tlsExchange(port, { ...trusting, servername: 'a.b.apps.test', rejectUnauthorized: false })).fingerprint, main.fingerprint);
  assert.equal((await tlsExchange(port, { ...trusting, servername: 'elsewhere.test', rejectUnauthorized: false })).fingerprint, main.fingerprint);
});

test('TLS 1.1 is refused by the balancer (counted as a failed handshake)', async () => {
  const before = lb.stats.counters().rejected.tls_handshake;
  // SECLEVEL=0 lets this client offer TLS 1.1 at all: the refusal must come from the balancer.
  await assert.rejects(
    tlsExchange(port, { rejectUnauthorized: false, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
    (err: NodeJS.ErrnoException) => /PROTOCOL_VERSION|VERSION/i.test(String(err.code)),
  );
  assert.ok(await until(() => lb.stats.counters().rejected.tls_handshake === before + 1));
});

test('ALPN: a client offering only h2 gets the no_application_protocol alert; one offering no ALPN is served', async () => {
  await assert.rejects(tlsExchange(port, { ...trusting, servername: 'localhost', ALPNProtocols: ['h2'] }), (err: NodeJS.ErrnoException) => {
    assert.match(String(err.code), /NO_APPLICATION_PROTOCOL/);
    return true;
  });
  const r = await tlsExchange(port, { ...trusting, servername: 'localhost' });
  assert.equal(r.status, 200);
  assert.equal(r.alpn, false);
});

test('listen.tls.minVersion TLSv1.3 refuses a TLS 1.2 client', async () => {
  const strict = track(await startBallast({ listen: { host: '127.0.0.1', port: 0, tls: { cert: main.certFile, key: main.keyFile, minVersion: 'TLSv1.3' } }, servers: [local(backend.port)] }));
  await assert.rejects(tlsExchange(strict.address.port, { ...trusting, servername: 'localhost', maxVersion: 'TLSv1.2' }));
  assert.equal((await tlsExchange(strict.address.port, { ...trusting, servername: 'localhost' })).protocol, 'TLSv1.3');
});

test('reload swaps the certificate: new connections get the new one, an open connection keeps working', async () => {
  const certFile = path.join(dir, 'live.crt');
  const keyFile = path.join(dir, 'live.key');
  copyFileSync(main.certFile, certFile);
  copyFileSync(main.keyFile, keyFile);
  const input = { listen: { host: '127.0.0.1', port: 0, tls: { cert: certFile, key: keyFile } }, servers: [local(backend.port)] };
  const b = track(await startBallast(input));
  const p = b.address.port;
  // An open keep-alive connection: one request now, the next after the reload.
  const open = tlsKeepAlive(p);
  assert.match(await open.send('/before'), /hello \/before/);
  assert.equal(open.fingerprint(), main.fingerprint);

  copyFileSync(other.certFile, certFile);
  copyFileSync(other.keyFile, keyFile);
  b.reload(parseConfig({ ...input, admin: { enabled: false }, healthCheck: { enabled: false } }));

  const fresh = await tlsExchange(p, { rejectUnauthorized: false, servername: 'localhost' });
  assert.equal(fresh.fingerprint, other.fingerprint);
  assert.match(await open.send('/after'), /hello \/after/);
  open.close();

  // A mismatched pair refuses the reload, naming the key file; the new certificate stays.
  copyFileSync(main.keyFile, keyFile);
  assert.throws(
    () => b.reload(parseConfig({ ...input, admin: { enabled: false }, healthCheck: { enabled: false } })),
    (err: Error) => err instanceof ConfigError && err.message.includes(keyFile) && /does not match/.test(err.message),
  );
  assert.equal((await tlsExchange(p, { rejectUnauthorized: false, servername: 'localhost' })).fingerprint, other.fingerprint);
});

/** One TLS keep-alive connection sending a request at a time. */
function tlsKeepAlive(p: number): { send(path: string): Promise<string>; fingerprint(): string; close(): void } {
  const sock = tls.connect({ host: '127.0.0.1', port: p, rejectUnauthorized: false, servername: 'localhost' });
  sock.on('error', () => {});
  let waiting: ((text: string) => void) | null = null;
  let buf = '';
  sock.on('data', (c: Buffer) => {
    buf += c.toString('latin1');
    const m = /\r\n\r\n(hello \S+)$/.exec(buf);
    if (m !== null && waiting !== null) {
      const w = waiting;
      waiting = null;
      const text = buf;
      buf = '';
      w(text);
    }
  });
  const ready = new Promise<void>((r) => sock.once('secureConnect', () => r()));
  return {
    async send(path: string) {
      await ready;
      const reply = new Promise<string>((r) => (waiting = r));
      sock.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      return reply;
    },
    fingerprint: () => sock.getPeerX509Certificate()?.fingerprint256 ?? '',
    close: () => sock.destroy(),
  };
}

test('bad certificate files stop the start with a ConfigError naming the file', async () => {
  const notPem = path.join(dir, 'garbage.crt');
  writeFileSync(notPem, 'not a certificate\n');
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ cert: path.join(dir, 'missing.crt'), key: main.keyFile }, /listen\.tls\.cert: cannot read .*missing\.crt: no such file/],
    [{ cert: notPem, key: main.keyFile }, /listen\.tls\.cert: .*garbage\.crt holds no PEM certificate/],
    [{ cert: main.certFile, key: main.certFile }, /listen\.tls\.key: .*main\.crt: not a valid PEM private key/],
    [{ cert: main.certFile, key: other.keyFile }, /listen\.tls\.key: .*other\.key does not match the certificate in .*main\.crt/],
    [{ cert: main.certFile, key: main.keyFile, sni: [{ servername: 'api.test', cert: api.certFile, key: wild.keyFile }] }, /listen\.tls\.sni\[0\]\.key: .*wild\.key does not match/],
  ];
  for (const [tlsIn, re] of cases) {
    const config = parseConfig({ listen: { host: '127.0.0.1', port: 0, tls: tlsIn }, servers: [local(backend.port)], admin: { enabled: false }, healthCheck: { enabled: false } });
    await assert.rejects(Ballast.start({ config, log: silentLogger() }), (err: Error) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, re);
      return true;
    });
  }
});

test('tcp mode refuses listen.tls and servers[].tls: TLS passes through there', () => {
  assert.throws(() => parseConfig({ mode: 'tcp', listen: { tls: { cert: main.certFile, key: main.keyFile } }, servers: [local(backend.port)] }), /listen\.tls: TLS termination needs mode http; in tcp mode TLS passes through/);
  assert.throws(() => parseConfig({ mode: 'tcp', servers: [{ ...local(backend.port), tls: true }] }), /servers\[0\]\.tls: TLS to backends needs mode http/);
});

test('a connection in its handshake counts against maxClientConnections', async () => {
  const b = track(await startBallast({ listen: { host: '127.0.0.1', port: 0, tls: { cert: main.certFile, key: main.keyFile } }, servers: [local(backend.port)], limits: { maxClientConnections: 1 } }));
  // A TCP connection that never says hello holds the one slot.
  const idle = net.connect(b.address.port, '127.0.0.1');
  idle.on('error', () => {});
  await new Promise<void>((r) => idle.once('connect', () => r()));
  await assert.rejects(tlsExchange(b.address.port, { rejectUnauthorized: false, servername: 'localhost' }));
  assert.ok(await until(() => b.stats.counters().rejected.too_many_connections >= 1));
  idle.destroy();
  const ok = await retryUntilServed(b.address.port);
  assert.equal(ok.status, 200);
});

async function retryUntilServed(p: number) {
  for (let i = 0; ; i++) {
    try {
      return await tlsExchange(p, { rejectUnauthorized: false, servername: 'localhost' });
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

test('a client that half-closes after its request (TLS close_notify and FIN) still gets the response', async () => {
  const reply = await new Promise<string>((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, ca: [readFileSync(ca.certFile)], servername: 'localhost' }, () => {
      sock.end('GET /half HTTP/1.1\r\nHost: localhost\r\n\r\n');
    });
    let text = '';
    sock.on('data', (c: Buffer) => (text += c.toString('latin1')));
    sock.on('error', reject);
    sock.on('close', () => resolve(text));
  });
  assert.match(reply, /^HTTP\/1\.1 200[\s\S]*hello \/half$/);
});

test('the TLS config shown in docs/operations.md is a valid config', () => {
  const doc = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## TLS: HTTPS for clients'));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(yaml !== undefined, 'a yaml block in the TLS section');
  const config = parseConfig(parseYaml(yaml));
  assert.equal(config.listen.tls?.sni.length, 2);
  assert.deepEqual(config.servers.map((s) => s.tls !== undefined), [true, false]);
});
