/**
 * Ballast parses HTTP with Node's own llhttp binding (`_http_common`), which is private API.
 * These tests pin the shape the proxy relies on, so a Node upgrade that changes it fails here,
 * loudly, instead of in production.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HTTPParser,
  LENIENT_NONE,
  isParseError,
  kOnBody,
  kOnHeaders,
  kOnHeadersComplete,
  kOnMessageBegin,
  kOnMessageComplete,
  methodName,
  PAUSE,
  PAUSED_CODE,
} from '../../src/proxy/http/llhttp.js';

function parse(type: number, input: string, maxHeaderSize = 0) {
  const p = new HTTPParser();
  p.initialize(type, {}, maxHeaderSize, LENIENT_NONE);
  const events: unknown[] = [];
  p[kOnHeaders] = (headers: string[], url: string) => events.push(['headers', headers.length, url]);
  p[kOnHeadersComplete] = (vMaj: number, vMin: number, headers: string[], method: number, url: string, status: number, message: string, upgrade: boolean, keepAlive: boolean) => {
    events.push(['head', vMaj, vMin, headers, type === HTTPParser.REQUEST ? methodName(method) : status, url ?? message, upgrade, keepAlive]);
    return 0;
  };
  p[kOnBody] = (chunk: Buffer) => events.push(['body', Buffer.from(chunk).toString()]);
  p[kOnMessageComplete] = () => events.push(['done']);
  const r = p.execute(Buffer.from(input, 'latin1'));
  p.free();
  return { result: r, events };
}

/** The running major; the binding is only vouched for on the majors package.json's `engines` names. */
const major = Number(process.versions.node.split('.')[0]);

/**
 * Where the supported majors differ around what we use (checked on 20.20, 22.23 and 24.22):
 * none of it is on our path, but a difference not listed here means the binding moved (check
 * llhttp.ts, then add it).
 */
const perMajor: Record<number, { extraMethods: string[]; extraLenient: string[] }> = {
  20: { extraMethods: ['duration', 'headersCompleted'], extraLenient: [] },
  22: { extraMethods: [], extraLenient: [] },
  24: { extraMethods: [], extraLenient: ['kLenientHeaderValueRelaxed'] },
};

