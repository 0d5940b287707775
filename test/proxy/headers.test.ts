/**
 * The head rewrite (src/proxy/http/headers.ts) on its own, without sockets: which headers are
 * forwarded and which dropped, each refusal reason of the smuggling guards, the framing decided
 * for the next hop, the forwarding headers with and without a trusted client, and what the
 * rewrite captures for the strategies (key header, cookie, idempotent mark). A fast-check
 * property covers every header that is none of the special ones: forwarded once, unchanged,
 * in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Framing, rewriteRequest, rewriteResponse, type RequestRewrite, type ResponseRewrite } from '../../src/proxy/http/headers.js';

const CLIENT = '10.0.0.9';

function req(over: Partial<RequestRewrite> = {}): RequestRewrite {
  return {
    method: 'GET',
    url: '/',
    versionMinor: 1,
    headers: ['Host', 'example.com'],
    clientIp: CLIENT,
    via: 'ballast',
    keyHeader: '',
    idempotentHeader: '',
    wantCookie: false,
    trustForwarded: false,
    ...over,
  };
}

function res(over: Partial<ResponseRewrite> = {}): ResponseRewrite {
  return {
    statusCode: 200,
    statusMessage: 'OK',
    headers: ['Content-Length', '2'],
    clientVersionMinor: 1,
    clientKeepAlive: true,
    noBody: false,
    via: 'ballast',
    backendLine: '',
    watchHeader: '',
    forwardLoadReports: false,
    ...over,
  };
}

/** The head's header lines (request or status line and the blank line left out). */
function lines(head: string): string[] {
  assert.ok(head.endsWith('\r\n\r\n'), `head ends with CRLFCRLF: ${JSON.stringify(head)}`);
  return head.slice(0, -4).split('\r\n').slice(1);
}

/** Values of header `name` (any case) in a rewritten head. */
function values(head: string, name: string): string[] {
  const lower = name.toLowerCase();
  return lines(head)
    .filter((l) => l.slice(0, l.indexOf(':')).toLowerCase() === lower)
    .map((l) => l.slice(l.indexOf(':') + 2));
}

// ---- request: what is forwarded -----------------------------------------------------

test('request: the head is rebuilt as HTTP/1.1 with the forwarding headers appended after the client\'s', () => {
  const r = rewriteRequest(req({ method: 'POST', url: '/a?b=1', headers: ['Host', 'example.com', 'X-A', '1', 'Content-Length', '3'] }));
  assert.equal(
    r.head,
    'POST /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nContent-Length: 3\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\nVia: 1.1 ballast\r\n\r\n',
  );
  assert.equal(r.invalid, undefined);
  assert.equal(r.missingHost, false);
});

const HOP_BY_HOP: Array<[string, string]> = [
  ['Connection', 'keep-alive'],
  ['Keep-Alive', 'timeout=5'],
  ['Proxy-Connection', 'keep-alive'],
  ['TE', 'trailers'],
  ['Trailer', 'X-Sum'],
  ['Upgrade', 'websocket'],
  ['CONNECTION', 'close'],
  ['upgrade', 'h2c'],
];

for (const [name, value] of HOP_BY_HOP) {
  test(`request: hop-by-hop ${name} is not forwarded`, () => {
    const r = rewriteRequest(req({ headers: ['Host', 'example.com', name, value, 'X-Kept', 'yes'] }));
    assert.deepEqual(values(r.head, name), []);
    assert.deepEqual(values(r.head, 'X-Kept'), ['yes']);
    assert.equal(r.invalid, undefined);
  });
}

test('request: headers the Connection header nominates are dropped, in any case, over several Connection headers', () => {
  const r = rewriteRequest(
    req({
      headers: [
        'Host', 'example.com',
        'Connection', 'close, X-Secret',
        // A name of a length the rewrite does not otherwise look at: only the nomination makes it special.
        'connection', ' x-b ,,Keep-Alive, X-A-Rather-Long-Custom-Header-Name',
        'X-Secret', 's',
        'X-B', 'b',
        'x-a-rather-long-custom-header-name', 'long',
        'X-Other', 'o',
      ],
    }),
  );
  assert.deepEqual(lines(r.head), ['Host: example.com', 'X-Other: o', `X-Forwarded-For: ${CLIENT}`, 'X-Forwarded-Proto: http', 'Via: 1.1 ballast']);
  assert.equal(r.invalid, undefined);
});

