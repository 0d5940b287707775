/**
 * The response reader's fast path (src/proxy/http/response-reader.ts) against llhttp alone:
 * generated response streams, plain and odd, several on one connection, split at random
 * points, must give the same events (heads, bodies, ends) and the same errors. The fast path
 * may only read a response exactly as llhttp would, or step aside.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ResponseReader, type ResponseSink } from '../../src/proxy/http/response-reader.js';
import { isParseError, SKIP_BODY } from '../../src/proxy/http/llhttp.js';

type Event = [string, ...unknown[]];

/** A sink that records events; `heads` says, per response head, whether its request was HEAD. */
class Recorder implements ResponseSink {
  readonly events: Event[] = [];
  private n = 0;
  constructor(private readonly headRequests: readonly boolean[]) {}
  responseHead(statusCode: number, statusMessage: string, headers: string[], versionMinor: number, keepAlive: boolean): number {
    this.events.push(['head', statusCode, statusMessage, [...headers], versionMinor, keepAlive]);
    // Interim responses do not use up a request.
    if (statusCode < 200) return 0;
    return this.headRequests[this.n++] === true ? SKIP_BODY : 0;
  }
  responseBody(chunk: Buffer): void {
    // Bodies are compared as byte strings, however they were cut.
    const last = this.events[this.events.length - 1];
    const text = chunk.toString('latin1');
    if (last !== undefined && last[0] === 'body') last[1] = (last[1] as string) + text;
    else this.events.push(['body', text]);
  }
  responseComplete(): void {
    this.events.push(['complete']);
  }
}

/** Feeds `chunks` until an error (a connection stops reading there), then the end of stream. */
function run(reader: ResponseReader, rec: Recorder, chunks: Buffer[]): Event[] {
  for (const chunk of chunks) {
    const r = reader.execute(chunk);
    if (isParseError(r)) {
      rec.events.push(['error', r.code]);
      return rec.events;
    }
    rec.events.push(['parsed', r === chunk.length]);
  }
  // A close-delimited body ends at the close; a cut-short one is the connection's to report.
  const before = rec.events.length;
  reader.finish();
  return rec.events.slice(0, before).concat(rec.events.slice(before).filter((e) => e[0] !== 'error'));
}

function compare(stream: Buffer, cuts: number[], headRequests: boolean[]): { fast: Event[]; slow: Event[]; taken: boolean } {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, stream.length]) {
    if (p > from) chunks.push(Buffer.from(stream.subarray(from, p)));
    from = Math.max(from, p);
  }
  const fastRec = new Recorder(headRequests);
  const fast = new ResponseReader(fastRec, true);
  const slowRec = new Recorder(headRequests);
  const slow = new ResponseReader(slowRec, false);
  const result = { fast: run(fast, fastRec, chunks), slow: run(slow, slowRec, chunks), taken: fast.fastResponses > 0 };
  fast.free();
  slow.free();
  return result;
}

const latin1 = (s: string) => Buffer.from(s, 'latin1');

// --- generators -----------------------------------------------------------------------------

const statusLine = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 503 Service Unavailable', 'HTTP/1.1 201 Created') },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'HTTP/1.1 204 No Content',
      'HTTP/1.1 304 Not Modified',
      'HTTP/1.0 200 OK',
      'HTTP/1.1 200 ',
      'HTTP/1.1 200',
      'HTTP/1.1 200 OK  ',
      'HTTP/1.1 999 Odd',
      'HTTP/1.1 2000 OK',
      'HTTP/1.1 20x OK',
      'HTTP/1.1 200 O\x01K',
      'HTTP/1.1 200 \xf6k',
      'HTTP/1.1 200 \tOK',
      'HTTP/2.0 200 OK',
      'HTTX/1.1 200 OK',
      'http/1.1 200 OK',
      'HTTP/1.1 600 Beyond',
    ),
  },
);

/** A header value drawn from bytes llhttp takes and bytes it refuses. */
const oddValue = fc
  .array(fc.constantFrom('a', 'Z', '0', ' ', '\t', ',', ':', ';', '=', '"', '\x7f', '\x00', '\x01', '\x80', '\xff', '\xe9', '\r', '\n'), { maxLength: 12 })
  .map((cs) => cs.join(''));

const nameChars = fc.constantFrom('a', 'X', '-', '_', '.', '!', '~', '0', ' ', '@', '(', '\t', '\x00', '\xe9');

type Header = { line: string; length?: number; chunked?: boolean };

const header: fc.Arbitrary<Header> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('Server: nginx', 'Date: Sun, 06 Dec 2026 00:11:16 GMT', 'Content-Type: text/plain', 'X-Empty:', 'X-Pad:   padded  \t ', 'cache-control: no-cache').map((line) => ({ line })) },
  { weight: 4, arbitrary: fc.constantFrom('Connection: keep-alive', 'Connection: close', 'connection: Close', 'Connection: Keep-Alive', 'Connection: upgrade', 'Connection: close, x', 'Connection:', 'Proxy-Connection: close', 'proxy-connection: keep-alive').map((line) => ({ line })) },
  { weight: 6, arbitrary: fc.nat({ max: 40 }).map((n) => ({ line: `Content-Length: ${n}`, length: n })) },
  {
    weight: 3,
    arbitrary: fc.constantFrom('content-length: 5', 'Content-Length: 05', 'Content-Length:  3 ', 'Content-Length: 0x5', 'Content-Length: -1', 'Content-Length: 1 2', 'Content-Length:', 'Content-Length : 3', ' Content-Length: 3', 'Content-Length: 99999999999999999999')
      .map((line) => ({ line, length: /^[^:]*:\s*(\d{1,3})\s*$/.exec(line) ? Number(/(\d+)/.exec(line)![1]) : undefined })),
  },
  { weight: 2, arbitrary: fc.constantFrom('Transfer-Encoding: chunked', 'transfer-encoding: Chunked', 'Transfer-Encoding: gzip').map((line) => ({ line, chunked: /chunked/i.test(line) })) },
  { weight: 3, arbitrary: fc.tuple(fc.array(nameChars, { minLength: 0, maxLength: 6 }), oddValue).map(([n, v]) => ({ line: `${n.join('')}: ${v}` })) },
  { weight: 1, arbitrary: fc.constantFrom('X-Folded: a\r\n b', 'X-Bare: a\nY: b', 'NoColon', 'X-Cr: a\rb').map((line) => ({ line })) },
);

