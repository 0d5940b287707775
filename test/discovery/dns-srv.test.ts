/**
 * DNS SRV discovery against a real DNS server (dnsmasq on 127.0.0.1, test/helpers/dnsmasq.ts):
 * records become servers, TTLs pace the reads, and a resolver that refuses, falls silent or
 * answers NXDOMAIN leaves the last view in force.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import dns from 'node:dns';
import type { AddressInfo } from 'node:net';
import { DnsSrvDiscovery } from '../../src/discovery/dns-srv.js';
import type { DiscoveredView } from '../../src/discovery/types.js';
import { discoverySchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/util/log.js';
import { startDnsmasq, type DnsRecords, type Dnsmasq } from '../helpers/dnsmasq.js';
import { cleanups, sleep, until } from '../helpers/lifecycle.js';

const SVC = '_http._tcp.api.test';

/** Three targets at priority 10 (weights 0, 5000, 30) and a backup at priority 20. */
function fleet(ttl: number, cWeight = 30): DnsRecords {
  return {
    ttl,
    srv: [
      { name: SVC, target: 'a.api.test', port: 8001, priority: 10, weight: 0 },
      { name: SVC, target: 'b.api.test', port: 8002, priority: 10, weight: 5000 },
      { name: SVC, target: 'c.api.test', port: 8003, priority: 10, weight: cWeight },
      { name: SVC, target: 'backup.api.test', port: 8009, priority: 20, weight: 100 },
    ],
    hosts: [
      { name: 'a.api.test', addresses: ['127.0.0.11'] },
      { name: 'b.api.test', addresses: ['127.0.0.12'] },
      { name: 'c.api.test', addresses: ['127.0.0.13'] },
      { name: 'backup.api.test', addresses: ['127.0.0.19'] },
    ],
  };
}

async function dnsmasq(records: DnsRecords): Promise<Dnsmasq> {
  const d = await startDnsmasq(records);
  cleanups.push(() => d.stop());
  return d;
}

/** A started source and every view it emitted, with when it came. */
function watch(dnsSrv: { name?: string; resolver?: string; intervalMs?: number }, firstViewMs = 3_000) {
  const settings = discoverySchema.parse({ dnsSrv: { name: SVC, ...dnsSrv } }).dnsSrv!;
  const source = new DnsSrvDiscovery(settings, silentLogger());
  cleanups.push(() => source.stop());
  const views: Array<{ at: number; view: DiscoveredView }> = [];
  const started = source.start((view) => views.push({ at: Date.now(), view }), firstViewMs);
  return { source, views, started };
}

const srvReads = (d: Dnsmasq, since = 0) => d.queries.filter((q) => q.type === 'SRV' && q.name === SVC && q.at >= since);

test('servers come from the lowest-priority SRV records: host from the target, name target:port, weight 0 -> 1 and 5000 -> 1000; stop() ends the reads', async () => {
  const d = await dnsmasq(fleet(0));
  const { source, views, started } = watch({ resolver: d.resolver, intervalMs: 1_000 });
  await started;
  assert.equal(views.length, 1);
  assert.deepEqual(views[0]!.view.servers, [
    { host: '127.0.0.11', port: 8001, weight: 1, name: 'a.api.test:8001' },
    { host: '127.0.0.12', port: 8002, weight: 1000, name: 'b.api.test:8002' },
    { host: '127.0.0.13', port: 8003, weight: 30, name: 'c.api.test:8003' },
  ]);
  assert.equal(views[0]!.view.strategy, undefined);
  const status = source.status();
  assert.deepEqual({ ...status, updatedAt: typeof status.updatedAt }, {
    source: 'dns-srv',
    connected: true,
    version: views[0]!.view.version,
    servers: 3,
    updatedAt: 'number',
    lastError: null,
  });
  // dnsmasq put the addresses in the additional section: no A queries were needed.
  assert.equal(d.queries.filter((q) => q.type === 'A').length, 0);

  await source.stop();
  const reads = srvReads(d).length;
  await sleep(1_300);
  assert.equal(srvReads(d).length, reads, 'no read after stop()');
});