// ---- request: refusals ----------------------------------------------------------------

const REFUSED: Array<{ name: string; over: Partial<RequestRewrite>; invalid: string }> = [
  { name: 'Connection nominating Content-Length', over: { headers: ['Host', 'h', 'Connection', 'Content-Length', 'Content-Length', '5'] }, invalid: 'Connection header nominates content-length' },
  { name: 'Connection nominating Transfer-Encoding', over: { headers: ['Host', 'h', 'Connection', 'close, transfer-encoding'] }, invalid: 'Connection header nominates transfer-encoding' },
  { name: 'Connection nominating Host', over: { headers: ['Host', 'h', 'Connection', 'HOST'] }, invalid: 'Connection header nominates host' },
  { name: 'two Host headers', over: { headers: ['Host', 'a.example', 'host', 'b.example'] }, invalid: 'more than one Host header' },
  { name: 'two Host headers, even equal', over: { headers: ['Host', 'a.example', 'Host', 'a.example'] }, invalid: 'more than one Host header' },
  { name: 'no Host in HTTP/1.1', over: { headers: ['X-A', '1'] }, invalid: 'missing Host header' },
  { name: 'Host with userinfo', over: { headers: ['Host', 'user@example.com'] }, invalid: 'invalid Host header' },
  { name: 'Host with a path', over: { headers: ['Host', 'example.com/admin'] }, invalid: 'invalid Host header' },
  { name: 'Host with a space', over: { headers: ['Host', 'exa mple.com'] }, invalid: 'invalid Host header' },
  { name: 'Host with a non-numeric port', over: { headers: ['Host', 'example.com:80x'] }, invalid: 'invalid Host header' },
  { name: 'Host with an unbracketed IPv6 literal', over: { headers: ['Host', '::1:80'] }, invalid: 'invalid Host header' },
  { name: 'Transfer-Encoding in HTTP/1.0', over: { versionMinor: 0, headers: ['Host', 'h', 'Transfer-Encoding', 'chunked'] }, invalid: 'Transfer-Encoding in an HTTP/1.0 request' },
  { name: 'Transfer-Encoding gzip', over: { headers: ['Host', 'h', 'Transfer-Encoding', 'gzip'] }, invalid: 'Transfer-Encoding whose final coding is not chunked' },
  { name: 'Transfer-Encoding chunked, gzip', over: { headers: ['Host', 'h', 'Transfer-Encoding', 'chunked, gzip'] }, invalid: 'Transfer-Encoding whose final coding is not chunked' },
  { name: 'Transfer-Encoding chunkedx', over: { headers: ['Host', 'h', 'Transfer-Encoding', 'chunkedx'] }, invalid: 'Transfer-Encoding whose final coding is not chunked' },
  { name: 'two Transfer-Encoding headers', over: { headers: ['Host', 'h', 'Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked'] }, invalid: 'more than one Transfer-Encoding header' },
  { name: 'Content_Length look-alike', over: { headers: ['Host', 'h', 'Content_Length', '5'] }, invalid: 'Content_Length: a framing header name spelled with an underscore' },
  { name: 'transfer_encoding look-alike', over: { headers: ['Host', 'h', 'transfer_encoding', 'chunked'] }, invalid: 'transfer_encoding: a framing header name spelled with an underscore' },
];

for (const c of REFUSED) {
  test(`request refused: ${c.name}`, () => {
    assert.equal(rewriteRequest(req(c.over)).invalid, c.invalid);
  });
}

const ACCEPTED_HOSTS = ['example.com', 'example.com:8080', '127.0.0.1', '127.0.0.1:80', '[::1]', '[::1]:8080', 'xn--bcher-kva.example', '', 'example.com:'];
for (const host of ACCEPTED_HOSTS) {
  test(`request accepted: Host ${JSON.stringify(host)}`, () => {
    const r = rewriteRequest(req({ headers: ['Host', host] }));
    assert.equal(r.invalid, undefined);
    assert.deepEqual(values(r.head, 'Host'), [host]);
  });
}

