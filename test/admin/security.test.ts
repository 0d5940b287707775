/**
 * Regression tests for the admin server's security issue: DNS rebinding through a Host name
 * that merely starts with `127.`, CORS headers on reads, an admin port exposed without a
 * token (only warned about before), and unbounded event streams and connections.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
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
