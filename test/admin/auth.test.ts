import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearerMatches } from '../../src/admin/auth.js';
import { isRebindingSafeHost } from '../../src/admin/host-guard.js';
import { isLoopback } from '../../src/util/address.js';
import { exposureWarning } from '../../src/admin/server.js';
import { startFixture } from './fixture.js';

test('bearerMatches accepts exactly "Bearer TOKEN"', () => {
  const token = 'abcdefgh-1234';
  assert.equal(bearerMatches(`Bearer ${token}`, token), true);
  assert.equal(bearerMatches(`bearer ${token}`, token), true, 'the scheme is case-insensitive (RFC 9110)');
  for (const h of [undefined, '', 'Bearer', `Bearer  `, `Basic ${token}`, `Bearer ${token}x`, `Bearer ${token.slice(1)}`, `Bearer ${token} extra`, token]) {
    assert.equal(bearerMatches(h, token), false, String(h));
  }
});

test('isLoopback', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '127.0.0.2', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
    assert.equal(isLoopback(h), true, h);
  }
  for (const h of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '', '128.0.0.1', '::ffff:10.0.0.1']) assert.equal(isLoopback(h), false, h);
});

test('isLoopback: a DNS name that starts like a loopback address is not one', () => {
  for (const h of ['127.foo', '127.0.0.1.evil.example', '127.0.0.1.nip.io', 'localhost.evil.example', '127.1']) assert.equal(isLoopback(h), false, h);
});

test('isRebindingSafeHost accepts IP literals and localhost only', () => {
  for (const h of ['127.0.0.1', '127.0.0.1:8090', '10.0.0.5:8090', 'localhost', 'LocalHost:8090', '[::1]', '[::1]:8090', '[2001:db8::1]:80']) {
    assert.equal(isRebindingSafeHost(h), true, h);
  }
  for (const h of [undefined, '', '127.0.0.1.evil.example', '127.0.0.1.evil.example:8090', '127.foo', 'evil.example', 'localhost.evil.example', '::1', '[127.0.0.1]', '[::1', '127.0.0.1:x', '127.1', 'ballast.internal:8090']) {
    assert.equal(isRebindingSafeHost(h), false, String(h));
  }
});

test('a warning when listening beyond loopback without a token, none otherwise', () => {
  assert.match(exposureWarning('0.0.0.0', null)!, /beyond loopback, without admin\.token/);
  assert.match(exposureWarning('::', undefined)!, /admin\.token/);
  assert.equal(exposureWarning('0.0.0.0', 'a-long-token'), undefined);
  assert.equal(exposureWarning('127.0.0.1', null), undefined);
});

test('no warning on loopback at start-up', async () => {
  const f = await startFixture();
  await f.close();
  assert.deepEqual(f.warnings, []);
});