test('request: HTTP/1.0 without Host is accepted and flagged, so the backend\'s address is sent as Host', () => {
  const r = rewriteRequest(req({ versionMinor: 0, headers: ['X-A', '1'] }));
  assert.equal(r.invalid, undefined);
  assert.equal(r.missingHost, true);
  assert.ok(r.head.startsWith('GET / HTTP/1.1\r\n'), 'forwarded as HTTP/1.1');
  assert.deepEqual(values(r.head, 'Via'), ['1.0 ballast'], 'Via names the version the client spoke');
});

// ---- request: framing -----------------------------------------------------------------

const REQUEST_FRAMING: Array<{ name: string; headers: string[]; framing: Framing; contentLength: number; te: string[] }> = [
  { name: 'no body headers', headers: [], framing: Framing.None, contentLength: -1, te: [] },
  { name: 'Content-Length: 10', headers: ['Content-Length', '10'], framing: Framing.Length, contentLength: 10, te: [] },
  { name: 'Content-Length: 0', headers: ['content-length', '0'], framing: Framing.None, contentLength: 0, te: [] },
  { name: 'chunked', headers: ['Transfer-Encoding', 'chunked'], framing: Framing.Chunked, contentLength: -1, te: ['chunked'] },
  { name: 'Chunked in another case', headers: ['transfer-encoding', 'Chunked'], framing: Framing.Chunked, contentLength: -1, te: ['chunked'] },
];

for (const c of REQUEST_FRAMING) {
  test(`request framing: ${c.name}`, () => {
    const r = rewriteRequest(req({ method: 'POST', headers: ['Host', 'h', ...c.headers] }));
    assert.equal(r.invalid, undefined);
    assert.equal(r.framing, c.framing);
    assert.equal(r.contentLength, c.contentLength);
    // The client's Transfer-Encoding is hop-by-hop; the rewrite writes its own, once.
    assert.deepEqual(values(r.head, 'Transfer-Encoding'), c.te);
  });
}

test('request: Expect: 100-continue is noticed in any case, other expectations are not', () => {
  assert.equal(rewriteRequest(req({ headers: ['Host', 'h', 'Expect', '100-Continue'] })).expectContinue, true);
  assert.equal(rewriteRequest(req({ headers: ['Host', 'h', 'expect', '100-continue'] })).expectContinue, true);
  assert.equal(rewriteRequest(req({ headers: ['Host', 'h', 'Expect', 'something-else'] })).expectContinue, false);
  assert.equal(rewriteRequest(req()).expectContinue, false);
});

// ---- request: forwarding headers ------------------------------------------------------

const FORWARDED_IN = [
  'Host', 'h',
  'X-Forwarded-For', '1.1.1.1',
  'x-forwarded-for', '2.2.2.2, 3.3.3.3',
  'X-Forwarded-Proto', 'https',
  'X-Forwarded-Proto', 'ftp',
  'Forwarded', 'for=1.1.1.1;proto=https',
];

test('request from an untrusted client: X-Forwarded-For / -Proto replaced, Forwarded dropped', () => {
  const r = rewriteRequest(req({ headers: FORWARDED_IN, trustForwarded: false }));
  assert.deepEqual(values(r.head, 'X-Forwarded-For'), [CLIENT]);
  assert.deepEqual(values(r.head, 'X-Forwarded-Proto'), ['http']);
  assert.deepEqual(values(r.head, 'Forwarded'), []);
});

test('request from a trusted proxy: X-Forwarded-For extended (every header, in order), the first -Proto kept, Forwarded kept', () => {
  const r = rewriteRequest(req({ headers: FORWARDED_IN, trustForwarded: true }));
  assert.deepEqual(values(r.head, 'X-Forwarded-For'), [`1.1.1.1, 2.2.2.2, 3.3.3.3, ${CLIENT}`]);
  assert.deepEqual(values(r.head, 'X-Forwarded-Proto'), ['https']);
  assert.deepEqual(values(r.head, 'Forwarded'), ['for=1.1.1.1;proto=https']);
});

test('request from a trusted proxy without forwarding headers: ours, as for anyone', () => {
  const r = rewriteRequest(req({ trustForwarded: true }));
  assert.deepEqual(values(r.head, 'X-Forwarded-For'), [CLIENT]);
  assert.deepEqual(values(r.head, 'X-Forwarded-Proto'), ['http']);
});

