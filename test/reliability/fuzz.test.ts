/**
 * "The balancer never crashes on any input" (issue 4), checked with seeded random inputs on
 * both sides: mutated requests from clients, and mutated responses from a backend. Every
 * connection must end within the configured timeouts with either nothing or well-formed
 * HTTP/1.1 status lines, and the balancer must keep serving. An exception escaping the proxy
 * would crash this test process, since the balancer runs in it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { httpServer, local, request, startBallast, tcpServer } from '../helpers/servers.js';
import { cleanups } from '../helpers/lifecycle.js';

/** Sends `payload`, collects the reply; `closed` false when the balancer left it open past `limitMs`. */
function exchange(port: number, payload: Buffer, limitMs: number): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closed = true;
    const s = net.connect(port, '127.0.0.1', () => s.end(payload));
    const timer = setTimeout(() => {
      closed = false;
      s.destroy();
    }, limitMs);
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed });
    });
  });
}

const VALID = [
  'GET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
  'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET / HTTP/1.0\r\n\r\n',
  'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
];

const SPICE = ['\r\n', '\n', '\r', '\0', ' ', '\t', ':', ',', 'Content-Length: 3\r\n', 'Transfer-Encoding: chunked\r\n', 'Host: y\r\n', '\r\n\r\n', 'HTTP/1.1', '0\r\n\r\n', 'ffffffff', '\xff', '%00'];

