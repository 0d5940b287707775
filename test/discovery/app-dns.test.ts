/**
 * A balancer whose servers come from DNS SRV records, end to end: real backends, a real DNS
 * server (dnsmasq on 127.0.0.1), the app's discovery wiring (src/app/discovery.ts). Records
 * added and removed change where requests go; a silent DNS server leaves the last view in
 * force, and /api/status and /metrics say so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { startAll } from '../../src/app/run.js';
import { silentLogger } from '../../src/util/log.js';
import { getText, namedBackend } from '../helpers/servers.js';
import { startDnsmasq, type DnsRecords } from '../helpers/dnsmasq.js';
import { cleanups, track, until } from '../helpers/lifecycle.js';

const SVC = '_http._tcp.api.test';

test('discovery.dnsSrv: requests follow the SRV records; a silent DNS server keeps the last view, and the status says so', async () => {
  const a = track(await namedBackend('a'));
  const b = track(await namedBackend('b'));
  const hosts = [
    { name: 'a.api.test', addresses: ['127.0.0.1'] },
    { name: 'b.api.test', addresses: ['127.0.0.1'] },
  ];
  const rec = (target: string, port: number) => ({ name: SVC, target, port, priority: 0, weight: 1 });
  const records = (...srv: DnsRecords['srv']): DnsRecords => ({ ttl: 1, srv, hosts });
  const dns = await startDnsmasq(records(rec('a.api.test', a.port)));
  cleanups.push(() => dns.stop());

  const config = parseConfig({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    healthCheck: { intervalMs: 200, timeoutMs: 200, rise: 1, fall: 1 },
    discovery: { dnsSrv: { name: SVC, resolver: dns.resolver, intervalMs: 1_000 } },
  });
  const running = await startAll(config, silentLogger());
  cleanups.push(() => running.stop());
  const url = running.ballast.url;
  const admin = running.admin!.url;
  const seen = async (n: number) => {
    const names = new Set<string>();
    for (let i = 0; i < n; i++) names.add((await getText(`${url}/`)).body);
    return [...names].sort();
  };

  assert.deepEqual(await seen(6), ['a'], 'the first view: a alone');
  await dns.restart(records(rec('a.api.test', a.port), rec('b.api.test', b.port)));
  assert.ok(await until(() => running.ballast.pool.ready.length === 2, 4_000), 'b joined within the TTL and its first check');
  assert.deepEqual(await seen(10), ['a', 'b']);
  await dns.restart(records(rec('b.api.test', b.port)));
  assert.ok(await until(() => running.ballast.pool.backends.length === 1, 4_000), 'a left');
  assert.deepEqual(await seen(6), ['b']);

  const version = running.discovery!.status().applied;
  await dns.stop();
  assert.ok(await until(() => !running.discovery!.status().connected, 5_000), 'the silent resolver is noticed');
  assert.deepEqual(await seen(6), ['b'], 'the last good view stays in force');
  const status = JSON.parse((await getText(`${admin}/api/status`)).body) as { discovery: { source: string; connected: boolean; applied: string } };
  assert.equal(status.discovery.source, 'dns-srv');
  assert.equal(status.discovery.connected, false);
  assert.equal(status.discovery.applied, version);
  const metrics = (await getText(`${admin}/metrics`)).body;
  assert.match(metrics, /ballast_discovery_connected\{source="dns-srv"\} 0/);
  assert.match(metrics, new RegExp(`ballast_discovery_view_info\\{source="dns-srv",version="${version}"\\} 1`));
});
