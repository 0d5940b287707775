import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildServers, lowestPriority, pickAddress, srvWeight, viewVersion, type SrvRecord } from '../../src/discovery/srv-view.js';
import { refreshDelayMs, retryDelayMs } from '../../src/discovery/dns-srv.js';
import { parseServerAddress } from '../../src/discovery/dns-client.js';

const rec = (target: string, port: number, priority: number, weight: number, ttl = 30): SrvRecord => ({ target, port, priority, weight, ttl });

test('srvWeight: SRV weight 0 becomes 1, above 1000 becomes 1000, the rest is kept', () => {
  const cases: Array<[number, number]> = [
    [0, 1],
    [1, 1],
    [7, 7],
    [1000, 1000],
    [1001, 1000],
    [65535, 1000],
  ];
  for (const [srv, ballast] of cases) assert.equal(srvWeight(srv), ballast, `SRV weight ${srv}`);
});

test('lowestPriority: only the lowest priority present counts; "." targets are dropped first', () => {
  const records = [rec('b', 2, 20, 5), rec('a', 1, 10, 5), rec('.', 1, 0, 0), rec('c', 3, 10, 0), rec('d', 4, 30, 9)];
  assert.deepEqual(
    lowestPriority(records).map((r) => r.target),
    ['a', 'c'],
  );
  assert.deepEqual(lowestPriority([rec('.', 1, 0, 0)]), []);
  assert.deepEqual(lowestPriority([]), []);
});

test('pickAddress: the lowest IPv4 whatever the order, else the lowest IPv6, else none', () => {
  assert.equal(pickAddress(['10.0.0.9', '::1', '10.0.0.2']), '10.0.0.2');
  assert.equal(pickAddress(['10.0.0.2', '10.0.0.9']), pickAddress(['10.0.0.9', '10.0.0.2']));
  assert.equal(pickAddress(['fd00::2', 'fd00::1']), 'fd00::1');
  assert.equal(pickAddress([]), null);
});

test('buildServers: names are target:port, weights clamped, sorted by name; a target without address, an invalid record and a duplicate host:port are skipped with a reason', () => {
  const addressOf = new Map([
    ['b.api.test', '127.0.0.2'],
    ['a.api.test', '127.0.0.1'],
    ['alias.api.test', '127.0.0.1'],
    ['zero.api.test', '127.0.0.3'],
  ]);
  const { servers, skipped } = buildServers(
    [rec('b.api.test', 8002, 0, 70000), rec('a.api.test', 8001, 0, 0), rec('alias.api.test', 8001, 0, 5), rec('gone.api.test', 8003, 0, 5), rec('zero.api.test', 0, 0, 5)],
    addressOf,
  );
  assert.deepEqual(servers, [
    { host: '127.0.0.1', port: 8001, weight: 1, name: 'a.api.test:8001' },
    { host: '127.0.0.2', port: 8002, weight: 1000, name: 'b.api.test:8002' },
  ]);
  assert.equal(skipped.length, 3);
  assert.match(skipped.join('\n'), /alias\.api\.test:8001: 127\.0\.0\.1:8001 is already in the view/);
  assert.match(skipped.join('\n'), /gone\.api\.test:8003: the target has no A or AAAA record/);
  assert.match(skipped.join('\n'), /zero\.api\.test:0: port/);
});

test('viewVersion: equal for the same servers in any order, different when a weight, port or host changes', () => {
  const a = { host: '127.0.0.1', port: 8001, weight: 1, name: 'a.api.test:8001' };
  const b = { host: '127.0.0.2', port: 8002, weight: 5, name: 'b.api.test:8002' };
  assert.equal(viewVersion([a, b]), viewVersion([b, a]));
  assert.match(viewVersion([a, b]), /^[0-9a-f]{16}$/);
  const others = [
    [a, { ...b, weight: 6 }],
    [a, { ...b, port: 8003 }],
    [a, { ...b, host: '127.0.0.3' }],
    [a],
  ];
  for (const o of others) assert.notEqual(viewVersion(o), viewVersion([a, b]), JSON.stringify(o));
});

test('refreshDelayMs: the TTL capped by intervalMs, never under 1 s', () => {
  const cases: Array<[ttlSeconds: number, intervalMs: number, delay: number]> = [
    [5, 30_000, 5_000],
    [300, 30_000, 30_000],
    [0, 30_000, 1_000],
    [1, 1_000, 1_000],
    [3600, 1_000, 1_000],
  ];
  for (const [ttl, interval, delay] of cases) assert.equal(refreshDelayMs(ttl, interval), delay, `ttl ${ttl}, interval ${interval}`);
});

test('retryDelayMs: 1 s, 2 s, 4 s... up to intervalMs', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 100].map((n) => retryDelayMs(n, 30_000)),
    [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000],
  );
  assert.deepEqual(
    [1, 2, 3].map((n) => retryDelayMs(n, 1_000)),
    [1_000, 1_000, 1_000],
  );
});

test('parseServerAddress: what dns.getServers() and discovery.dnsSrv.resolver hold', () => {
  const cases: Array<[string, { host: string; port: number }]> = [
    ['10.0.0.1', { host: '10.0.0.1', port: 53 }],
    ['127.0.0.1:5353', { host: '127.0.0.1', port: 5353 }],
    ['dns.internal:53', { host: 'dns.internal', port: 53 }],
    ['::1', { host: '::1', port: 53 }],
    ['fd00::53', { host: 'fd00::53', port: 53 }],
    ['[::1]:5353', { host: '::1', port: 5353 }],
  ];
  for (const [text, address] of cases) assert.deepEqual(parseServerAddress(text), address, text);
  assert.throws(() => parseServerAddress('127.0.0.1:0'), /not a DNS server address/);
  assert.throws(() => parseServerAddress(':53'), /not a DNS server address/);
});
