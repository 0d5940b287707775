/**
 * The request-head fast path (src/proxy/http/request-head.ts) against llhttp: every head it
 * takes from generated reads, plain and odd, llhttp must read to the same request, with no
 * body and nothing left over. What it declines goes to llhttp anyway.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readSimpleRequest } from '../../src/proxy/http/request-head.js';
import { HTTPParser, LENIENT_NONE, isParseError, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageComplete } from '../../src/proxy/http/llhttp.js';

const MAX_HEADER_BYTES = 16_384;

/** What llhttp makes of one read: its events and its result. */
function llhttp(bytes: Buffer): unknown[] {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_BYTES, LENIENT_NONE);
  const events: unknown[] = [];
  p[kOnHeaders] = () => events.push(['partial headers']);
  p[kOnHeadersComplete] = (vMajor: number, vMinor: number, headers: string[], method: number, url: string, _s: number, _m: string, upgrade: boolean, keepAlive: boolean) => {
    events.push(['head', vMajor, vMinor, headers, method, url, upgrade, keepAlive]);
    return 0;
  };
  p[kOnBody] = (chunk: Buffer) => events.push(['body', chunk.length]);
  p[kOnMessageComplete] = () => events.push(['complete']);
  const r = p.execute(bytes);
  events.push(isParseError(r) ? ['error', r.code] : ['parsed', r]);
  p.free();
  return events;
}

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS', 'PUT', 'PATCH') },
  { weight: 1, arbitrary: fc.constantFrom('get', 'PURGE', 'CONNECT', 'TRACE', 'GETS', 'G', 'PUTT', 'POS', 'HEADER', '') },
);

const targetChar = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('a', 'Z', '9', '/', '?', '=', '&', '-', '.', '_', '~', '%', '+', ',', ';', ':', '@', '!', '$', "'", '(', ')', '*', '[', ']') },
  { weight: 1, arbitrary: fc.constantFrom('#', ' ', '"', '<', '>', '\\', '^', '`', '{', '|', '}', '\x7f', '\x00', '\t', '\xe9', '\r', '\n') },
);
const target = fc.oneof(
  { weight: 8, arbitrary: fc.array(targetChar, { maxLength: 12 }).map((cs) => `/${cs.join('')}`) },
  { weight: 1, arbitrary: fc.constantFrom('*', 'http://example.com/', 'example.com:443', '', 'a/b', '//x') },
);

const version = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('HTTP/1.1', 'HTTP/1.0') },
  { weight: 1, arbitrary: fc.constantFrom('HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1.1 ', 'HTTP/0.9', 'HTTP/1.', 'HTTP/11') },
);

const value = fc.array(fc.constantFrom('a', 'Z', '0', ' ', '\t', ',', ':', ';', '=', '"', '\x7f', '\x00', '\x01', '\x80', '\xff', '\r', '\n'), { maxLength: 10 }).map((cs) => cs.join(''));
const name = fc.array(fc.constantFrom('a', 'X', '-', '_', '.', '!', '~', '0', ' ', '@', '(', '\t', '\xe9'), { minLength: 0, maxLength: 6 }).map((cs) => cs.join(''));

const header = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('Host: example.com', 'User-Agent: wrk', 'Accept: */*', 'X-Pad:   padded \t', 'X-Empty:', 'host: a', 'Cookie: a=b; c=d', 'X-Forwarded-For: 10.0.0.1') },
  { weight: 3, arbitrary: fc.constantFrom('Connection: keep-alive', 'Connection: close', 'connection: Keep-Alive', 'Connection: CLOSE', 'Connection: upgrade', 'Connection: close, te', 'Connection:', 'Connection: keep-alive ', 'Proxy-Connection: close', 'Proxy-Connection: keep-alive', 'proxy-connection: Close') },
  { weight: 2, arbitrary: fc.constantFrom('Content-Length: 0', 'content-length: 3', 'Transfer-Encoding: chunked', 'Upgrade: websocket', 'Expect: 100-continue', 'Content-Length : 0', ' Host: x') },
  { weight: 3, arbitrary: fc.tuple(name, value).map(([n, v]) => `${n}: ${v}`) },
  { weight: 1, arbitrary: fc.constantFrom('X-Folded: a\r\n b', 'X-Bare: a\nY: b', 'NoColon', 'X-Cr: a\rb') },
);

const request = fc
  .record({
    method,
    target,
    version,
    headers: fc.array(header, { maxLength: 8 }),
    after: fc.oneof({ weight: 8, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('GET / HTTP/1.1\r\n\r\n', 'x', '\r\n', 'abc') }),
    ending: fc.oneof({ weight: 8, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '', '\r\n\r\n') }),
  })
  .map((r) => `${r.method} ${r.target} ${r.version}\r\n${r.headers.map((h) => `${h}\r\n`).join('')}${r.ending}${r.after}`);

/** A head the fast path should take. */
const plainRequest = fc
  .record({
    method: fc.constantFrom('GET', 'HEAD', 'DELETE', 'OPTIONS'),
    path: fc.array(fc.constantFrom('a', '/', '?', '=', '&', '%', '-'), { maxLength: 10 }),
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0'),
    headers: fc.array(fc.constantFrom('Host: example.com', 'User-Agent: wrk', 'Accept:  */* ', 'X-Empty:', 'Connection: keep-alive', 'Connection: close', 'Proxy-Connection: close', 'Proxy-Connection: keep-alive'), { maxLength: 4 }),
  })
  .filter((r) => r.headers.filter((h) => h.startsWith('Connection')).length <= 1)
  .map((r) => `${r.method} /${r.path.join('')} ${r.version}\r\n${r.headers.map((h) => `${h}\r\n`).join('')}\r\n`);

test('every head the fast path takes, llhttp reads to the same request with no body and nothing left over', () => {
  let taken = 0;
  let runs = 0;
  fc.assert(
    fc.property(fc.oneof({ weight: 1, arbitrary: plainRequest }, { weight: 2, arbitrary: request }), (text) => {
      runs++;
      const bytes = Buffer.from(text, 'latin1');
      const fast = readSimpleRequest(bytes, MAX_HEADER_BYTES);
      if (fast === null) return;
      taken++;
      assert.deepEqual(llhttp(bytes), [
        ['head', 1, fast.versionMinor, fast.headers, fast.method, fast.url, false, fast.keepAlive],
        ['complete'],
        ['parsed', bytes.length],
      ]);
    }),
    { numRuns: 5000, seed: 2026 },
  );
  assert.ok(taken > runs / 5, `fast path taken for ${taken} of ${runs} heads`);
});

test('a plain GET is taken; a body, an upgrade, pipelined bytes or a large head are left to llhttp', () => {
  const plain = Buffer.from('GET /a?b=1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
  const r = readSimpleRequest(plain, MAX_HEADER_BYTES);
  assert.deepEqual(r && { ...r }, { method: 1, url: '/a?b=1', versionMinor: 1, headers: ['Host', 'x', 'Connection', 'keep-alive'], keepAlive: true });
  assert.equal(readSimpleRequest(Buffer.from('GET / HTTP/1.0\r\nHost: x\r\n\r\n'), MAX_HEADER_BYTES)?.keepAlive, false, 'HTTP/1.0 closes unless asked');
  for (const declined of [
    'POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n',
    'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\n',
    `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(600)}\r\n\r\n`,
  ]) {
    assert.equal(readSimpleRequest(Buffer.from(declined), 1024), null, JSON.stringify(declined.slice(0, 60)));
  }
});
