/**
 * Interoperability with a real PROXY protocol implementation: HAProxy (the protocol's author)
 * on both sides of Ballast, as the docs' configs put it. A client on 127.0.0.3 reaches an
 * HAProxy frontend that sends `send-proxy-v2` (http) or `send-proxy` (tcp) to Ballast, which
 * sends its own header to an HAProxy frontend with `accept-proxy`; that one answers with the
 * source address it read. Ballast's health checks (LOCAL / UNKNOWN) must pass HAProxy's
 * `accept-proxy` too, and HAProxy's own checks (`check-send-proxy`) Ballast's listener.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findHaproxy } from '../../src/bench/haproxy.js';
import { Child } from '../../src/bench/children.js';
import { deadPort, startBallast } from '../helpers/servers.js';
import { cleanups, sleep, track } from '../helpers/lifecycle.js';

const haproxy = findHaproxy();

/** GET / from `localAddress`; status 0 when the connection closes unanswered (HAProxy in tcp mode with its server down). */
function get(port: number, localAddress: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', localAddress, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', (err) => resolve({ status: 0, body: err.message }));
  });
}

test('HAProxy send-proxy-v2 / send-proxy in front, HAProxy accept-proxy behind: the client address goes through Ballast in both modes', { skip: haproxy === null && process.env.CI !== 'true' && 'haproxy is not installed' }, async () => {
  // Under CI a missing HAProxy is a failure, never a skip (.ci/run installs it).
  assert.ok(haproxy !== null, 'CI=true but haproxy is not installed (.ci/run installs it)');
  const [front, frontTcp, back, l7Port, l4Port] = [await deadPort(), await deadPort(), await deadPort(), await deadPort(), await deadPort()];
  const dir = mkdtempSync(path.join(tmpdir(), 'ballast-pp-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'haproxy.cfg');
  // HAProxy's checks of Ballast: lenient (fall 20), as Ballast starts after HAProxy.
  const check = 'check-send-proxy check inter 300 fall 20 rise 1';
  writeFileSync(
    file,
    [
      'defaults',
      '  timeout connect 2s',
      '  timeout client 10s',
      '  timeout server 10s',
      'frontend front',
      '  mode http',
      `  bind 127.0.0.1:${front}`,
      '  default_backend ballast_http',
      'backend ballast_http',
      '  mode http',
      `  server lb 127.0.0.1:${l7Port} send-proxy-v2 ${check}`,
      'frontend front_tcp',
      '  mode tcp',
      `  bind 127.0.0.1:${frontTcp}`,
      '  default_backend ballast_tcp',
      'backend ballast_tcp',
      '  mode tcp',
      `  server lb 127.0.0.1:${l4Port} send-proxy ${check}`,
      'frontend back',
      '  mode http',
      `  bind 127.0.0.1:${back} accept-proxy`,
      '  http-request return status 200 content-type text/plain lf-string "%[src] xff=%[req.hdr(x-forwarded-for)]"',
      '',
    ].join('\n'),
  );
  const child = new Child('haproxy', haproxy!.path, ['-db', '-f', file]);
  cleanups.push(() => child.stop());
  await child.waitListening('127.0.0.1', back, 5_000);
  await child.waitListening('127.0.0.1', front, 5_000);

  const behind = { host: '127.0.0.1', port: back };
  const trusted = { proxyProtocol: true, proxyProtocolFrom: ['127.0.0.1/32'] };
  const checks = { enabled: true, intervalMs: 60_000, timeoutMs: 2_000 };
  const l7 = track(await startBallast({ listen: { host: '127.0.0.1', port: l7Port, ...trusted }, healthCheck: checks, servers: [{ ...behind, sendProxy: 'v2' }] }));
  const l4 = track(
    await startBallast({ mode: 'tcp', listen: { host: '127.0.0.1', port: l4Port, ...trusted }, healthCheck: { ...checks, type: 'tcp' }, servers: [{ ...behind, sendProxy: 'v1' }] }),
  );
  // Ballast's first checks (an HTTP one opening with LOCAL, a TCP one with UNKNOWN) passed accept-proxy.
  assert.equal(l7.pool.ready.length, 1);
  assert.equal(l4.pool.ready.length, 1);

  // HAProxy marks Ballast up after its next check passes (every 300 ms): until then it answers 503.
  const upWithin = async (port: number) => {
    for (const end = Date.now() + 5_000; Date.now() < end; await sleep(100)) if ((await get(port, '127.0.0.1')).status === 200) return true;
    return false;
  };
  assert.ok((await upWithin(front)) && (await upWithin(frontTcp)), "HAProxy's checks with check-send-proxy pass Ballast's listeners");
  const viaHttp = await get(front, '127.0.0.3');
  assert.deepEqual(viaHttp, { status: 200, body: '127.0.0.3 xff=127.0.0.3' });
  const viaTcp = await get(frontTcp, '127.0.0.3');
  assert.deepEqual(viaTcp, { status: 200, body: '127.0.0.3 xff=' });
  assert.equal(l7.stats.counters().rejected.proxy_protocol + l4.stats.counters().rejected.proxy_protocol, 0, "HAProxy's checks passed Ballast's gate");
});