test('request: Via is appended to the client\'s, every Via header joined, once at the end', () => {
  const r = rewriteRequest(req({ headers: ['Host', 'h', 'Via', '1.1 cdn-a', 'X-A', '1', 'via', '1.0 cdn-b'] }));
  assert.deepEqual(values(r.head, 'Via'), ['1.1 cdn-a, 1.0 cdn-b, 1.1 ballast']);
  assert.equal(lines(r.head).at(-1), 'Via: 1.1 cdn-a, 1.0 cdn-b, 1.1 ballast');
});

// ---- request: what the strategies get -------------------------------------------------

test('request: the key header is captured case-insensitively (first value) and still forwarded', () => {
  const r = rewriteRequest(req({ keyHeader: 'x-user', headers: ['Host', 'h', 'X-USER', '42', 'x-user', '43'] }));
  assert.equal(r.keyHeaderValue, '42');
  assert.deepEqual(values(r.head, 'X-User'), ['42', '43']);
  assert.equal(rewriteRequest(req({ keyHeader: 'x-user' })).keyHeaderValue, undefined);
});

test('request: a key on X-Forwarded-For sees the client\'s value even when the header is rebuilt', () => {
  const r = rewriteRequest(req({ keyHeader: 'x-forwarded-for', headers: ['Host', 'h', 'X-Forwarded-For', '7.7.7.7'] }));
  assert.equal(r.keyHeaderValue, '7.7.7.7');
  assert.deepEqual(values(r.head, 'X-Forwarded-For'), [CLIENT]);
});

const IDEMPOTENT: Array<[string, boolean]> = [
  ['true', true],
  ['TRUE', true],
  [' true ', true],
  ['false', false],
  ['1', false],
  ['', false],
];
for (const [value, marked] of IDEMPOTENT) {
  test(`request: idempotent header ${JSON.stringify(value)} marks ${marked}`, () => {
    const r = rewriteRequest(req({ idempotentHeader: 'x-idempotent', headers: ['Host', 'h', 'X-Idempotent', value] }));
    assert.equal(r.idempotentMark, marked);
    assert.deepEqual(values(r.head, 'X-Idempotent'), [value]);
  });
}

test('request: cookies captured only when asked, several Cookie headers joined with "; ", always forwarded', () => {
  const headers = ['Host', 'h', 'Cookie', 'a=1', 'cookie', 'b=2; c=3'];
  const asked = rewriteRequest(req({ wantCookie: true, headers }));
  assert.equal(asked.cookie, 'a=1; b=2; c=3');
  assert.deepEqual(values(asked.head, 'Cookie'), ['a=1', 'b=2; c=3']);
  assert.equal(rewriteRequest(req({ wantCookie: false, headers })).cookie, undefined);
});

// ---- response -------------------------------------------------------------------------

const RESPONSE_FRAMING: Array<{ name: string; over: Partial<ResponseRewrite>; framing: Framing; keepAlive: boolean; te: string[]; connection: string[] }> = [
  { name: '1.1 client, Content-Length', over: {}, framing: Framing.Length, keepAlive: true, te: [], connection: [] },
  { name: '1.1 client, chunked', over: { headers: ['Transfer-Encoding', 'chunked'] }, framing: Framing.Chunked, keepAlive: true, te: ['chunked'], connection: [] },
  { name: '1.1 client, body until close', over: { headers: [] }, framing: Framing.Chunked, keepAlive: true, te: ['chunked'], connection: [] },
  { name: '1.1 client, chunked and Content-Length', over: { headers: ['Content-Length', '5', 'Transfer-Encoding', 'chunked'] }, framing: Framing.Chunked, keepAlive: true, te: ['chunked'], connection: [] },
  { name: '1.1 client not keeping alive', over: { clientKeepAlive: false }, framing: Framing.Length, keepAlive: false, te: [], connection: ['close'] },
  { name: 'no body (HEAD, 204, 304), chunked upstream', over: { noBody: true, headers: ['Transfer-Encoding', 'chunked'] }, framing: Framing.None, keepAlive: true, te: [], connection: [] },
  { name: 'no body, Content-Length kept as information', over: { noBody: true, headers: ['Content-Length', '100'] }, framing: Framing.None, keepAlive: true, te: [], connection: [] },
  { name: '1.0 client, Content-Length, keep-alive', over: { clientVersionMinor: 0 }, framing: Framing.Length, keepAlive: true, te: [], connection: ['keep-alive'] },
  { name: '1.0 client, chunked upstream', over: { clientVersionMinor: 0, headers: ['Transfer-Encoding', 'chunked'] }, framing: Framing.UntilClose, keepAlive: false, te: [], connection: ['close'] },
  { name: '1.0 client, body until close', over: { clientVersionMinor: 0, headers: [] }, framing: Framing.UntilClose, keepAlive: false, te: [], connection: ['close'] },
  { name: 'backend says Connection: close (its hop only)', over: { headers: ['Connection', 'close', 'Content-Length', '2'] }, framing: Framing.Length, keepAlive: true, te: [], connection: [] },
];