test('targets missing from the additional section are looked up with A, then AAAA, at the configured resolver', async () => {
  const d = await dnsmasq({
    ttl: 30,
    srv: [
      // An alias target: dnsmasq adds no additional record for it, so an A query follows (CNAME then A).
      { name: SVC, target: 'web.api.test', port: 8001, priority: 0, weight: 10 },
      { name: SVC, target: 'six.api.test', port: 8002, priority: 0, weight: 10 },
      { name: SVC, target: 'nowhere.api.test', port: 8003, priority: 0, weight: 10 },
    ],
    cnames: [
      { alias: 'web.api.test', target: 'real.api.test' },
      { alias: 'six.api.test', target: 'real6.api.test' },
    ],
    hosts: [
      { name: 'real.api.test', addresses: ['127.0.0.21'] },
      { name: 'real6.api.test', addresses: ['::1'] },
    ],
  });
  const { source, views, started } = watch({ resolver: d.resolver });
  await started;
  assert.deepEqual(views[0]!.view.servers, [
    { host: '::1', port: 8002, weight: 10, name: 'six.api.test:8002' },
    { host: '127.0.0.21', port: 8001, weight: 10, name: 'web.api.test:8001' },
  ]);
  const asked = d.queries.filter((q) => q.type !== 'SRV').map((q) => `${q.type} ${q.name}`).sort();
  assert.deepEqual(asked, ['A nowhere.api.test', 'A six.api.test', 'A web.api.test', 'AAAA nowhere.api.test', 'AAAA six.api.test']);
  // The target without any address is left out, and the status says so.
  assert.match(source.status().lastError ?? '', /nowhere\.api\.test:8003: the target has no A or AAAA record/);
});

test('a record set too large for one UDP answer is read again over TCP', async () => {
  const many: DnsRecords = { ttl: 30, srv: [], hosts: [] };
  for (let i = 1; i <= 60; i++) {
    many.srv.push({ name: SVC, target: `t${i}.api.test`, port: 9000 + i, priority: 0, weight: i });
    many.hosts!.push({ name: `t${i}.api.test`, addresses: [`127.0.1.${i}`] });
  }
  const d = await dnsmasq(many);
  const { views, started } = watch({ resolver: d.resolver });
  await started;
  const servers = views[0]!.view.servers;
  assert.equal(servers.length, 60);
  assert.deepEqual(servers.find((s) => s.name === 't42.api.test:9042'), { host: '127.0.1.42', port: 9042, weight: 42, name: 't42.api.test:9042' });
  // 60 servers: over UDP only 37 records fit (truncated), so they came over TCP. dnsmasq logs
  // both questions, the TCP one from a forked child, a little later.
  assert.ok(await until(() => srvReads(d).length === 2, 1_000), 'the UDP and the TCP question');
});

test('a 1 s TTL: an unchanged set is re-read but not emitted again; a change arrives within 2.5 s', async (t) => {
  const d = await dnsmasq(fleet(1));
  const { views, started } = watch({ resolver: d.resolver, intervalMs: 60_000 });
  await started;
  assert.ok(await until(() => srvReads(d).length >= 2, 3_000), 'a second read about 1 s after the first');
  await sleep(100);
  assert.equal(views.length, 1, 'the same records are not emitted twice');

  await d.restart(fleet(1, 60));
  const changedAt = Date.now();
  assert.ok(await until(() => views.length === 2, 2_500), 'the change arrived within 2.5 s');
  const tookMs = views[1]!.at - changedAt;
  t.diagnostic(`change seen ${tookMs} ms after the records changed (TTL 1 s)`);
  assert.equal(views[1]!.view.servers.find((s) => s.name === 'c.api.test:8003')!.weight, 60);
  assert.notEqual(views[1]!.view.version, views[0]!.view.version);
});

