/**
 * beta1's affinity key (src/proxy/key.ts) from each source the config allows: header, query
 * parameter, path, cookie and client address. Table cases for missing values, URL encoding and
 * the corners of cookie parsing; the sources are built from the config schema, as the proxy
 * builds them, and the header and cookie cases also go through the head rewrite that captures
 * their input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { rewriteRequest } from '../../src/proxy/http/headers.js';
import { keySource, type KeySource } from '../../src/proxy/key.js';
import { strategyDefinition } from '../../src/strategies/registry.js';

/** The source the proxy builds while beta1 runs: from its definition's request key under this config. */
function beta1Source(config: Record<string, unknown> = {}): KeySource {
  return keySource(strategyDefinition('beta1')!.requestKey!(parseConfig({ servers: [{ host: '127.0.0.1', port: 8081 }], ...config })));
}

function source(key: Record<string, unknown>): KeySource {
  return beta1Source({ beta1: { key } });
}

/** The key as the proxy computes it: the rewrite captures header and cookie, the source extracts. */
function keyOf(s: KeySource, url: string, headers: string[], clientIp = '10.0.0.9'): string | undefined {
  const facts = rewriteRequest({
    method: 'GET',
    url,
    versionMinor: 1,
    headers: ['Host', 'example.com', ...headers],
    clientIp,
    via: 'ballast',
    keyHeader: s.header,
    idempotentHeader: '',
    wantCookie: s.wantCookie,
    trustForwarded: false,
  });
  return s.extract(url, facts.keyHeaderValue, facts.cookie, clientIp);
}

test('what each source asks the rewrite for: a lower-case header name, or the cookies', () => {
  assert.deepEqual(
    [{ header: 'X-User' }, { query: 'user' }, { path: true }, { cookie: 'sid' }, { clientIp: true }].map((k) => {
      const s = source(k);
      return [s.header, s.wantCookie];
    }),
    [
      ['x-user', false],
      ['', false],
      ['', false],
      ['', true],
      ['', false],
    ],
  );
  // The default: {header: 'X-Key'}.
  assert.equal(beta1Source().header, 'x-key');
});

const HEADER: Array<[string, string[], string | undefined]> = [
  ['present', ['X-User', '42'], '42'],
  ['another case', ['x-USER', 'abc'], 'abc'],
  ['repeated: the first', ['X-User', 'a', 'X-User', 'b'], 'a'],
  ['empty value', ['X-User', ''], ''],
  ['absent', ['X-Other', '1'], undefined],
];
for (const [name, headers, want] of HEADER) {
  test(`header key: ${name}`, () => {
    assert.equal(keyOf(source({ header: 'X-User' }), '/?user=ignored', headers), want);
  });
}

const QUERY: Array<[string, string, string | undefined]> = [
  ['the only parameter', '/p?user=42', '42'],
  ['among others', '/p?a=1&user=42&b=2', '42'],
  ['the last one', '/p?a=1&user=42', '42'],
  ['percent-encoded', '/p?user=x%20y%2Fz', 'x y/z'],
  ['plus as space', '/p?user=a+b', 'a b'],
  ['UTF-8', '/p?user=%C3%A9t%C3%A9', 'été'],
  ['malformed encoding: the raw value', '/p?user=%E0%A4%A', '%E0%A4%A'],
  ['repeated: the first', '/p?user=1&user=2', '1'],
  ['empty value', '/p?user=', ''],
  ['no "=": empty', '/p?user', ''],
  ['no "=", then more', '/p?user&a=1', ''],
  ['"=" inside the value', '/p?user=a=b', 'a=b'],
  ['empty pairs skipped', '/p?&&user=3', '3'],
  ['a longer name is not it', '/p?username=1', undefined],
  ['a name ending in it is not it', '/p?xuser=1&user=2', '2'],
  ['a shorter name is not it', '/p?use=1', undefined],
  ['no query', '/p', undefined],
  ['empty query', '/p?', undefined],
  ['in the path only', '/user=1', undefined],
  ['case-sensitive name', '/p?USER=1', undefined],
];
for (const [name, url, want] of QUERY) {
  test(`query key: ${name} (${url})`, () => {
    assert.equal(keyOf(source({ query: 'user' }), url, ['X-User', 'ignored']), want);
  });
}

const PATH: Array<[string, string]> = [
  ['/a/b', '/a/b'],
  ['/a/b?x=1', '/a/b'],
  ['/?x', '/'],
  ['/a%20b?x', '/a%20b'],
  ['*', '*'],
];
for (const [url, want] of PATH) {
  test(`path key: ${url} -> ${want}`, () => {
    assert.equal(keyOf(source({ path: true }), url, []), want);
  });
}

const COOKIE: Array<[string, string[], string | undefined]> = [
  ['the only cookie', ['Cookie', 'sid=abc'], 'abc'],
  ['among others', ['Cookie', 'a=1; sid=abc; b=2'], 'abc'],
  ['spaces around name and value', ['Cookie', 'a=1;  sid =  abc  ;b=2'], 'abc'],
  ['repeated: the first', ['Cookie', 'sid=1; sid=2'], '1'],
  ['in a second Cookie header', ['Cookie', 'a=1', 'cookie', 'sid=abc'], 'abc'],
  ['"=" inside the value', ['Cookie', 'sid=a=b'], 'a=b'],
  ['quoted value kept as sent', ['Cookie', 'sid="abc"'], '"abc"'],
  ['empty value', ['Cookie', 'sid='], ''],
  ['a longer name is not it', ['Cookie', 'xsid=1; sida=2'], undefined],
  ['a name without "="', ['Cookie', 'sid; a=1'], undefined],
  ['an empty name', ['Cookie', '=abc'], undefined],
  ['case-sensitive name', ['Cookie', 'SID=1'], undefined],
  ['no Cookie header', ['X-A', 'sid=abc'], undefined],
  ['an empty Cookie header', ['Cookie', ''], undefined],
];
for (const [name, headers, want] of COOKIE) {
  test(`cookie key: ${name}`, () => {
    assert.equal(keyOf(source({ cookie: 'sid' }), '/?sid=ignored', headers), want);
  });
}

test('client address key: the address, whatever the request says', () => {
  const s = source({ clientIp: true });
  assert.equal(keyOf(s, '/?ip=1', ['X-Forwarded-For', '1.2.3.4', 'Cookie', 'ip=1'], '192.0.2.7'), '192.0.2.7');
  assert.equal(keyOf(s, '/', [], '::1'), '::1');
});