/** A valid request with a few random edits: insertions, deletions, truncation, duplication. */
const mutatedRequest = fc
  .record({
    base: fc.constantFrom(...VALID),
    edits: fc.array(
      fc.record({
        kind: fc.constantFrom('insert', 'delete', 'truncate', 'duplicate', 'byte'),
        at: fc.nat(),
        spice: fc.constantFrom(...SPICE),
        byte: fc.integer({ min: 0, max: 255 }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ base, edits }) => {
    let s = base;
    for (const e of edits) {
      const at = s.length === 0 ? 0 : e.at % s.length;
      if (e.kind === 'insert') s = s.slice(0, at) + e.spice + s.slice(at);
      else if (e.kind === 'delete') s = s.slice(0, at) + s.slice(at + 1 + (e.at % 7));
      else if (e.kind === 'truncate') s = s.slice(0, at);
      else if (e.kind === 'duplicate') s = s + s;
      else s = s.slice(0, at) + String.fromCharCode(e.byte) + s.slice(at + 1);
    }
    return Buffer.from(s, 'latin1');
  });

const STATUS_LINE = /^HTTP\/1\.1 [1-5]\d\d [^\r\n]*\r\n/;

test('random mutations of requests: every connection ends cleanly, the balancer keeps serving', async (t) => {
  const backend = await httpServer((req, res) => {
    req.on('error', () => {});
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  cleanups.push(() => backend.close());
  const lb = await startBallast({
    servers: [local(backend.port)],
    timeouts: { clientHeadersMs: 300, clientIdleMs: 300, responseHeadersMs: 1000 },
  });
  cleanups.push(() => lb.stop(50));
  const samples = fc.sample(mutatedRequest, { numRuns: 300, seed: 4242 });
  const problems: string[] = [];
  const statuses = new Map<string, number>();
  // In batches, so the wait for timeouts overlaps.
  for (let i = 0; i < samples.length; i += 30) {
    const batch = samples.slice(i, i + 30);
    const results = await Promise.all(batch.map((p) => exchange(lb.address.port, p, 2500)));
    results.forEach((r, j) => {
      const label = JSON.stringify(batch[j]!.toString('latin1').slice(0, 80));
      if (!r.closed) problems.push(`left open: ${label}`);
      if (r.data !== '' && !STATUS_LINE.test(r.data)) problems.push(`not an HTTP response (${JSON.stringify(r.data.slice(0, 40))}): ${label}`);
      const first = /^HTTP\/1\.1 (\d{3})/.exec(r.data)?.[1] ?? 'none';
      statuses.set(first, (statuses.get(first) ?? 0) + 1);
    });
  }
  t.diagnostic(`first statuses over ${samples.length} mutated requests: ${JSON.stringify(Object.fromEntries(statuses))}`);
  assert.deepEqual(problems, []);
  assert.equal((await request(`${lb.url}/alive`)).status, 200);
});

/** A valid response with random edits, as a broken backend might send it. */
const RESPONSES = [
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'HTTP/1.1 204 No Content\r\n\r\n',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'HTTP/1.0 200 OK\r\n\r\nclose-delimited',
];
const mutatedResponse = fc
  .record({
    base: fc.constantFrom(...RESPONSES),
    edits: fc.array(fc.record({ kind: fc.constantFrom('insert', 'delete', 'truncate', 'byte'), at: fc.nat(), spice: fc.constantFrom(...SPICE), byte: fc.integer({ min: 0, max: 255 }) }), {
      minLength: 0,
      maxLength: 3,
    }),
    close: fc.constantFrom('end', 'reset', 'keep'),
  })
  .map(({ base, edits, close }) => {
    let s = base;
    for (const e of edits) {
      const at = s.length === 0 ? 0 : e.at % s.length;
      if (e.kind === 'insert') s = s.slice(0, at) + e.spice + s.slice(at);
      else if (e.kind === 'delete') s = s.slice(0, at) + s.slice(at + 1);
      else if (e.kind === 'truncate') s = s.slice(0, at);
      else s = s.slice(0, at) + String.fromCharCode(e.byte) + s.slice(at + 1);
    }
    return { bytes: Buffer.from(s, 'latin1'), close };
  });

test('random mutations of backend responses: the client gets a response, a 502/504 or a cut, never a hang; the balancer keeps serving', async (t) => {
  const samples = fc.sample(mutatedResponse, { numRuns: 150, seed: 777 });
  // The request path names the sample, so a reused backend connection still answers the right one.
  const backend = await tcpServer((s) => {
    s.on('data', (chunk) => {
      const sample = samples[Number(/^GET \/(\d+) /.exec(chunk.toString('latin1'))?.[1] ?? 0)]!;
      s.write(sample.bytes);
      if (sample.close === 'end') s.end();
      else if (sample.close === 'reset') setTimeout(() => s.resetAndDestroy(), 5);
    });
  });
  cleanups.push(() => backend.close());
  const lb = await startBallast({
    servers: [local(backend.port)],
    retries: { enabled: false },
    outlierDetection: { enabled: false },
    timeouts: { responseHeadersMs: 300, upstreamIdleMs: 300, backendKeepAliveMs: 100 },
  });
  cleanups.push(() => lb.stop(50));
  const problems: string[] = [];
  const statuses = new Map<string, number>();
  for (let i = 0; i < samples.length; i++) {
    const r = await exchange(lb.address.port, Buffer.from(`GET /${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), 1500);
    const label = JSON.stringify(samples[i]!.bytes.toString('latin1').slice(0, 60)) + ` (${samples[i]!.close})`;
    if (!r.closed) problems.push(`left open: ${label}`);
    if (r.data !== '' && !STATUS_LINE.test(r.data)) problems.push(`not an HTTP response (${JSON.stringify(r.data.slice(0, 40))}): ${label}`);
    const first = /^HTTP\/1\.1 (\d{3})/.exec(r.data)?.[1] ?? 'none';
    statuses.set(first, (statuses.get(first) ?? 0) + 1);
  }
  t.diagnostic(`client statuses over ${samples.length} mutated responses: ${JSON.stringify(Object.fromEntries(statuses))}`);
  assert.deepEqual(problems, []);
  const good = await httpServer((_req, res) => res.end('fine'));
  cleanups.push(() => good.close());
  lb.reload({ ...lb.config, servers: [local(good.port)], reload: { allowReplaceAllServers: true } });
  assert.equal((await request(`${lb.url}/alive`)).status, 200);
});