test('the binding exists with the constants and methods we use (Node 20, 22 and 24)', () => {
  assert.equal(typeof HTTPParser, 'function');
  for (const k of ['REQUEST', 'RESPONSE', 'kOnMessageBegin', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete', 'kLenientNone']) {
    assert.equal(typeof (HTTPParser as unknown as Record<string, unknown>)[k], 'number', k);
  }
  for (const m of ['initialize', 'execute', 'finish', 'free', 'pause', 'resume']) {
    assert.equal(typeof (HTTPParser.prototype as unknown as Record<string, unknown>)[m], 'function', m);
  }
  assert.equal(methodName(1), 'GET');
  assert.equal(methodName(3), 'POST');
});

test(`the differences of Node ${major}'s HTTP parser binding from the other supported majors are the known ones`, () => {
  const expected = perMajor[major];
  assert.ok(expected, `Node ${major} is not a supported major (20, 22, 24): check src/proxy/http/llhttp.ts against it, then list it here`);
  const common = ['close', 'free', 'remove', 'execute', 'finish', 'initialize', 'pause', 'resume', 'consume', 'unconsume', 'getCurrentBuffer', 'constructor'];
  assert.deepEqual(Object.getOwnPropertyNames(HTTPParser.prototype).sort(), [...common, ...expected.extraMethods].sort());
  const lenient = Object.keys(HTTPParser).filter((k) => k.startsWith('kLenient'));
  const commonLenient = ['kLenientNone', 'kLenientHeaders', 'kLenientChunkedLength', 'kLenientKeepAlive', 'kLenientTransferEncoding', 'kLenientVersion', 'kLenientDataAfterClose', 'kLenientOptionalLFAfterCR', 'kLenientOptionalCRLFAfterChunk', 'kLenientOptionalCRBeforeLF', 'kLenientSpacesAfterChunkSize', 'kLenientAll'];
  assert.deepEqual(lenient.sort(), [...commonLenient, ...expected.extraLenient].sort());
  // The method numbering onHeadersComplete reports is llhttp's, the same on all three.
  const names = ['DELETE', 'GET', 'HEAD', 'POST', 'PUT', 'CONNECT', 'OPTIONS', 'TRACE', 'COPY', 'LOCK', 'MKCOL', 'MOVE', 'PROPFIND', 'PROPPATCH', 'SEARCH', 'UNLOCK', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'REPORT', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PATCH', 'PURGE', 'MKCALENDAR', 'LINK', 'UNLINK', 'SOURCE', 'QUERY'];
  assert.deepEqual(names.map((_, i) => methodName(i)), names);
});

test('onHeadersComplete argument order and body chunks as Buffers', () => {
  const { result, events } = parse(HTTPParser.REQUEST, 'POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
  assert.equal(typeof result, 'number');
  assert.deepEqual(events, [['head', 1, 1, ['Host', 'x', 'Content-Length', '3'], 'POST', '/a?b=1', false, true], ['body', 'abc'], ['done']]);
  const resp = parse(HTTPParser.RESPONSE, 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  assert.deepEqual(resp.events, [['head', 1, 1, ['Content-Length', '0', 'Connection', 'close'], 404, 'Not Found', false, false], ['done']]);
});

test('more than 32 headers arrive partly through onHeaders', () => {
  const many = Array.from({ length: 40 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
  const { events } = parse(HTTPParser.REQUEST, `GET / HTTP/1.1\r\nHost: x\r\n${many}\r\n`);
  assert.equal((events[0] as unknown[])[0], 'headers', 'a first batch comes through onHeaders');
});

test('strict mode rejects the smuggling forms with an error object', () => {
  const cases: Array<[string, string]> = [
    ['GET / HTTP/1.1\nHost: x\n\n', 'bare LF'],
    ['GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na', 'duplicate Content-Length'],
    ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'CL and TE'],
    ['GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n', 'obs-fold'],
    ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 'chunked not last'],
  ];
  for (const [input, name] of cases) {
    const { result } = parse(HTTPParser.REQUEST, input);
    assert.ok(isParseError(result), `${name} is rejected`);
    assert.match(result.code, /^HPE_/);
  }
  const { result } = parse(HTTPParser.REQUEST, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`, 1024);
  assert.ok(isParseError(result) && result.code === 'HPE_HEADER_OVERFLOW', 'maxHeaderSize is enforced');
});

test('returning PAUSE from onHeadersComplete stops after that head; resume() and the rest of the buffer go on', () => {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, 0, LENIENT_NONE);
  const events: string[] = [];
  p[kOnHeadersComplete] = (_a: number, _b: number, _h: string[], _m: number, url: string) => {
    events.push(`head ${url}`);
    return url === '/b' ? PAUSE : 0;
  };
  p[kOnBody] = (chunk: Buffer) => events.push(`body ${chunk.toString()}`);
  p[kOnMessageComplete] = () => events.push('done');
  const input = Buffer.from('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ndefGET /c HTTP/1.1\r\nHost: x\r\n\r\n');
  const r = p.execute(input);
  assert.ok(isParseError(r), 'execute reports the pause as an error object');
  assert.equal(r.code, PAUSED_CODE);
  assert.deepEqual(events, ['head /a', 'body abc', 'done', 'head /b']);
  const rest = input.subarray(r.bytesParsed);
  assert.ok(rest.toString().startsWith('defGET /c'), 'bytesParsed ends right after the paused head');
  p.resume();
  assert.equal(p.execute(rest), rest.length);
  assert.deepEqual(events.slice(4), ['body def', 'done', 'head /c', 'done']);
  p.free();
});

test('message-begin fires at the first byte of a message, a partial status line too, not for line breaks between messages (the response reader relies on it)', () => {
  const p = new HTTPParser();
  p.initialize(HTTPParser.RESPONSE, {}, 0, LENIENT_NONE);
  const events: string[] = [];
  p[kOnMessageBegin] = () => events.push('begin');
  p[kOnHeadersComplete] = () => 0;
  p[kOnMessageComplete] = () => events.push('done');
  assert.equal(p.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n\r\n')), 40);
  assert.deepEqual(events, ['begin', 'done'], 'the line break after the message begins nothing');
  assert.equal(p.execute(Buffer.from('HT')), 2);
  assert.deepEqual(events, ['begin', 'done', 'begin'], 'two bytes of a status line begin a message');
  p.free();
});
