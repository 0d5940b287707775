/**
 * Regression (security): config values that Ballast writes into HTTP messages (header names,
 * header values, the health check's request line and Host header) used to accept CR and LF,
 * so a value from a template or an environment variable could inject headers or a whole
 * second request. Each such field now refuses them at load, naming the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config/load.js';

const servers = [{ host: '127.0.0.1', port: 8081 }];
const INJECT = 'X-Ok\r\nX-Injected: 1';

/** [field path in the error, the config that sets it to `value`]. */
const fields: Array<[string, (value: string) => Record<string, unknown>]> = [
  ['proxy.via', (v) => ({ proxy: { via: v } })],
  ['proxy.backendHeader', (v) => ({ proxy: { backendHeader: v } })],
  ['healthCheck.path', (v) => ({ healthCheck: { path: `/${v}` } })],
  ['healthCheck.method', (v) => ({ healthCheck: { method: v } })],
  ['servers[0].host', (v) => ({ servers: [{ host: v, port: 8081 }] })],
  ['servers[0].name', (v) => ({ servers: [{ host: '127.0.0.1', port: 8081, name: v }] })],
  ['alpha1.idempotentHeader', (v) => ({ alpha1: { idempotentHeader: v } })],
  ['beta1.key.header', (v) => ({ beta1: { key: { header: v } } })],
  ['beta1.key.cookie', (v) => ({ beta1: { key: { cookie: v } } })],
  ['beta1.cacheHeader', (v) => ({ beta1: { cacheHeader: v } })],
];

function errorOf(raw: Record<string, unknown>): string {
  try {
    parseConfig({ servers, ...raw }, 'my.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  return '(accepted)';
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

for (const [field, set] of fields) {
  test(`config error: CR LF in ${field} is refused, naming the field`, () => {
    for (const value of [INJECT, 'X-Ok\nX-Injected: 1', 'X-Ok\r', 'X-Ok\0']) {
      assert.match(errorOf(set(value)), new RegExp(`^  ${escape(field)}: `, 'm'), `${JSON.stringify(value)}`);
    }
  });
}

test('header names must be RFC 9110 tokens: no spaces, colons or separators', () => {
  for (const field of ['proxy.backendHeader', 'alpha1.idempotentHeader', 'beta1.key.header', 'beta1.cacheHeader'] as const) {
    const set = fields.find(([f]) => f === field)![1];
    for (const bad of ['X Key', 'X-Key:', 'X-Key: 1', '(X)', 'X"Key', '', 'Ключ']) {
      assert.match(errorOf(set(bad)), new RegExp(`^  ${escape(field)}: `, 'm'), `${field} = ${JSON.stringify(bad)}`);
    }
    for (const good of ['X-Key', 'x_key', "X!#$%&'*+.^_`|~-1"]) assert.equal(errorOf(set(good)), '(accepted)', `${field} = ${good}`);
  }
});

test('the health check path and backend host refuse spaces and control characters; ordinary values pass', () => {
  assert.match(errorOf({ healthCheck: { path: '/health check' } }), /healthCheck\.path: /);
  assert.match(errorOf({ healthCheck: { path: '/health\tx' } }), /healthCheck\.path: /);
  assert.match(errorOf({ servers: [{ host: 'a b', port: 1 }] }), /servers\[0\]\.host: /);
  assert.equal(errorOf({ healthCheck: { path: '/health?probe=1&x=%20' }, servers: [{ host: '::1', port: 1, name: 'web 1 (eu-west)' }] }), '(accepted)');
  assert.equal(errorOf({ proxy: { via: 'edge-1', backendHeader: 'X-Backend-Server' } }), '(accepted)');
});