for (const c of RESPONSE_FRAMING) {
  test(`response framing: ${c.name}`, () => {
    const r = rewriteResponse(res(c.over));
    assert.equal(r.framing, c.framing);
    assert.equal(r.keepAlive, c.keepAlive);
    assert.deepEqual(values(r.head, 'Transfer-Encoding'), c.te);
    assert.deepEqual(values(r.head, 'Connection'), c.connection);
    assert.ok(r.head.startsWith('HTTP/1.1 200 OK\r\n'));
  });
}

test('response: hop-by-hop and nominated headers dropped, Via appended, the backend line and the watched header', () => {
  const r = rewriteResponse(
    res({
      headers: ['Connection', 'X-Internal', 'X-Internal', 'secret', 'Keep-Alive', 'timeout=5', 'Upgrade', 'h2c', 'Via', '1.1 origin', 'X-CACHE', 'HIT', 'x-cache', 'MISS', 'Content-Length', '2'],
      backendLine: 'X-Backend: s1:8081\r\n',
      watchHeader: 'x-cache',
    }),
  );
  assert.deepEqual(lines(r.head), ['X-CACHE: HIT', 'x-cache: MISS', 'Content-Length: 2', 'X-Backend: s1:8081', 'Via: 1.1 origin, 1.1 ballast']);
  assert.equal(r.watchedValue, 'HIT');
  assert.equal(rewriteResponse(res({ watchHeader: 'x-cache' })).watchedValue, undefined);
});

// ---- properties -----------------------------------------------------------------------

/** Names the rewrite treats specially; the property covers every other token. */
const SPECIAL = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade',
  'x-forwarded-for', 'x-forwarded-proto', 'forwarded', 'via', 'content_length', 'transfer_encoding',
]);
const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const token = fc.array(fc.constantFrom(...TCHAR), { minLength: 1, maxLength: 24 }).map((cs) => cs.join('')).filter((n) => !SPECIAL.has(n.toLowerCase()));
/** A field value as llhttp hands it over: visible ASCII, inner spaces and tabs, no edge whitespace. */
const fieldValue = fc
  .array(fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) }, { weight: 1, arbitrary: fc.constantFrom(' ', '\t') }), { maxLength: 40 })
  .map((cs) => cs.join('').trim());
const plainHeaders = fc.array(fc.tuple(token, fieldValue), { maxLength: 30 });

test('property: every header that is not special is forwarded once, unchanged, in order; the head ends with CRLFCRLF', () => {
  fc.assert(
    fc.property(plainHeaders, fc.boolean(), (pairs, trusted) => {
      const flat = pairs.flat();
      const r = rewriteRequest(req({ headers: ['Host', 'example.com', ...flat], trustForwarded: trusted }));
      assert.equal(r.invalid, undefined);
      assert.equal(r.framing, Framing.None);
      assert.ok(r.head.startsWith('GET / HTTP/1.1\r\n'));
      assert.deepEqual(lines(r.head), [
        'Host: example.com',
        ...pairs.map(([n, v]) => `${n}: ${v}`),
        `X-Forwarded-For: ${CLIENT}`,
        'X-Forwarded-Proto: http',
        'Via: 1.1 ballast',
      ]);
    }),
    { numRuns: 300 },
  );
});

test('property (response): every header that is not special is forwarded once, unchanged, in order', () => {
  fc.assert(
    fc.property(plainHeaders, (pairs) => {
      const r = rewriteResponse(res({ headers: [...pairs.flat(), 'Content-Length', '2'] }));
      assert.equal(r.framing, Framing.Length);
      assert.deepEqual(lines(r.head), [...pairs.map(([n, v]) => `${n}: ${v}`), 'Content-Length: 2', 'Via: 1.1 ballast']);
    }),
    { numRuns: 300 },
  );
});
