/**
 * Regression tests for the admin server's security issue: DNS rebinding through a Host name
 * that merely starts with `127.`, CORS headers on reads, an admin port exposed without a
 * token (only warned about before), and unbounded event streams and connections.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { exposureWarning } from '../../src/admin/server.js';
import { call, startFixture, type Fixture } from './fixture.js';

describe('DNS-rebinding guard without a token', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
  });
  after(() => f.close());

  test('a POST naming 127.0.0.1.evil.example is refused and changes nothing', async () => {
    for (const host of ['127.0.0.1.evil.example', `127.0.0.1.evil.example:${f.port}`, '127.foo', 'localhost.evil.example']) {
      const r = await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'least_connections' }, headers: { Host: host } });
      assert.equal(r.status, 403, host);
      assert.equal(r.json.success, false);
      assert.match(r.json.error, /Host header .*admin\.token/);
    }
    assert.equal(f.active.name, 'round_robin');
  });

  test('reads through a rebound name are refused too', async () => {
    for (const path of ['/api/status', '/api/servers', '/api/events', '/metrics', '/']) {
      const r = await call(f.port, 'GET', path, { headers: { Host: `127.0.0.1.evil.example:${f.port}` } });
      assert.equal(r.status, 403, path);
      assert.equal(r.json.success, false, path);
    }
  });

  test('IP literals and localhost still work, for reads and changes', async () => {
    for (const host of [`127.0.0.1:${f.port}`, `localhost:${f.port}`, `LOCALHOST:${f.port}`, '127.0.0.1', `[::1]:${f.port}`]) {
      assert.equal((await call(f.port, 'GET', '/api/status', { headers: { Host: host } })).status, 200, host);
      const r = await call(f.port, 'POST', '/api/strategy', { body: { strategy: 'round_robin' }, headers: { Host: host } });
      assert.equal(r.status, 200, host);
    }
  });
});

describe('no CORS on reads', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
  });
  after(() => f.close());

  test('GETs carry no Access-Control-Allow-Origin, with or without a foreign Origin', async () => {
    const paths = ['/api/status', '/api/servers', '/api/performance', '/api/realtime', '/api/requests', '/api/algorithm-metrics', '/api/history', '/api/strategy', '/api/load-test/progress', '/api/stress-test/progress', '/metrics'];
    for (const path of paths) {
      for (const headers of [{}, { Origin: 'http://evil.example' }, { Origin: 'null' }] as Record<string, string>[]) {
        const r = await call(f.port, 'GET', path, { headers });
        assert.equal(r.status, 200, path);
        const cors = Object.keys(r.headers).filter((h) => h.startsWith('access-control-'));
        assert.deepEqual(cors, [], `${path} ${JSON.stringify(headers)}`);
      }
    }
  });

  test('a preflight from another site is granted nothing', async () => {
    const r = await call(f.port, 'OPTIONS', '/api/servers', { headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'GET' } });
    assert.equal(r.status, 204);
    assert.deepEqual(Object.keys(r.headers).filter((h) => h.startsWith('access-control-')), []);
  });
});

describe('an admin port beyond loopback needs a token or admin.allowInsecure', () => {
  const servers = [{ host: '127.0.0.1', port: 8081 }];

  test('admin.host 0.0.0.0 (or ::, or a LAN address) without a token is a config error naming the keys', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.5', '127.0.0.1.nip.io']) {
      assert.throws(
        () => parseConfig({ servers, admin: { host } }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, /admin\.host: .*beyond loopback/);
          assert.match(err.message, /admin\.token/);
          assert.match(err.message, /admin\.allowInsecure: true/);
          return true;
        },
        host,
      );
    }
  });

  test('a token, admin.allowInsecure, a loopback host or a disabled admin server all load', () => {
    assert.equal(parseConfig({ servers, admin: { host: '0.0.0.0', token: 'a-long-admin-token' } }).admin.host, '0.0.0.0');
    const insecure = parseConfig({ servers, admin: { host: '0.0.0.0', allowInsecure: true } });
    assert.equal(insecure.admin.allowInsecure, true);
    assert.match(exposureWarning(insecure.admin.host, insecure.admin.token)!, /beyond loopback/, 'allowed, but still warned about');
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) assert.equal(parseConfig({ servers, admin: { host } }).admin.host, host);
    assert.equal(parseConfig({ servers, admin: { host: '0.0.0.0', enabled: false } }).admin.enabled, false);
    assert.equal(parseConfig({ servers }).admin.allowInsecure, false);
  });
});

/** Opens GET /api/events and resolves with the response once its head is in; destroy() ends it. */
function openStream(port: number): Promise<{ res: IncomingMessage; body: () => Promise<any>; destroy: () => void }> {
  return new Promise((resolve, reject) => {
    // agent: false: its own connection, closed by destroy(). With the (keep-alive) global agent,
    // Node 24 makes req.destroy() a no-op once a response (the 503) is complete, so the socket
    // would stay pooled, holding one of the admin connections the next test counts.
    const req = request({ host: '127.0.0.1', port, path: '/api/events', headers: { Accept: 'text/event-stream' }, agent: false }, (res) => {
      resolve({
        res,
        body: async () => {
          let text = '';
          res.setEncoding('utf8');
          for await (const chunk of res) text += chunk;
          return JSON.parse(text);
        },
        destroy: () => req.destroy(),
      });
    });
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
    req.end();
  });
}

