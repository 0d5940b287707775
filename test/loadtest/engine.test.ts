import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLoad, planLoad, LoadOptionsError } from '../../src/loadtest/engine.js';
import { closedPort, startServer } from './helpers.js';

test('closed loop: every request is counted once and the counts add up', async () => {
  let served = 0;
  const srv = await startServer((_req, res) => {
    served++;
    res.end('ok');
  });
  try {
    const r = await runLoad({ url: srv.url + '/', requests: 500, connections: 8, seed: 1 });
    assert.equal(r.sent, 500);
    assert.equal(served, 500);
    assert.equal(r.succeeded, 500);
    assert.equal(r.failed.total, 0);
    assert.equal(r.sent, r.succeeded + r.failed.total);
    assert.equal(r.latencyMs.count, 500);
    assert.equal(r.latencyBuckets.reduce((n, b) => n + b.count, 0), 500);
    assert.deepEqual(r.statusCodes, { '200': 500 });
    assert.ok(r.latencyMs.min <= r.latencyMs.p50 && r.latencyMs.p50 <= r.latencyMs.p99 && r.latencyMs.p99 <= r.latencyMs.max);
    assert.ok(r.throughput > 0);
    assert.equal(r.mode, 'closed');
  } finally {
    await srv.close();
  }
});

test('a 503 is a failure (regression: the original counted any response as success)', async () => {
  const srv = await startServer((req, res) => {
    res.statusCode = req.url === '/busy' ? 503 : 200;
    res.end('x');
  });
  try {
    const r = await runLoad({ url: srv.url + '/busy', requests: 40, connections: 4 });
    assert.equal(r.sent, 40);
    assert.equal(r.succeeded, 0);
    assert.equal(r.failed.http5xx, 40);
    assert.equal(r.failed.total, 40);
    assert.deepEqual(r.statusCodes, { '503': 40 });
  } finally {
    await srv.close();
  }
});

test('status classes: 2xx and 3xx succeed, 4xx and 5xx fail, each in its kind', async () => {
  const codes = [200, 204, 302, 404, 500];
  let i = 0;
  const srv = await startServer((_req, res) => {
    res.statusCode = codes[i++ % codes.length]!;
    res.end();
  });
  try {
    const r = await runLoad({ url: srv.url + '/', requests: 100, connections: 1 });
    assert.equal(r.succeeded, 60);
    assert.equal(r.failed.http4xx, 20);
    assert.equal(r.failed.http5xx, 20);
    assert.equal(r.sent, r.succeeded + r.failed.total);
  } finally {
    await srv.close();
  }
});

test('share per backend comes from the X-Backend header', async () => {
  const names = ['a:8081', 'b:8082', 'a:8081', 'c:8083'];
  let i = 0;
  const srv = await startServer((_req, res) => {
    res.setHeader('X-Backend', names[i++ % names.length]!);
    res.end('ok');
  });
  try {
    const r = await runLoad({ url: srv.url + '/', requests: 400, connections: 4 });
    const byName = Object.fromEntries(r.backends.map((b) => [b.backend, b]));
    assert.equal(byName['a:8081']!.count, 200);
    assert.equal(byName['b:8082']!.count, 100);
    assert.equal(byName['c:8083']!.count, 100);
    assert.equal(byName['a:8081']!.share, 0.5);
    assert.equal(r.backends[0]!.backend, 'a:8081', 'largest first');
  } finally {
    await srv.close();
  }
});

test('cache hits and misses are counted from X-Cache, and absent without it', async () => {
  let i = 0;
  const srv = await startServer((req, res) => {
    if (req.url !== '/plain') res.setHeader('X-Cache', i++ % 4 === 0 ? 'MISS' : 'HIT');
    res.end('ok');
  });
  try {
    const r = await runLoad({ url: srv.url + '/', requests: 100, connections: 2 });
    assert.deepEqual(r.cache, { hits: 75, misses: 25, hitRate: 0.75 });
    const plain = await runLoad({ url: srv.url + '/plain', requests: 10, connections: 2 });
    assert.equal(plain.cache, null);
  } finally {
    await srv.close();
  }
});

test('a request past its timeout fails as a timeout and its latency is at least the timeout', async () => {
  let n = 0;
  const srv = await startServer((_req, res) => {
    // Every fourth request never gets an answer.
    if (n++ % 4 !== 3) res.end('ok');
  });
  try {
    const r = await runLoad({ url: srv.url + '/', requests: 20, connections: 2, timeoutMs: 150 });
    assert.equal(r.sent, 20);
    assert.equal(r.failed.timeout, 5);
    assert.equal(r.succeeded, 15);
    assert.ok(r.latencyMs.max >= 150, `max ${r.latencyMs.max}`);
  } finally {
    await srv.close();
  }
});

test('connection errors are counted by code and flagged', async () => {
  const port = await closedPort();
  const r = await runLoad({ url: `http://127.0.0.1:${port}/`, requests: 6, connections: 2 });
  assert.equal(r.sent, 6);
  assert.equal(r.failed.connection, 6);
  assert.equal(r.errorCodes['ECONNREFUSED'], 6);
  assert.equal(r.latencyMs.count, 0, 'refusals are not timed');
  assert.match(r.warnings.join('\n'), /every request failed to connect/);
});