test('a 2 s TTL with a 60 s interval: no read before the TTL runs out, the change after it', async (t) => {
  const d = await dnsmasq(fleet(2));
  const { views, started } = watch({ resolver: d.resolver, intervalMs: 60_000 });
  await started;
  const firstRead = srvReads(d)[0]!.at;
  await d.restart(fleet(2, 60));
  await sleep(Math.max(0, firstRead + 1_600 - Date.now()));
  assert.equal(srvReads(d).length, 1, 'no second read within 1.6 s of the first');
  assert.equal(views.length, 1);

  assert.ok(await until(() => views.length === 2, 2_500), 'the change arrived after the TTL');
  const gap = srvReads(d)[1]!.at - firstRead;
  t.diagnostic(`second read ${gap} ms after the first (TTL 2 s)`);
  assert.ok(gap >= 1_900 && gap <= 2_600, `second read ${gap} ms after the first`);
});

test('a stopped resolver: connected false, the view kept; started again, it recovers by itself', async () => {
  const d = await dnsmasq(fleet(300));
  // intervalMs caps both the 300 s TTL and the retry back-off at 1 s.
  const { source, views, started } = watch({ resolver: d.resolver, intervalMs: 1_000 });
  await started;
  const first = views[0]!.view;

  await d.stop();
  assert.ok(await until(() => !source.status().connected, 2_500), 'connected turns false');
  const down = source.status();
  assert.equal(down.version, first.version);
  assert.equal(down.servers, 3);
  assert.match(down.lastError ?? '', /ECONNREFUSED|no answer/);
  assert.match(down.lastError ?? '', /keeping the last view/);
  assert.equal(views.length, 1);

  await d.restart(fleet(300, 60));
  assert.ok(await until(() => views.length === 2, 3_000), 'the new records arrive once the resolver is back');
  const up = source.status();
  assert.equal(up.connected, true);
  assert.equal(up.lastError, null);
  assert.equal(up.version, views[1]!.view.version);
});

test('a resolver that never answers: start() rejects after firstViewMs, saying no answer came within 2 s', async () => {
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => silent.close(() => r())));
  let received = 0;
  silent.on('message', () => received++);
  const port = (silent.address() as AddressInfo).port;

  const { source, views, started } = watch({ resolver: `127.0.0.1:${port}` }, 2_500);
  await assert.rejects(started, /no servers from SRV _http\._tcp\.api\.test at 127\.0\.0\.1:\d+ within 2500 ms: no answer from 127\.0\.0\.1:\d+ over UDP within 2000 ms/);
  assert.equal(received, 1, 'one query, timed out after 2 s (the retry comes 1 s later)');
  assert.deepEqual(views, []);
  const status = source.status();
  assert.equal(status.connected, false);
  assert.equal(status.version, null);
  assert.equal(status.servers, 0);
});

test('NXDOMAIN, and a set of only "." targets, keep the last view: lastError says why, connected stays true', async () => {
  const d = await dnsmasq(fleet(0));
  const { source, views, started } = watch({ resolver: d.resolver, intervalMs: 1_000 });
  await started;
  const version = views[0]!.view.version;

  await d.restart({ ttl: 0, srv: [{ name: '_other._tcp.api.test', target: 'a.api.test', port: 1, priority: 0, weight: 1 }] });
  assert.ok(await until(() => /NXDOMAIN/.test(source.status().lastError ?? ''), 3_000), 'NXDOMAIN reported');
  assert.equal(source.status().connected, true);
  assert.equal(source.status().version, version);
  assert.equal(source.status().servers, 3);

  await d.restart({ ttl: 0, srv: [{ name: SVC }] });
  assert.ok(await until(() => /every target is "\."/.test(source.status().lastError ?? ''), 4_000), '"." targets reported');
  assert.equal(source.status().connected, true);
  assert.equal(source.status().version, version);
  assert.equal(views.length, 1, 'no empty view was emitted');
});

test('without a resolver the system\'s first one is asked; two instances reading the same records report the same version', async () => {
  const d = await dnsmasq(fleet(30));
  const saved = dns.getServers();
  dns.setServers([d.resolver]);
  cleanups.push(() => dns.setServers(saved));
  const system = watch({});
  const explicit = watch({ resolver: d.resolver });
  dns.setServers(saved);
  await Promise.all([system.started, explicit.started]);
  assert.deepEqual(system.views[0]!.view, explicit.views[0]!.view);
  assert.equal(srvReads(d).length, 2);
});
