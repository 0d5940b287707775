import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EtcdDiscovery } from '../../src/discovery/etcd.js';
import { etcdClient } from '../../src/discovery/etcd-client.js';
import { readFleet, type FleetReport } from '../../src/discovery/etcd-fleet.js';
import { viewDigest } from '../../src/discovery/etcd-keys.js';
import type { DiscoveredView } from '../../src/discovery/types.js';
import { silentLogger } from '../../src/util/log.js';
import { startEtcd } from '../helpers/etcd.js';
import { cleanups, sleep, until } from '../helpers/lifecycle.js';

const bin = fileURLToPath(new URL('../../../bin/ballast', import.meta.url));
const etcd = await startEtcd();
const client = etcdClient([etcd.endpoint]);
cleanups.push(() => client.close());

/** Runs the CLI without blocking this process (its sources must keep their leases alive meanwhile). */
function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 15_000 }, (error, out, err) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, out, err });
    });
  });
}

const server = (port: number) => JSON.stringify({ host: '127.0.0.1', port });

async function instance(prefix: string, id: string, listenPort: number) {
  const views: DiscoveredView[] = [];
  const src = new EtcdDiscovery({ endpoints: [etcd.endpoint], prefix, instanceId: id }, silentLogger(), {
    listen: `127.0.0.1:${listenPort}`,
    admin: null,
  });
  cleanups.push(() => src.stop());
  await src.start((v) => views.push(v), 5_000);
  return { src, views };
}

/** Reads the fleet until `ok` holds (instances write their keys just after applying a view). */
async function fleetWhen(prefix: string, ok: (r: FleetReport) => boolean): Promise<FleetReport> {
  let report = await readFleet(client, prefix);
  for (const end = Date.now() + 3_000; !ok(report) && Date.now() < end; ) {
    await sleep(20);
    report = await readFleet(client, prefix);
  }
  return report;
}

const states = (r: FleetReport) => Object.fromEntries(r.instances.map((i) => [i.id, i.state]));

test('readFleet: the stored servers and strategy, and each instance current or behind by the view it runs, not by its revision', { timeout: 20_000 }, async () => {
  const p = '/fleet/a';
  await client.put(`${p}/servers/127.0.0.1:9001`).value(server(9001));
  await client.put(`${p}/servers/127.0.0.1:9002`).value(server(9002));
  await client.put(`${p}/servers/bad`).value('{');
  await client.put(`${p}/strategy`).value('{"name":"beta1","options":{"windowMs":500}}');
  const a = await instance(p, 'lb-a', 18081);
  const oldView = a.views[0]!;
  // Another instance stuck on the old view (written as an instance would), and one without a view yet.
  const old = { id: 'lb-old', listen: '10.0.0.9:8080', admin: null, version: oldView.version, digest: viewDigest(oldView), since: 1_700_000_000_000 };
  await client.put(`${p}/instances/lb-old`).value(JSON.stringify(old));
  await client.put(`${p}/instances/lb-new`).value(JSON.stringify({ id: 'lb-new', listen: '10.0.0.10:8080', admin: '10.0.0.10:8090', version: null, digest: null, since: 1_700_000_000_000 }));
  await client.put(`${p}/instances/lb-bad`).value('not json');

  // A change: lb-a follows, lb-old does not.
  await client.put(`${p}/servers/127.0.0.1:9003`).value(server(9003));
  const b = await instance(p, 'lb-b', 18082);
  assert.ok(await until(() => a.views.length === 2, 2_000));
  const report = await fleetWhen(p, (r) => states(r)['lb-a'] === 'current' && states(r)['lb-b'] === 'current');

  assert.equal(report.prefix, p);
  assert.match(report.revision, /^\d+$/);
  assert.deepEqual(report.servers.map((s) => s.port), [9001, 9002, 9003]);
  assert.deepEqual(report.strategy, { name: 'beta1', options: { windowMs: 500 } });
  assert.equal(report.problems.length, 1);
  assert.match(report.problems[0]!, /^\/fleet\/a\/servers\/bad: /);
  assert.equal(report.refused, null);
  assert.deepEqual(states(report), { 'lb-a': 'current', 'lb-b': 'current', 'lb-bad': 'unknown', 'lb-new': 'behind', 'lb-old': 'behind' });
  const byId = Object.fromEntries(report.instances.map((i) => [i.id, i]));
  // Current instances whose versions differ from each other and from the revision read: the
  // reason the comparison is by view.
  assert.notEqual(byId['lb-a']!.version, report.revision);
  assert.equal(byId['lb-a']!.version, a.src.status().version);
  assert.equal(byId['lb-b']!.version, b.src.status().version);
  assert.equal(byId['lb-a']!.listen, '127.0.0.1:18081');
  assert.equal(byId['lb-a']!.admin, null);
  assert.equal(byId['lb-old']!.note, `runs the view of revision ${oldView.version}`);
  assert.equal(byId['lb-new']!.note, 'no view yet');
  assert.match(byId['lb-bad']!.note!, /^unreadable record: /);

  // A rewrite of the same value moves the revision: the instances re-read, and stay current.
  await client.put(`${p}/servers/127.0.0.1:9001`).value(server(9001));
  const after = await fleetWhen(p, (r) => r.instances.find((i) => i.id === 'lb-a')!.version === a.src.status().version);
  assert.equal(states(after)['lb-a'], 'current');
  assert.equal(states(after)['lb-b'], 'current');
  assert.equal(a.views.length, 2, 'no new view for the rewrite');

  // Keys that instances refuse: every running instance is behind what is stored, and the report says why.
  await client.delete().prefix(`${p}/servers/`);
  const empty = await readFleet(client, p);
  assert.equal(empty.refused, `no servers under ${p}/servers: instances keep their last view`);
  assert.equal(states(empty)['lb-a'], 'behind');
});


