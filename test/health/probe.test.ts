import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStatusRange, runProbe, type ProbeResult, type ProbeSpec } from '../../src/health/probe.js';
import { ConfigError } from '../../src/config/load.js';
import { httpServer, refusedPort, silentServer, sleep, waitFor } from './helpers.js';

const http200: ProbeSpec = { type: 'http', method: 'GET', path: '/health', expect: { min: 200, max: 399 }, timeoutMs: 1000 };

function probe(port: number, spec: ProbeSpec): Promise<ProbeResult> {
  return new Promise((resolve) => runProbe({ host: '127.0.0.1', port }, spec, resolve));
}

test('parseStatusRange reads a status or a range and refuses a backwards one', () => {
  assert.deepEqual(parseStatusRange('200-399'), { min: 200, max: 399 });
  assert.deepEqual(parseStatusRange('204'), { min: 204, max: 204 });
  assert.throws(() => parseStatusRange('399-200'), ConfigError);
  assert.throws(() => parseStatusRange('2xx'), ConfigError);
});

test('http probe passes in range, fails out of range with the status, sends method and path', async () => {
  const srv = await httpServer(204);
  try {
    const ok = await probe(srv.port, { ...http200, method: 'HEAD', path: '/ready?x=1' });
    assert.equal(ok.ok, true);
    assert.equal(ok.status, 204);
    assert.equal(ok.error, null);
    assert.deepEqual([srv.hits[0]!.method, srv.hits[0]!.path], ['HEAD', '/ready?x=1']);
    const bad = await probe(srv.port, { ...http200, expect: parseStatusRange('200') });
    assert.deepEqual([bad.ok, bad.status, bad.error], [false, 204, 'status 204']);
    // Connection: close + agent: false: the probe's socket does not linger on the server.
    await waitFor(() => srv.open === 0, 2000, 'probe sockets closed');
  } finally {
    await srv.close();
  }
});

test('http probe: refused port, silent server (timeout) and reset connection fail with a reason', async () => {
  const port = await refusedPort();
  const hang = await silentServer('hang');
  const reset = await silentServer('reset');
  try {
    const refused = await probe(port, http200);
    assert.deepEqual([refused.ok, refused.error], [false, 'connection refused']);
    const timedOut = await probe(hang.port, { ...http200, timeoutMs: 80 });
    assert.deepEqual([timedOut.ok, timedOut.error], [false, 'timeout']);
    assert.ok(timedOut.durationMs >= 70, `took ${timedOut.durationMs} ms`);
    await waitFor(() => hang.open === 0, 2000, 'timed-out probe socket closed');
    const wasReset = await probe(reset.port, http200);
    assert.deepEqual([wasReset.ok, wasReset.error], [false, 'connection reset']);
  } finally {
    await hang.close();
    await reset.close();
  }
});

test('tcp probe passes on connect (even if the server never speaks) and fails on a refused port', async () => {
  const hang = await silentServer('hang');
  const port = await refusedPort();
  const tcp: ProbeSpec = { ...http200, type: 'tcp' };
  try {
    assert.equal((await probe(hang.port, tcp)).ok, true);
    assert.deepEqual(await probe(port, tcp).then((r) => [r.ok, r.error]), [false, 'connection refused']);
    await waitFor(() => hang.open === 0, 2000, 'tcp probe socket closed');
  } finally {
    await hang.close();
  }
});

test('cancel closes the socket and done is never called', async () => {
  const hang = await silentServer('hang');
  try {
    let called = 0;
    const p = runProbe({ host: '127.0.0.1', port: hang.port }, { ...http200, timeoutMs: 300 }, () => called++);
    await waitFor(() => hang.accepted === 1, 2000, 'probe connected');
    const before = called; // 0 unless this machine stalled past the timeout
    p.cancel();
    p.cancel();
    await waitFor(() => hang.open === 0, 2000, 'cancelled probe socket closed');
    await sleep(350); // past the timeout: no callback after cancel
    assert.equal(called, before);
  } finally {
    await hang.close();
  }
});
