/**
 * A backend that resets (or closes) mid-response (issue 4): the client sees a clean error, a
 * connection cut with a visibly incomplete body, never a response that looks whole; the
 * balancer lives on and serves the next request. Before any response byte, a reset is retried
 * for a GET and answered 502 for a POST.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { local, namedBackend, request, startBallast, tcpServer } from '../helpers/servers.js';
import { track } from '../helpers/lifecycle.js';

/** Raw exchange: everything received, and whether the server closed (vs. we gave up after idleMs). */
function raw(port: number, payload: string, idleMs = 1500): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closed = true;
    const s = net.connect(port, '127.0.0.1', () => s.write(payload));
    let timer = setTimeout(() => {
      closed = false;
      s.destroy();
    }, idleMs);
    s.on('data', (c) => {
      chunks.push(c);
      clearTimeout(timer);
      timer = setTimeout(() => {
        closed = false;
        s.destroy();
      }, idleMs);
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed });
    });
  });
}

/**
 * A scripted backend: per request path, what it does. It reads one request head and acts.
 * `/ok` answers 200 "fine" with keep-alive.
 */
async function scriptedBackend() {
  let requests = 0;
  const server = await tcpServer((s) => {
    let buf = '';
    s.on('data', (c) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const path = buf.split(' ')[1];
      buf = buf.slice(end + 4);
      requests++;
      switch (path) {
        case '/reset-mid-length':
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial-body');
          setTimeout(() => s.resetAndDestroy(), 30);
          break;
        case '/fin-mid-length':
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial-body');
          setTimeout(() => s.end(), 30);
          break;
        case '/reset-mid-chunked':
          s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
          setTimeout(() => s.resetAndDestroy(), 30);
          break;
        case '/fin-mid-chunked':
          s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
          setTimeout(() => s.end(), 30);
          break;
        case '/reset-mid-head':
          s.write('HTTP/1.1 200 OK\r\nContent-Le');
          setTimeout(() => s.resetAndDestroy(), 30);
          break;
        case '/reset-before-response':
          s.resetAndDestroy();
          break;
        case '/garbage':
          s.write('HELLO THERE\r\n\r\n');
          break;
        default:
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine');
      }
    });
  });
  return { ...server, requests: () => requests };
}