/** A raw connection that has had one keep-alive request answered, so the server counts it. */
async function servedSocket(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.write(`GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  // A connection closed unanswered (over the cap) fails here instead of waiting for data forever.
  const unanswered = once(s, 'close').then(() => assert.fail('the server closed the connection without answering'));
  const [data] = (await Promise.race([once(s, 'data'), unanswered])) as [Buffer];
  assert.match(data.toString('latin1'), /^HTTP\/1\.1 200 /);
  return s;
}

/** What a new connection gets: the bytes it was sent before the server closed it (or '' then). */
async function firstReply(port: number, timeoutMs: number): Promise<{ closed: boolean; text: string }> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString('latin1')));
  s.on('connect', () => s.write(`GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
  const closed = await Promise.race([once(s, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs))]);
  s.destroy();
  return { closed, text };
}

test('admin caps: 64 connections and 16 event streams by default; streams must stay below connections', () => {
  const servers = [{ host: '127.0.0.1', port: 8081 }];
  const d = parseConfig({ servers }).admin;
  assert.equal(d.maxConnections, 64);
  assert.equal(d.maxEventStreams, 16);
  assert.throws(() => parseConfig({ servers, admin: { maxConnections: 8, maxEventStreams: 8 } }), /admin\.maxEventStreams: must be below admin\.maxConnections \(8\)/);
  assert.throws(() => parseConfig({ servers, admin: { maxEventStreams: 0 } }), /admin\.maxEventStreams/);
  assert.throws(() => parseConfig({ servers, admin: { maxConnections: 1 } }), /admin\.maxConnections/);
});

describe('event streams and admin connections are capped', () => {
  let f: Fixture;
  const admin = { host: '127.0.0.1', port: 0, maxConnections: 4, maxEventStreams: 2 };
  before(async () => {
    f = await startFixture({ admin });
  });
  after(() => f.close());

  test('the stream beyond admin.maxEventStreams gets a JSON 503; a freed slot is taken again', async () => {
    const a = await openStream(f.port);
    const b = await openStream(f.port);
    assert.equal(a.res.statusCode, 200);
    assert.equal(b.res.statusCode, 200);
    const c = await openStream(f.port);
    assert.equal(c.res.statusCode, 503);
    assert.match(String(c.res.headers['content-type']), /application\/json/);
    const body = await c.body();
    assert.equal(body.success, false);
    assert.match(body.error, /too many event streams.*maxEventStreams is 2/);
    a.destroy();
    let d = await openStream(f.port);
    for (let i = 0; i < 100 && d.res.statusCode === 503; i++) {
      d.destroy();
      await new Promise((r) => setTimeout(r, 10));
      d = await openStream(f.port);
    }
    assert.equal(d.res.statusCode, 200, 'the closed stream gave its place back');
    b.destroy();
    d.destroy();
  });

  test('a reloaded admin.maxEventStreams applies to the next stream', async () => {
    f.setConfig({ servers: [{ host: '127.0.0.1', port: 8081 }], admin: { ...admin, maxEventStreams: 1 } });
    try {
      const a = await openStream(f.port);
      const b = await openStream(f.port);
      assert.equal(a.res.statusCode, 200);
      assert.equal(b.res.statusCode, 503);
      a.destroy();
      b.destroy();
    } finally {
      f.setConfig({ servers: [{ host: '127.0.0.1', port: 8081 }], admin });
    }
  });

  test('connections beyond admin.maxConnections are closed unanswered; a freed one is reused', async () => {
    const held: Socket[] = [];
    for (let i = 0; i < admin.maxConnections; i++) held.push(await servedSocket(f.port));
    try {
      const refused = await firstReply(f.port, 2000);
      assert.equal(refused.closed, true, 'closed by the server');
      assert.equal(refused.text, '', 'without a reply');
      held.shift()!.destroy();
      let again = await firstReply(f.port, 2000);
      for (let i = 0; i < 100 && again.text === ''; i++) {
        await new Promise((r) => setTimeout(r, 10));
        again = await firstReply(f.port, 2000);
      }
      assert.match(again.text, /^HTTP\/1\.1 200 /);
    } finally {
      for (const s of held) s.destroy();
    }
  });
});

describe('stalled admin requests time out', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
  });
  after(() => f.close());

  test('a client that never finishes its headers gets 408 within seconds (slowloris)', async () => {
    const s = connect(f.port, '127.0.0.1');
    await once(s, 'connect');
    const started = Date.now();
    s.write(`GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:${f.port}\r\n`);
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const closed = await Promise.race([once(s, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 9000))]);
    s.destroy();
    assert.equal(closed, true, 'closed within 9 s (by default Node waits 60 s for headers)');
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.ok(Date.now() - started >= 4000, 'not before the headers deadline');
  });
});