test('open loop at a constant rate holds the rate within a few percent over 3 s', async () => {
  const srv = await startServer((_req, res) => res.end('ok'));
  try {
    const r = await runLoad({ url: srv.url + '/', rate: 200, arrivals: 'constant', durationS: 3, seed: 3 });
    assert.equal(r.mode, 'open');
    assert.ok(r.sent >= 570 && r.sent <= 601, `sent ${r.sent}`);
    assert.ok(Math.abs(r.openLoop!.achievedRate - 200) / 200 < 0.05, `achieved ${r.openLoop!.achievedRate}`);
    assert.ok(Math.abs(r.durationS - 3) < 0.5, `duration ${r.durationS}`);
    assert.equal(r.succeeded, r.sent);
  } finally {
    await srv.close();
  }
});

test('open loop: a stall shows in the latency of the requests queued behind it (no coordinated omission)', async () => {
  let n = 0;
  const srv = await startServer((_req, res) => {
    if (n++ === 10) setTimeout(() => res.end('slow'), 500);
    else res.end('ok');
  });
  try {
    // One connection at 50 req/s: during the 500 ms stall about 25 arrivals wait.
    const r = await runLoad({ url: srv.url + '/', rate: 50, arrivals: 'constant', durationS: 1.6, connections: 1, seed: 4 });
    assert.equal(r.sent, 80);
    const slow = r.latencyBuckets.filter((b) => b.leMs === null || b.leMs > 100).reduce((s, b) => s + b.count, 0);
    assert.ok(slow >= 15, `only ${slow} requests over 100 ms`);
    assert.equal(r.openLoop!.held, false);
    assert.match(r.warnings.join('\n'), /fell behind the schedule by up to \d+ ms because all 1 connections were busy/);

    // The closed loop measures from the send, so it sees one slow request: the omission the open loop avoids.
    n = 0;
    const c = await runLoad({ url: srv.url + '/', requests: 80, connections: 1 });
    const cslow = c.latencyBuckets.filter((b) => b.leMs === null || b.leMs > 100).reduce((s, b) => s + b.count, 0);
    assert.equal(cslow, 1);
  } finally {
    await srv.close();
  }
});

test('keys go in X-Key and the path, Zipf-skewed, and one seed replays the same sequence', async () => {
  const seen: string[] = [];
  const srv = await startServer((req, res) => {
    const key = req.headers['x-key'] as string;
    assert.equal(req.url, `/items/${key}?v=1`);
    seen.push(key);
    res.end('ok');
  });
  try {
    const opts = { url: srv.url + '/items?v=1', requests: 300, connections: 1, keys: 50, zipf: 1.2, seed: 42 };
    await runLoad(opts);
    const first = seen.splice(0);
    await runLoad(opts);
    assert.deepEqual(seen.splice(0), first);
    await runLoad({ ...opts, seed: 43 });
    assert.notDeepEqual(seen, first);
    const counts = new Map<string, number>();
    for (const k of first) counts.set(k, (counts.get(k) ?? 0) + 1);
    const top = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    assert.equal(top, 'key-0', 'rank 0 is the most popular');
    assert.ok(first.every((k) => /^key-\d+$/.test(k) && Number(k.slice(4)) < 50));
  } finally {
    await srv.close();
  }
});

test('method, headers and body are sent as given; --new-connection opens one connection per request', async () => {
  const sockets = new Set<unknown>();
  const srv = await startServer((req, res) => {
    sockets.add(req.socket);
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      assert.equal(req.method, 'POST');
      assert.equal(req.headers['x-test'], 'yes');
      assert.equal(body, '{"a":1}');
      res.end('ok');
    });
  });
  try {
    const base = { url: srv.url + '/', method: 'post', headers: [['X-Test', 'yes']] as Array<[string, string]>, body: '{"a":1}', requests: 10, connections: 1 };
    const r1 = await runLoad(base);
    assert.equal(r1.succeeded, 10);
    assert.equal(sockets.size, 1, 'keep-alive reuses one connection');
    sockets.clear();
    const r2 = await runLoad({ ...base, newConnection: true });
    assert.equal(r2.succeeded, 10);
    assert.equal(sockets.size, 10);
  } finally {
    await srv.close();
  }
});

test('aborting stops new requests and reports what was sent', async () => {
  const srv = await startServer((_req, res) => setTimeout(() => res.end('ok'), 5));
  try {
    const ac = new AbortController();
    const progress: number[] = [];
    setTimeout(() => ac.abort(), 300);
    const r = await runLoad({ url: srv.url + '/', durationS: 30, connections: 2, progressIntervalMs: 50 }, { signal: ac.signal, onProgress: (p) => progress.push(p.done) });
    assert.equal(r.aborted, true);
    assert.ok(r.durationS < 5);
    assert.equal(r.sent, r.succeeded + r.failed.total);
    assert.ok(progress.length >= 3);
    assert.equal(progress.at(-1), r.sent);
  } finally {
    await srv.close();
  }
});

test('bad options are refused with the option named', () => {
  assert.throws(() => planLoad({ url: 'ftp://x/' }), LoadOptionsError);
  assert.throws(() => planLoad({ url: 'http://x/', connections: 0 }), /connections/);
  assert.throws(() => planLoad({ url: 'http://x/', zipf: 1 }), /zipf needs keys/);
  assert.throws(() => planLoad({ url: 'http://x/', arrivals: 'constant' }), /arrivals needs rate/);
  assert.equal(planLoad({ url: 'http://x/', requests: 3 }).connections, 3, 'no more connections than requests');
  assert.equal(planLoad({ url: 'http://x/' }).durationS, 10);
});