/** One response: status line, headers, a body as long as the headers say (or a chunked one), sometimes a wrong one. */
const response = fc
  .record({
    status: statusLine,
    headers: fc.array(header, { maxLength: 7 }),
    bodyByte: fc.constantFrom('b', '\x00', '\xff'),
    bodyDelta: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) }),
    chunkSizes: fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 3 }),
  })
  .map(({ status, headers, bodyByte, bodyDelta, chunkSizes }) => {
    const declared = headers.find((h) => h.length !== undefined)?.length;
    const chunked = headers.some((h) => h.chunked === true);
    let body = '';
    if (chunked) {
      for (const size of chunkSizes) body += `${size.toString(16)}\r\n${bodyByte.repeat(size)}\r\n`;
      body += '0\r\n\r\n';
    } else {
      body = bodyByte.repeat(Math.max(0, (declared ?? 0) + bodyDelta));
    }
    return `${status}\r\n${headers.map((h) => `${h.line}\r\n`).join('')}\r\n${body}`;
  });

/** A response the fast path should take: well-formed, Content-Length, HTTP/1.1, final status. */
const plainResponse = fc
  .record({
    status: fc.constantFrom('HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 500 \xe9rror', 'HTTP/1.1 302 '),
    before: fc.array(fc.constantFrom('Server: nginx', 'Content-Type: text/plain', 'X-Pad:  padded \t', 'X-Empty:', 'ETag: "1"'), { maxLength: 4 }),
    length: fc.nat({ max: 30 }),
    connection: fc.constantFrom('', 'Connection: keep-alive\r\n', 'connection: close\r\n', 'Proxy-Connection: close\r\n'),
    bodyByte: fc.constantFrom('b', '\x00', '\r'),
  })
  .map(({ status, before, length, connection, bodyByte }) => `${status}\r\n${before.map((h) => `${h}\r\n`).join('')}Content-Length: ${length}\r\n${connection}\r\n${bodyByte.repeat(length)}`);

const stream = fc.record({
  interim: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  responses: fc.array(fc.oneof({ weight: 3, arbitrary: plainResponse }, { weight: 2, arbitrary: response }), { minLength: 1, maxLength: 3 }),
  tail: fc.constantFrom('', '', '', 'HTT', 'HTTP/1.1 200 OK\r\nContent-Le', 'garbage', '\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n'),
});

// --- properties -----------------------------------------------------------------------------

test('the fast path reads every generated stream as llhttp does, cut anywhere', () => {
  let taken = 0;
  let runs = 0;
  fc.assert(
    fc.property(stream, fc.array(fc.nat({ max: 4000 }), { maxLength: 3 }), fc.array(fc.boolean(), { maxLength: 4 }), (s, cuts, heads) => {
      const text = (s.interim ? 'HTTP/1.1 100 Continue\r\n\r\n' : '') + s.responses.join('') + s.tail;
      const r = compare(latin1(text), cuts, heads);
      runs++;
      if (r.taken) taken++;
      assert.deepEqual(r.fast, r.slow);
    }),
    { numRuns: 3000, seed: 1405 },
  );
  // The generators must exercise the fast path, not only the fallback.
  assert.ok(taken > runs / 10, `fast path taken in ${taken} of ${runs} streams`);
});

test('plain responses take the fast path, back to back and with their bodies split across reads', () => {
  const one = 'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello';
  const rec = new Recorder([]);
  const reader = new ResponseReader(rec);
  for (const chunk of [one + one.slice(0, 79), one.slice(79), one]) assert.equal(reader.execute(latin1(chunk)), chunk.length);
  assert.equal(reader.fastResponses, 3);
  assert.deepEqual(rec.events.filter((e) => e[0] === 'complete').length, 3);
  assert.deepEqual(rec.events[0], ['head', 200, 'OK', ['Server', 'nginx', 'Content-Length', '5', 'Connection', 'keep-alive'], 1, true]);
  reader.free();
});

test('after a response llhttp had to read (chunked), the next plain one takes the fast path again', () => {
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
  const plain = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi';
  const rec = new Recorder([]);
  const reader = new ResponseReader(rec);
  for (const chunk of [chunked, plain, chunked, plain]) assert.equal(reader.execute(latin1(chunk)), chunk.length);
  assert.equal(reader.fastResponses, 2);
  assert.deepEqual(
    rec.events.filter((e) => e[0] !== 'head'),
    [['body', 'abc'], ['complete'], ['body', 'hi'], ['complete'], ['body', 'abc'], ['complete'], ['body', 'hi'], ['complete']],
  );
  reader.free();
});

test('a response to HEAD: its Content-Length announces no body here', () => {
  const rec = new Recorder([true, false]);
  const reader = new ResponseReader(rec);
  const text = 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx';
  assert.equal(reader.execute(latin1(text)), text.length);
  assert.equal(reader.fastResponses, 2);
  assert.deepEqual(rec.events.map((e) => e[0]), ['head', 'complete', 'head', 'body', 'complete']);
  reader.free();
});
