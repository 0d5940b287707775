/**
 * Malformed and smuggling requests (issue 4), sent raw: each gets a 4xx (or 501/505 where
 * that is the fitting answer) and a closed connection, nothing of it reaches the backend, and
 * the balancer keeps serving. The cases follow RFC 9112's rules that request smuggling
 * exploits (conflicting framing, obs-fold, bare LF, duplicate Host...) and plain garbage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { httpServer, local, outcomeBackend, rawExchange, request, startBallast } from '../helpers/servers.js';
import type { Ballast } from '../../src/app/ballast.js';
import { cleanups } from '../helpers/lifecycle.js';

/** Raw exchange: everything received, and whether the balancer closed the connection. */
const raw = (port: number, payload: string | Buffer, idleMs = 1500) => rawExchange(port, [payload], idleMs);

const H = 'Host: example\r\n';

/** [name, raw request, acceptable statuses]. */
const cases: Array<[string, string | Buffer, number[]]> = [
  ['Content-Length with Transfer-Encoding (CL.TE)', `POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX`, [400]],
  ['Transfer-Encoding then Content-Length (TE.CL)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`, [400]],
  ['duplicate Content-Length, same value', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, [400]],
  ['differing Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, [400]],
  ['Content-Length list "5, 5"', `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, [400]],
  ['negative Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, [400]],
  ['Content-Length with a plus sign', `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, [400]],
  ['overflowing Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\n`, [400, 413]],
  ['obs-fold continuation line', `GET / HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n`, [400]],
  ['obs-fold on Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`, [400]],
  ['bare LF line endings', `GET / HTTP/1.1\n${H.replace('\r\n', '\n')}\n`, [400]],
  ['bare LF inside the head', `GET / HTTP/1.1\r\n${H}X-A: 1\nX-B: 2\r\n\r\n`, [400]],
  ['bare CR inside a header value', `GET / HTTP/1.1\r\n${H}X-A: 1\rX-B: 2\r\n\r\n`, [400]],
  ['Transfer-Encoding in HTTP/1.0', `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, [400]],
  ['Transfer-Encoding not ending in chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, [400, 501]],
  ['Transfer-Encoding: xchunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, [400, 501]],
  ['two Transfer-Encoding headers', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, [400]],
  ['space before the colon (Transfer-Encoding : chunked)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, [400]],
  ['two Host headers', `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, [400]],
  ['missing Host in HTTP/1.1', `GET / HTTP/1.1\r\nX-A: 1\r\n\r\n`, [400]],
  ['invalid header name (space)', `GET / HTTP/1.1\r\n${H}Bad Name: x\r\n\r\n`, [400]],
  ['invalid header name (parenthesis)', `GET / HTTP/1.1\r\n${H}X(a): x\r\n\r\n`, [400]],
  ['empty header name', `GET / HTTP/1.1\r\n${H}: x\r\n\r\n`, [400]],
  ['control character in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n`, [400]],
  ['NUL in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, [400]],
  ['NUL in the request target', `GET /a\x00b HTTP/1.1\r\n${H}\r\n`, [400]],
  ['space in the request target', `GET /a b HTTP/1.1\r\n${H}\r\n`, [400]],
  ['huge header (over maxHeaderBytes)', `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`, [431]],
  ['many headers (over maxHeaderBytes)', `GET / HTTP/1.1\r\n${H}${'X-Many: 0123456789012345678901234567890123456789\r\n'.repeat(500)}\r\n`, [431]],
  ['huge request line', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\n${H}\r\n`, [414, 431, 400]],
  ['invalid chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, [400]],
  ['chunk size overflow', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n`, [400]],
  ['chunk without its CRLF', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n`, [400]],
  ['bad method token', `G@T / HTTP/1.1\r\n${H}\r\n`, [400, 501]],
  ['unknown method', `FOO / HTTP/1.1\r\n${H}\r\n`, [400, 501]],
  ['lower-case method', `get / HTTP/1.1\r\n${H}\r\n`, [400, 501]],
  ['HTTP/2.0 version', `GET / HTTP/2.0\r\n${H}\r\n`, [400, 505]],
  ['HTTP/1.2 version', `GET / HTTP/1.2\r\n${H}\r\n`, [400, 505]],
  ['HTTP/0.9 style request', `GET /\r\n\r\n`, [400, 505]],
  ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', [400, 501, 505]],
  ['malformed version', `GET / HTTX/1.1\r\n${H}\r\n`, [400]],
  ['request line garbage', 'hello world\r\n\r\n', [400]],
  ['TLS client hello', Buffer.from('16030100a5010000a103030000000000000000000000000000000000000000000000000000000000', 'hex'), [400]],
  ['NUL bytes only', Buffer.alloc(64), [400]],
  ['CONNECT tunnel', `CONNECT example:443 HTTP/1.1\r\n${H}\r\n`, [400, 405, 501]],
  ['Upgrade: h2c', `GET / HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`, [400, 501]],
];

test('each malformed or smuggling request gets its 4xx and a closed connection, reaches no backend, and the balancer stays up', async (t) => {
  const backend = await httpServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  cleanups.push(() => backend.close());
  const lb: Ballast = await startBallast({ servers: [local(backend.port)] });
  cleanups.push(() => lb.stop(50));

  const wrong: string[] = [];
  for (const [name, payload, statuses] of cases) {
    const before = backend.requests.length;
    const beforeConns = backend.connections();
    const r = await raw(lb.address.port, payload);
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(r.data)?.[1] ?? 0);
    const problems: string[] = [];
    if (!statuses.includes(status)) problems.push(`status ${status || `none (${JSON.stringify(r.data.slice(0, 60))})`}, want ${statuses.join('|')}`);
    if (!r.closed) problems.push('connection left open');
    if ((r.data.match(/HTTP\/1\.1 \d{3} /g) ?? []).length > 1) problems.push('more than one response');
    if (backend.requests.length !== before) problems.push(`reached the backend: ${backend.requests.slice(before).map((x) => `${x.method} ${x.url}`).join(', ')}`);
    else if (backend.connections() !== beforeConns) problems.push('opened a backend connection');
    if (problems.length > 0) wrong.push(`${name}: ${problems.join('; ')}`);
    t.diagnostic(`${name}: ${status}${problems.length ? ` (${problems.join('; ')})` : ''}`);
  }

  const ok = await request(`${lb.url}/after`);
  assert.equal(ok.status, 200, 'a normal request after the table succeeds');
  assert.equal(backend.requests.at(-1)?.url, '/after');
  assert.deepEqual(wrong, [], 'every case answered as expected');
});

test('a smuggling attempt pipelined after a valid request: the valid one is served, the smuggled one is refused', async () => {
  const backend = await httpServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(`saw ${req.method} ${req.url}`));
  });
  cleanups.push(() => backend.close());
  const lb = await startBallast({ servers: [local(backend.port)] });
  cleanups.push(() => lb.stop(50));
  // CL.TE: a front end honouring Content-Length would see one request with body "0\r\n\r\nGET /admin...".
  const payload =
    `GET /first HTTP/1.1\r\n${H}\r\n` +
    `POST /second HTTP/1.1\r\n${H}Content-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nX-Ignore: X`;
  const r = await raw(lb.address.port, payload);
  const statuses = [...r.data.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  assert.deepEqual(statuses, ['200', '400']);
  assert.ok(r.closed);
  assert.deepEqual(
    backend.requests.map((x) => x.url),
    ['/first'],
  );
});

test('rejections are counted and logged rate-limited, not once per request', async () => {
  const backend = await httpServer((_req, res) => res.end('ok'));
  cleanups.push(() => backend.close());
  const lines: string[] = [];
  const { parseConfig } = await import('../../src/config/load.js');
  const { Ballast } = await import('../../src/app/ballast.js');
  const { pino } = await import('pino');
  const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });
  const lb = await Ballast.start({
    config: parseConfig({ listen: { host: '127.0.0.1', port: 0 }, admin: { enabled: false }, healthCheck: { enabled: false }, servers: [local(backend.port)] }),
    log,
  });
  cleanups.push(() => lb.stop(50));
  await Promise.all(Array.from({ length: 50 }, () => raw(lb.address.port, 'hello world\r\n\r\n', 300)));
  const rejected = lines.filter((l) => /rejected request/.test(l));
  assert.ok(rejected.length >= 1 && rejected.length <= 10, `${rejected.length} log lines for 50 bad requests`);
  assert.equal((await request(`${lb.url}/`)).status, 200);
});

test('a malformed chunked body arriving after the head was forwarded: one 400 at once, the backend request aborted, never completed', async () => {
  const backend = await outcomeBackend();
  const outcomes = backend.outcomes;
  cleanups.push(() => backend.close());
  const lb = await startBallast({ servers: [local(backend.port)] });
  cleanups.push(() => lb.stop(50));
  const s = net.connect(lb.address.port, '127.0.0.1');
  s.on('error', () => {});
  let data = '';
  s.on('data', (c) => (data += c.toString('latin1')));
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.write(`POST /split HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
  const deadline = Date.now() + 3000;
  while (backend.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(backend.requests.length, 1, 'the valid head was forwarded');
  const sentAt = Date.now();
  s.write('zz\r\nsmuggled\r\n0\r\n\r\n');
  await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
  assert.ok(s.destroyed || s.readableEnded, 'the balancer closed the connection');
  assert.ok(Date.now() - sentAt < 1000, `closed ${Date.now() - sentAt} ms after the bad chunk`);
  assert.deepEqual([...data.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]), ['400'], 'exactly one response, a 400');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(outcomes, ['aborted'], 'the backend saw its request aborted');
  assert.equal((await request(`${lb.url}/next`)).status, 200);
});
