/**
 * Request smuggling, table-driven, against a byte-recording origin (issue 12). Every case is
 * sent raw through Ballast; the origin records each byte it receives and parses it with a
 * strict HTTP/1.1 parser. The verdicts:
 *
 * - reject cases: the client gets the expected 4xx (or 501/505) and a closed connection, and
 *   the origin receives no byte at all (not even a connection);
 * - forward cases (ambiguous but valid): the origin parses exactly the requests meant, with
 *   the bodies meant;
 * - in every case, no request the origin parses has the path /smuggled. Each attack carries
 *   a hidden `GET /smuggled` that a framing mistake anywhere would turn into a request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { HTTPParser, LENIENT_NONE, isParseError, kOnBody, kOnHeadersComplete, kOnMessageComplete } from '../../src/proxy/http/llhttp.js';
import { local, rawExchange, request, startBallast } from '../helpers/servers.js';
import { track } from '../helpers/lifecycle.js';

interface OriginRequest {
  url: string;
  body: string;
}

/** An origin that keeps every byte it is sent and answers each request it parses with 200. */
async function recordingOrigin() {
  const received: Buffer[] = [];
  const parsed: OriginRequest[] = [];
  const parseErrors: string[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    const p = new HTTPParser();
    p.initialize(HTTPParser.REQUEST, {}, 0, LENIENT_NONE);
    let current: OriginRequest | null = null;
    p[kOnHeadersComplete] = (_maj: number, _min: number, _h: string[], _m: number, url: string) => {
      current = { url, body: '' };
      return 0;
    };
    p[kOnBody] = (chunk: Buffer) => {
      if (current !== null) current.body += chunk.toString('latin1');
    };
    p[kOnMessageComplete] = () => {
      if (current !== null) parsed.push(current);
      current = null;
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    };
    s.on('data', (chunk: Buffer) => {
      received.push(chunk);
      const r = p.execute(chunk);
      if (isParseError(r)) {
        parseErrors.push(r.code);
        s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    parsed,
    parseErrors,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const H = 'Host: example\r\n';
/** The request hidden in every attack. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: example\r\n\r\n';
const SMUG_LEN = SMUGGLED.length;
/** A chunked body whose single chunk is the hidden request. */
const SMUG_CHUNKED = `${SMUG_LEN.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`;

type Part = string | Buffer | number;
interface Reject {
  name: string;
  send: Part[];
  status: number[];
}
interface Forward {
  name: string;
  send: Part[];
  /** Requests the origin must parse, in order. */
  expect: OriginRequest[];
}

const reject = (name: string, send: string | Part[], status = [400]): Reject => ({ name, send: typeof send === 'string' ? [send] : send, status });

const rejects: Reject[] = [
  // Connection nominating the framing or routing headers (the hole this issue is about).
  reject('Connection nominates Content-Length', `POST / HTTP/1.1\r\n${H}Connection: Content-Length\r\nContent-Length: ${SMUG_LEN}\r\n\r\n${SMUGGLED}`),
  reject('Connection nominates content-length (lower case)', `POST / HTTP/1.1\r\n${H}Connection: content-length\r\nContent-Length: ${SMUG_LEN}\r\n\r\n${SMUGGLED}`),
  reject('Connection: close, Content-Length', `POST / HTTP/1.1\r\n${H}Connection: close, Content-Length\r\nContent-Length: ${SMUG_LEN}\r\n\r\n${SMUGGLED}`),
  reject('Connection: keep-alive,CONTENT-LENGTH', `POST / HTTP/1.1\r\n${H}Connection: keep-alive,CONTENT-LENGTH\r\nContent-Length: ${SMUG_LEN}\r\n\r\n${SMUGGLED}`),
  reject('second Connection header nominates Content-Length', `POST / HTTP/1.1\r\n${H}Connection: keep-alive\r\nConnection: Content-Length\r\nContent-Length: ${SMUG_LEN}\r\n\r\n${SMUGGLED}`),
  reject('Connection nominates Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n${SMUG_CHUNKED}`),
  reject('Connection nominates Host', `GET / HTTP/1.1\r\n${H}Connection: Host\r\n\r\n`),
  reject('Connection nominates host among others', `GET / HTTP/1.1\r\n${H}Connection: x-a, host, x-b\r\n\r\n`),
  // Content-Length and Transfer-Encoding conflicts.
  reject('CL.TE', `POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  reject('TE.CL', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${SMUG_CHUNKED}`),
  reject('Content-Length twice, different values', `POST / HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: ${SMUG_LEN}\r\n\r\n${SMUGGLED}`),
  reject('Content-Length "0, 40" list', `POST / HTTP/1.1\r\n${H}Content-Length: 0, ${SMUG_LEN}\r\n\r\n${SMUGGLED}`),
  reject('Content-Length in hex (0x28)', `POST / HTTP/1.1\r\n${H}Content-Length: 0x${SMUG_LEN.toString(16)}\r\n\r\n${SMUGGLED}`),
  reject('Content-Length with an inner space', `POST / HTTP/1.1\r\n${H}Content-Length: 1 0\r\n\r\n${SMUGGLED}`),
  reject('Content-Length empty', `POST / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n${SMUGGLED}`),
  reject('Content_Length (underscore) with a body', `POST / HTTP/1.1\r\n${H}Content_Length: ${SMUG_LEN}\r\n\r\n${SMUGGLED}`),
  reject('Transfer_Encoding (underscore) with a chunked body', `POST / HTTP/1.1\r\n${H}Transfer_Encoding: chunked\r\n\r\n${SMUG_CHUNKED}`),
  reject('Transfer-Encoding: identity', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n${SMUGGLED}`, [400, 501]),
  reject('Transfer-Encoding: chunked, identity', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n${SMUG_CHUNKED}`, [400, 501]),
  reject('Transfer-Encoding: chunked, chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n${SMUG_CHUNKED}`, [400, 501]),
  reject('Transfer-Encoding: xchunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n${SMUG_CHUNKED}`, [400, 501]),
  reject('Transfer-Encoding with a vertical tab', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\x0b\r\n\r\n${SMUG_CHUNKED}`, [400, 501]),
  reject('Transfer-Encoding twice', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n${SMUG_CHUNKED}`),
  reject('Transfer-Encoding obs-folded', `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n${SMUG_CHUNKED}`),
  reject('Transfer-Encoding in HTTP/1.0', `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n${SMUG_CHUNKED}`),
  reject('space before the colon', `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n${SMUG_CHUNKED}`),
  // Chunk-size oddities.
  reject('chunk size with 0x prefix', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x${SMUG_LEN.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`),
  reject('chunk size negative', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\n${SMUGGLED}\r\n0\r\n\r\n`),
  reject('chunk size with a leading space', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`),
  reject('chunk size with an underscore', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1_0\r\n${SMUGGLED}\r\n0\r\n\r\n`),
  reject('chunk size line ending in bare LF', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n${SMUGGLED}`),
  reject('chunk extension with a bare LF', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n${SMUGGLED}`),
  reject('chunk size overflowing 64 bits', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n${SMUGGLED}\r\n0\r\n\r\n`),
  reject('chunk data longer than its size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n${SMUGGLED}`),
  reject('first chunk-size line malformed, sent after the head', [`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`, 150, `0x${SMUG_LEN.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`]),
  reject('Expect: 100-continue, then a malformed first chunk', [`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n`, 150, `zz\r\n${SMUGGLED}\r\n0\r\n\r\n`]),
  // Line endings and folding.
  reject('obs-fold continuation', `GET / HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`),
  reject('obs-fold with a tab', `GET / HTTP/1.1\r\n${H}X-A: a\r\n\tb\r\n\r\n`),
  reject('bare CR inside a header value', `GET / HTTP/1.1\r\n${H}X-A: a\rContent-Length: ${SMUG_LEN}\r\n\r\n${SMUGGLED}`),
  reject('bare LF ending a header', `POST / HTTP/1.1\r\n${H}X-A: a\nContent-Length: ${SMUG_LEN}\r\n\r\n${SMUGGLED}`),
  reject('bare LF line endings throughout', `GET / HTTP/1.1\nHost: example\n\n`),
  reject('bare CR line endings', `GET / HTTP/1.1\rHost: example\r\r`),
  reject('NUL in a header name', `GET / HTTP/1.1\r\n${H}X-\x00A: 1\r\n\r\n`),
  // Host.
  reject('Host with userinfo', `GET / HTTP/1.1\r\nHost: user@example\r\n\r\n`),
  reject('Host with user:password', `GET / HTTP/1.1\r\nHost: user:secret@example\r\n\r\n`),
  reject('Host with a path', `GET / HTTP/1.1\r\nHost: example/evil\r\n\r\n`),
  reject('Host with an inner space', `GET / HTTP/1.1\r\nHost: exa mple\r\n\r\n`),
  reject('Host with a non-numeric port', `GET / HTTP/1.1\r\nHost: example:http\r\n\r\n`),
  reject('Host twice', `GET / HTTP/1.1\r\nHost: example\r\nHost: evil\r\n\r\n`),
  reject('Host twice, once empty', `GET / HTTP/1.1\r\nHost:\r\nHost: evil\r\n\r\n`),
  reject('no Host in HTTP/1.1', `GET / HTTP/1.1\r\nX-A: 1\r\n\r\n`),
  // Request line.
  reject('Transfer-Encoding with Content-Length: 0', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n${SMUG_CHUNKED}`),
  reject('HTTP/1.10', `GET / HTTP/1.10\r\n${H}\r\n`, [400, 505]),
  reject('absolute-form with CR in the target', `GET http://example/\r HTTP/1.1\r\n${H}\r\n`),
];

const forwards: Forward[] = [
  { name: 'Transfer-Encoding: Chunked (coding names are case-insensitive)', send: [`POST /a HTTP/1.1\r\n${H}Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`], expect: [{ url: '/a', body: 'hello' }] },
  { name: 'TRANSFER-ENCODING: CHUNKED', send: [`POST /b HTTP/1.1\r\n${H}TRANSFER-ENCODING: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n`], expect: [{ url: '/b', body: 'hello' }] },
  { name: 'gzip, chunked (chunked last)', send: [`POST /c HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`], expect: [{ url: '/c', body: 'hello' }] },
  { name: 'a body that looks like a request, framed by Content-Length', send: [`POST /d HTTP/1.1\r\n${H}Content-Length: ${SMUG_LEN}\r\n\r\n${SMUGGLED}`], expect: [{ url: '/d', body: SMUGGLED }] },
  { name: 'a chunk that looks like a request', send: [`POST /e HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${SMUG_CHUNKED}`], expect: [{ url: '/e', body: SMUGGLED }] },
  { name: 'chunk extensions and trailers', send: [`POST /f HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n`], expect: [{ url: '/f', body: 'hello' }] },
  { name: 'first chunk sent after the head', send: [`POST /g HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`, 100, '5\r\nhello\r\n0\r\n\r\n'], expect: [{ url: '/g', body: 'hello' }] },
  { name: 'Expect: 100-continue with a chunked body', send: [`POST /h HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n`, 100, '5\r\nhello\r\n0\r\n\r\n'], expect: [{ url: '/h', body: 'hello' }] },
  { name: 'Host with a port', send: [`GET /i HTTP/1.1\r\nHost: example:8080\r\n\r\n`], expect: [{ url: '/i', body: '' }] },
  { name: 'Host as a bracketed IPv6 literal', send: [`GET /j HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n`], expect: [{ url: '/j', body: '' }] },
  { name: 'Connection nominating a custom header, with a body', send: [`POST /k HTTP/1.1\r\n${H}Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nContent-Length: 5\r\n\r\nhello`], expect: [{ url: '/k', body: 'hello' }] },
  { name: 'HTTP/1.0 with Content-Length', send: [`POST /l HTTP/1.0\r\n${H}Content-Length: 5\r\n\r\nhello`], expect: [{ url: '/l', body: 'hello' }] },
  {
    name: 'pipelined: a body, then a second request (both real, in order)',
    send: [`POST /m HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhelloGET /n HTTP/1.1\r\n${H}Connection: close\r\n\r\n`],
    expect: [{ url: '/m', body: 'hello' }, { url: '/n', body: '' }],
  },
];

function statuses(data: string): number[] {
  return [...data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1])).filter((s) => s !== 100);
}

test('smuggling corpus: every reject case refused before the origin sees a byte, every valid case forwarded exactly, nothing smuggled', async (t) => {
  const origin = track(await recordingOrigin());
  const lb = track(await startBallast({ servers: [local(origin.port)], timeouts: { clientHeadersMs: 3_000 } }));
  assert.ok(rejects.length >= 40, `${rejects.length} reject cases`);

  const wrong: string[] = [];
  let forwardedRejects = 0;
  for (const c of rejects) {
    const bytesBefore = origin.received.length;
    const connsBefore = origin.connections();
    const r = await rawExchange(lb.address.port, c.send);
    const got = statuses(r.data);
    const problems: string[] = [];
    if (got.length !== 1 || !c.status.includes(got[0]!)) problems.push(`answered ${JSON.stringify(got)}, want one of ${c.status.join('|')}`);
    if (!r.closed) problems.push('connection left open');
    if (origin.received.length !== bytesBefore || origin.connections() !== connsBefore) {
      forwardedRejects++;
      problems.push(`reached the origin: ${JSON.stringify(Buffer.concat(origin.received.slice(bytesBefore)).toString('latin1').slice(0, 120))}`);
    }
    t.diagnostic(`reject ${c.name}: ${got.join(',')}${problems.length ? ` (${problems.join('; ')})` : ''}`);
    if (problems.length > 0) wrong.push(`${c.name}: ${problems.join('; ')}`);
  }

  for (const c of forwards) {
    const before = origin.parsed.length;
    const r = await rawExchange(lb.address.port, c.send, 400);
    const seen = origin.parsed.slice(before);
    const got = statuses(r.data);
    const problems: string[] = [];
    if (got.length !== c.expect.length || got.some((s) => s !== 200)) problems.push(`answered ${JSON.stringify(got)}`);
    try {
      assert.deepEqual(seen, c.expect);
    } catch {
      problems.push(`origin parsed ${JSON.stringify(seen)}`);
    }
    t.diagnostic(`forward ${c.name}: ${got.join(',')}${problems.length ? ` (${problems.join('; ')})` : ''}`);
    if (problems.length > 0) wrong.push(`${c.name}: ${problems.join('; ')}`);
  }

  const smuggled = origin.parsed.filter((p) => p.url === '/smuggled').length;
  t.diagnostic(`${rejects.length} reject cases, ${forwards.length} forward cases; smuggled ${smuggled}, rejects forwarded ${forwardedRejects}`);
  assert.equal(smuggled, 0, 'no request smuggled to the origin');
  assert.equal(forwardedRejects, 0, 'no reject case forwarded');
  assert.deepEqual(origin.parseErrors, [], 'the origin never received bytes it could not parse');
  assert.deepEqual(wrong, []);
  assert.equal((await request(`${lb.url}/after`)).status, 200, 'the balancer still serves');
});