test('ballast fleet prints the revision, servers, strategy and instances, "behind" marked; --json prints the report', { timeout: 20_000 }, async () => {
  const p = '/fleet/cli';
  await client.put(`${p}/servers/127.0.0.1:9001`).value(JSON.stringify({ host: '127.0.0.1', port: 9001, weight: 2, name: 'one' }));
  await client.put(`${p}/strategy`).value('{"name":"least_conn"}');
  const a = await instance(p, 'lb-a', 18083);
  await client.put(`${p}/instances/lb-old`).value(JSON.stringify({ id: 'lb-old', listen: '10.0.0.9:8080', admin: null, version: '1', digest: 'ffffffffffffffff', since: 1_700_000_000_000 }));
  await fleetWhen(p, (r) => states(r)['lb-a'] === 'current');

  const text = await cli('fleet', '--etcd', etcd.endpoint, '--prefix', p);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, new RegExp(`^etcd ${etcd.endpoint}  prefix ${p}  revision \\d+$`, 'm'));
  assert.match(text.out, /^servers \(1\):\n  127\.0\.0\.1:9001  weight 2  name one$/m);
  assert.match(text.out, /^strategy: least_conn$/m);
  assert.match(text.out, /^  ID +LISTEN +ADMIN +VERSION +SINCE +STATE$/m);
  assert.match(text.out, new RegExp(`^  lb-a +127\\.0\\.0\\.1:18083 +- +${a.src.status().version} +\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z +current$`, 'm'));
  assert.match(text.out, /^  lb-old +10\.0\.0\.9:8080 +- +1 +2023-11-14T22:13:20\.000Z +behind \(runs the view of revision 1\)$/m);
  assert.match(text.out, /^1 of 2 behind$/m);

  const json = await cli('fleet', '--etcd', `${etcd.endpoint},${etcd.endpoint}`, '--prefix', p, '--json');
  assert.equal(json.code, 0, json.err);
  const report = JSON.parse(json.out) as FleetReport;
  const direct = await readFleet(client, p);
  assert.equal(report.revision, direct.revision);
  assert.deepEqual(report, direct);
});

test('ballast fleet: bad usage exits 2 naming the flag; an unreachable etcd exits 1; listed in ballast --help', { timeout: 20_000 }, async () => {
  for (const [args, message] of [
    [['fleet', '--prefix', '/x'], /--etcd URL\[,URL\] is required/],
    [['fleet', '--etcd', etcd.endpoint], /--prefix PREFIX is required/],
    [['fleet', '--etcd', etcd.endpoint, '--prefix', 'x/'], /--prefix: a key prefix such as \/ballast\/prod/],
    [['fleet', '--etcd', 'ftp://127.0.0.1:1', '--prefix', '/x'], /--etcd: /],
    [['fleet', '--etcd', etcd.endpoint, '--prefix', '/x', '--bogus'], /bogus/],
  ] as const) {
    const r = await cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
  const t0 = Date.now();
  const down = await cli('fleet', '--etcd', 'http://127.0.0.1:9', '--prefix', '/x');
  assert.equal(down.code, 1);
  assert.match(down.err, /^ballast fleet: etcd http:\/\/127\.0\.0\.1:9: .*ECONNREFUSED/);
  assert.ok(Date.now() - t0 < 8_000, 'fails within the call deadline');

  const top = await cli('--help');
  assert.match(top.out, /^  fleet\b/m);
  const help = await cli('fleet', '--help');
  assert.equal(help.code, 0);
  assert.match(help.out, /^Usage: ballast fleet --etcd URL\[,URL\] --prefix PREFIX \[--json\]/);
});
