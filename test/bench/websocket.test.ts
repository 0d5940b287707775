/** `ballast bench --websocket`: the report's arithmetic, its flags, and a small live run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatWebsocket, rssKiB, runWebsocketBench, websocketReport } from '../../src/bench/websocket.js';
import { websocketFlags } from '../../src/cli/commands/bench-websocket.js';

test('the report: KiB per tunnel from the RSS before and with them open, and whether Ballast counted them all', () => {
  const r = websocketReport({ tunnels: 1000, rssBeforeKiB: 60_000, rssOpenKiB: 74_000, rssAfterKiB: 65_000, inflightOpen: 1000, openSeconds: 2.5 });
  assert.equal(r.perTunnelKiB, 14);
  assert.equal(r.counted, true);
  const odd = websocketReport({ tunnels: 3, rssBeforeKiB: 100, rssOpenKiB: 150, rssAfterKiB: 100, inflightOpen: 2, openSeconds: 0.1 });
  assert.equal(odd.perTunnelKiB, 16.7);
  assert.equal(odd.counted, false);
  assert.throws(() => websocketReport({ tunnels: 0, rssBeforeKiB: 1, rssOpenKiB: 1, rssAfterKiB: 1, inflightOpen: 0, openSeconds: 0 }), /no tunnels/);
  const text = formatWebsocket(r);
  assert.match(text, /\| 1000 \| 58\.6 MiB \| 72\.3 MiB \| 63\.5 MiB \| 14\.0 KiB \|/);
  assert.match(text, /counted 1000 in flight\./);
  assert.match(formatWebsocket(odd), /counted 2 in flight \(expected 3\)/);
});

test('flags: --tunnels bounded, other benchmarks\' flags refused', () => {
  assert.deepEqual(websocketFlags({ websocket: true }), { tunnels: 1000, json: false });
  assert.deepEqual(websocketFlags({ websocket: true, tunnels: '50', json: true }), { tunnels: 50, json: true });
  assert.throws(() => websocketFlags({ websocket: true, tunnels: '0' }), /--tunnels/);
  assert.throws(() => websocketFlags({ websocket: true, tunnels: '100000' }), /--tunnels/);
  assert.throws(() => websocketFlags({ websocket: true, duration: '5' }), /--duration does not apply to --websocket/);
});

test('a small live run: Ballast in a child counts every tunnel in flight and its RSS is read', { timeout: 60_000 }, async () => {
  assert.ok(rssKiB(process.pid) > 1000);
  const r = await runWebsocketBench({ tunnels: 20 });
  assert.equal(r.tunnels, 20);
  assert.equal(r.inflightOpen, 20);
  assert.equal(r.counted, true);
  assert.ok(r.rssBeforeKiB > 10_000 && r.rssOpenKiB > 10_000 && r.rssAfterKiB > 10_000, JSON.stringify(r));
});