test('a reset or close mid-response cuts the client connection; the body is visibly incomplete; the next request is served', async () => {
  const be = track(await scriptedBackend());
  const lb = track(await startBallast({ servers: [local(be.port)], retries: { enabled: true }, outlierDetection: { enabled: false } }));
  const port = lb.address.port;
  for (const path of ['/reset-mid-length', '/fin-mid-length']) {
    const r = await raw(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.ok(r.closed, `${path}: the balancer closed the client connection`);
    assert.match(r.data, /^HTTP\/1\.1 200 OK\r\n/, path);
    assert.match(r.data, /Content-Length: 100000/i, `${path}: the length promised by the backend is relayed`);
    const body = r.data.slice(r.data.indexOf('\r\n\r\n') + 4);
    assert.ok(body.length < 100000, `${path}: the client can tell the body is cut (${body.length} of 100000 bytes)`);
    assert.equal((await request(`${lb.url}/ok`)).body.toString(), 'fine', `${path}: next request served`);
  }
  for (const path of ['/reset-mid-chunked', '/fin-mid-chunked']) {
    const r = await raw(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.ok(r.closed, `${path}: the balancer closed the client connection`);
    assert.match(r.data, /^HTTP\/1\.1 200 OK\r\n/, path);
    assert.ok(!r.data.endsWith('0\r\n\r\n'), `${path}: no last chunk, so the client knows the body is incomplete`);
    assert.equal((await request(`${lb.url}/ok`)).body.toString(), 'fine', `${path}: next request served`);
  }
  // node:http as a client sees an error, not a short 200.
  await assert.rejects(request(`${lb.url}/reset-mid-length`), /aborted|socket hang up|ECONNRESET/);
  await assert.rejects(request(`${lb.url}/reset-mid-chunked`), /aborted|socket hang up|ECONNRESET/);
  assert.equal((await request(`${lb.url}/ok`)).status, 200);
});

test('a keep-alive client connection cut mid-response is not reused; requests on it before were fine', async () => {
  const be = track(await scriptedBackend());
  const lb = track(await startBallast({ servers: [local(be.port)], outlierDetection: { enabled: false } }));
  const r = await raw(lb.address.port, 'GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /reset-mid-length HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.ok(r.closed);
  const statuses = [...r.data.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  assert.deepEqual(statuses, ['200', '200'], 'the first answered, the second cut, the third never started on that connection');
  assert.ok(r.data.startsWith('HTTP/1.1 200 OK') && r.data.includes('fine'));
});

test('a reset before any response byte: a GET is retried on another backend, a POST gets 502; a garbage response is 502', async () => {
  const be = track(await scriptedBackend());
  const good = track(await namedBackend('good'));
  // Single backend first: the GET has nowhere to go.
  const lb1 = track(await startBallast({ servers: [local(be.port)], outlierDetection: { enabled: false } }));
  assert.equal((await request(`${lb1.url}/reset-before-response`)).status, 502);
  assert.equal((await request(`${lb1.url}/reset-mid-head`)).status, 502);
  assert.equal((await request(`${lb1.url}/garbage`)).status, 502);
  assert.equal((await request(`${lb1.url}/ok`)).status, 200, 'still serving');

  const lb2 = track(await startBallast({ strategy: 'round_robin', servers: [local(be.port), local(good.port)], outlierDetection: { enabled: false } }));
  let gets = 0;
  let posts502 = 0;
  let posts200 = 0;
  for (let i = 0; i < 6; i++) {
    const g = await request(`${lb2.url}/reset-before-response`);
    assert.equal(g.status, 200, 'GET retried on the good backend');
    assert.equal(g.body.toString(), 'good');
    gets++;
    const p = await request(`${lb2.url}/reset-before-response`, { method: 'POST', body: 'x' });
    if (p.status === 502) posts502++;
    else if (p.status === 200) posts200++;
    else assert.fail(`POST got ${p.status}`);
  }
  assert.equal(gets, 6);
  assert.ok(posts502 > 0, 'a POST reset by the backend is not retried');
  assert.equal(posts502 + posts200, 6);
});

// Regression (security): alpha1.idempotentHeader used to default to X-Idempotent, so a client
// could make its own POST retryable (sent twice) by adding the header. Off unless configured.
test('a POST marked X-Idempotent: true, reset before any response byte, gets 502 with the default config; it is retried only when the header is configured', async () => {
  const be = track(await scriptedBackend());
  const good = track(await namedBackend('good'));
  const marked = { method: 'POST', body: 'x', headers: { 'x-idempotent': 'true' } };
  for (const [alpha1, want] of [
    [{}, 502],
    [{ idempotentHeader: 'X-Idempotent' }, 200],
  ] as const) {
    const lb = track(
      await startBallast({
        strategy: 'round_robin',
        servers: [local(be.port), local(good.port)],
        outlierDetection: { enabled: false },
        retries: { budgetPercent: 100, minPerSecond: 100 },
        alpha1,
      }),
    );
    const statuses: number[] = [];
    // Round robin alternates, so some of these first attempts go to the resetting backend.
    for (let i = 0; i < 4; i++) statuses.push((await request(`${lb.url}/reset-before-response`, marked)).status);
    if (want === 502) {
      assert.ok(statuses.includes(502), `default config: a marked POST reset by the backend is not retried (${statuses})`);
      assert.equal(lb.stats.counters().retries, 0, 'no retry');
    } else {
      assert.deepEqual(statuses, [200, 200, 200, 200], 'configured header: the marked POST is retried on the good backend');
      assert.ok(lb.stats.counters().retries >= 1);
    }
  }
});

test('an idempotent request with a body, reset before the response, is replayed byte for byte on another backend; a body too large to keep is not retried', async () => {
  const be = track(await scriptedBackend());
  const { httpServer } = await import('../helpers/servers.js');
  const echo = track(
    await httpServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        const sum = body.reduce((a, x) => (a * 31 + x) >>> 0, 7);
        res.end(`${body.length}:${sum}`);
      });
    }),
  );
  // A generous budget: this test is about what a retry sends, not how many are allowed.
  const lb = track(
    await startBallast({ strategy: 'round_robin', servers: [local(be.port), local(echo.port)], outlierDetection: { enabled: false }, retries: { budgetPercent: 100, minPerSecond: 100 } }),
  );
  const body = Buffer.alloc(50_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 131 + 7) & 255;
  const want = `${body.length}:${body.reduce((a, x) => (a * 31 + x) >>> 0, 7)}`;
  for (let i = 0; i < 4; i++) {
    // Content-Length body; round robin sends every other first attempt to the resetter.
    const r = await request(`${lb.url}/reset-before-response`, { method: 'PUT', body, headers: { 'content-length': String(body.length) } });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), want, 'the body arrived intact (replayed after the reset)');
  }
  // Chunked body, written in pieces.
  for (let i = 0; i < 4; i++) {
    const http = await import('node:http');
    const got = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${lb.url}/reset-before-response`, { method: 'PUT', agent: false }, (res) => {
        let s = '';
        res.on('data', (c) => (s += c));
        res.on('end', () => resolve(`${res.statusCode} ${s}`));
      });
      req.on('error', reject);
      for (let off = 0; off < body.length; off += 7000) req.write(body.subarray(off, off + 7000));
      req.end();
    });
    assert.equal(got, `200 ${want}`, `chunked #${i}: retries ${lb.stats.counters().retries}, denied ${lb.policy.retriesDenied}, failovers ${lb.stats.counters().failovers}, scripted saw ${be.requests()}, echo saw ${echo.requests.length}`);
  }
  assert.ok(lb.stats.counters().retries >= 4, `retries happened (${lb.stats.counters().retries})`);

  // Over the replay limit (64 KiB by default): the body is streamed, not kept; a reset cannot be retried.
  const big = Buffer.alloc(1 << 20, 1);
  const statuses = new Set<number>();
  for (let i = 0; i < 4; i++) {
    const r = await request(`${lb.url}/reset-before-response`, { method: 'PUT', body: big, headers: { 'content-length': String(big.length) } }).catch(() => ({ status: 0, body: Buffer.alloc(0) }));
    statuses.add(r.status);
    if (r.status === 200) assert.equal(r.body.toString().split(':')[0], String(big.length));
  }
  assert.ok(statuses.has(502) || statuses.has(0), 'a large body reset by the backend is not replayed');
});
