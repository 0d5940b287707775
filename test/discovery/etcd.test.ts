import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { pino } from 'pino';
import type { Etcd3 } from 'etcd3';
import { EtcdDiscovery } from '../../src/discovery/etcd.js';
import { etcdClient } from '../../src/discovery/etcd-client.js';
import { viewDigest } from '../../src/discovery/etcd-keys.js';
import type { DiscoveredView } from '../../src/discovery/types.js';
import { silentLogger, type Logger } from '../../src/util/log.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { cleanups, sleep, until } from '../helpers/lifecycle.js';

const etcd = await startEtcd();
const client = etcdClient([etcd.endpoint]);
cleanups.push(() => client.close());

const server = (port: number, extra: Record<string, unknown> = {}) => JSON.stringify({ host: '127.0.0.1', port, ...extra });

/** A started-later source on `endpoint` whose views are collected, stopped after the file's tests. */
function source(prefix: string, opts: { endpoint?: string; instanceId?: string; log?: Logger } = {}) {
  const views: DiscoveredView[] = [];
  const src = new EtcdDiscovery(
    { endpoints: [opts.endpoint ?? etcd.endpoint], prefix, instanceId: opts.instanceId },
    opts.log ?? silentLogger(),
    { listen: '127.0.0.1:18080', admin: '127.0.0.1:18090' },
  );
  cleanups.push(() => src.stop());
  return { src, views, start: (firstViewMs = 5_000) => src.start((v) => views.push(v), firstViewMs) };
}

async function revision(c: Etcd3 = client): Promise<string> {
  return (await c.getAll().prefix('/').limit(1).exec()).header.revision;
}

/** Polls an etcd read every 20 ms for at most `ms`, until `ok` holds; the last value read. */
async function readUntil<T>(read: () => Promise<T>, ok: (value: T) => boolean, ms = 3_000): Promise<T> {
  const end = Date.now() + ms;
  let value = await read();
  while (!ok(value) && Date.now() < end) {
    await sleep(20);
    value = await read();
  }
  return value;
}

/** The JSON of an instance key, or null when there is none. */
async function instanceRecord(c: Etcd3, prefix: string, id: string): Promise<Record<string, unknown> | null> {
  const text = await c.get(`${prefix}/instances/${id}`).string();
  return text === null ? null : (JSON.parse(text) as Record<string, unknown>);
}

function capturedLog() {
  const lines: Array<{ level: number; msg: string }> = [];
  return { lines, log: pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) }) };
}

test('the first view holds the servers (validated, defaults filled) and the strategy, at the revision of its read', { timeout: 15_000 }, async () => {
  const p = '/t/first';
  await client.put(`${p}/servers/127.0.0.1:9001`).value(server(9001, { weight: 3, name: 'a' }));
  await client.put(`${p}/servers/127.0.0.1:9002`).value(server(9002));
  await client.put(`${p}/strategy`).value(JSON.stringify({ name: 'beta1', options: { windowMs: 500 } }));
  const rev = await revision();
  const { src, views, start } = source(p);
  await start();

  assert.equal(views.length, 1);
  assert.deepEqual(views[0], {
    servers: [
      { host: '127.0.0.1', port: 9001, weight: 3, name: 'a' },
      { host: '127.0.0.1', port: 9002, weight: 1 },
    ],
    strategy: { name: 'beta1', options: { windowMs: 500 } },
    version: rev,
  });
  const st = src.status();
  assert.equal(st.source, 'etcd');
  assert.equal(st.version, rev);
  assert.equal(st.servers, 2);
  assert.equal(st.lastError, null);
  assert.ok(st.updatedAt !== null && Date.now() - st.updatedAt < 5_000);
  assert.ok(await until(() => src.status().connected, 3_000), 'connected once the watch is attached');
});

test('a put and a delete reach the source within 1 s; a rewrite of the same value emits no view but advances the version', { timeout: 15_000 }, async (t) => {
  const p = '/t/propagate';
  await client.put(`${p}/servers/127.0.0.1:9001`).value(server(9001));
  const { src, views, start } = source(p);
  await start();
  assert.ok(await until(() => src.status().connected, 3_000));

  const measured: number[] = [];
  async function change(write: () => Promise<unknown>, expectServers: number[]) {
    const before = views.length;
    const t0 = performance.now();
    await write();
    assert.ok(await until(() => views.length > before, 2_000), 'a new view');
    const ms = performance.now() - t0;
    measured.push(ms);
    assert.ok(ms < 1_000, `arrived in ${ms.toFixed(0)} ms`);
    assert.deepEqual(views.at(-1)!.servers.map((s) => s.port), expectServers);
    assert.equal(views.length, before + 1, 'one view per change');
  }
  await change(async () => await client.put(`${p}/servers/127.0.0.1:9002`).value(server(9002)), [9001, 9002]);
  await change(async () => await client.delete().key(`${p}/servers/127.0.0.1:9001`), [9002]);
  await change(async () => await client.put(`${p}/strategy`).value('{"name":"least_conn"}'), [9002]);
  assert.deepEqual(views.at(-1)!.strategy, { name: 'least_conn' });
  await change(async () => await client.delete().key(`${p}/strategy`), [9002]);
  assert.equal(views.at(-1)!.strategy, undefined, 'the strategy key deleted: none in the view');
  t.diagnostic(`propagation (put, delete, strategy put, strategy delete): ${measured.map((m) => m.toFixed(1)).join(', ')} ms`);

  const count = views.length;
  const version = src.status().version;
  const put = await client.put(`${p}/servers/127.0.0.1:9002`).value(server(9002));
  assert.ok(await until(() => src.status().version === put.header.revision, 2_000), 'the status version follows the read');
  assert.notEqual(src.status().version, version);
  assert.equal(views.length, count, 'same servers and strategy: no view');
});

test('invalid server entries are skipped with a warning naming the key; the rest applies', { timeout: 15_000 }, async () => {
  const p = '/t/invalid';
  await client.put(`${p}/servers/127.0.0.1:9001`).value(server(9001));
  await client.put(`${p}/servers/127.0.0.1:9002`).value('{not json');
  await client.put(`${p}/servers/127.0.0.1:9003`).value(server(9003, { wieght: 2 }));
  await client.put(`${p}/servers/127.0.0.1:9004`).value(server(9005));
  await client.put(`${p}/servers/127.0.0.1:9006`).value(server(9006, { weight: -1 }));
  const { lines, log } = capturedLog();
  const { src, views, start } = source(p, { log });
  await start();

  assert.deepEqual(views[0]!.servers.map((s) => s.port), [9001]);
  const err = src.status().lastError ?? '';
  for (const [port, why] of [[9002, /not JSON/], [9003, /wieght/], [9004, /HOST:PORT/], [9006, /weight/]] as const) {
    assert.match(err, new RegExp(`${p}/servers/127\\.0\\.0\\.1:${port}: `), `lastError names ${port}`);
    assert.ok(lines.some((l) => l.msg.includes(`${p}/servers/127.0.0.1:${port}: `) && why.test(l.msg)), `a warning names ${port} and says why`);
  }

  // Fixing the entries clears the error and adds them.
  await client.put(`${p}/servers/127.0.0.1:9002`).value(server(9002));
  await client.delete().key(`${p}/servers/127.0.0.1:9003`);
  await client.delete().key(`${p}/servers/127.0.0.1:9004`);
  await client.delete().key(`${p}/servers/127.0.0.1:9006`);
  assert.ok(await until(() => src.status().lastError === null, 2_000), String(src.status().lastError));
  assert.deepEqual(views.at(-1)!.servers.map((s) => s.port), [9001, 9002]);
});

test('a strategy that is not a JSON object is refused: the last view stays, lastError names the key', { timeout: 15_000 }, async () => {
  const p = '/t/strategy';
  await client.put(`${p}/servers/127.0.0.1:9001`).value(server(9001));
  await client.put(`${p}/strategy`).value('{"name":"beta1"}');
  const { src, views, start } = source(p);
  await start();
  assert.equal(views.length, 1);

  for (const bad of ['"beta1"', '["beta1"]', '{"name":"beta1","options":[1]}', '{"nmae":"beta1"}']) {
    const put = await client.put(`${p}/strategy`).value(bad);
    // The refused read does not move the version; wait for its error instead.
    assert.ok(await until(() => (src.status().lastError ?? '').startsWith(`${p}/strategy: `), 2_000), bad);
    await client.put(`${p}/servers/127.0.0.1:9002`).value(server(9002));
    await sleep(200);
    assert.equal(views.length, 1, `${bad}: no view, not even for the new server`);
    assert.match(src.status().lastError!, /keeping the last view/);
    assert.notEqual(src.status().version, put.header.revision);
    await client.delete().key(`${p}/servers/127.0.0.1:9002`);
  }
  await client.put(`${p}/strategy`).value('{"name":"p2c","options":{}}');
  assert.ok(await until(() => views.length === 2, 2_000));
  assert.deepEqual(views[1]!.strategy, { name: 'p2c', options: {} });
  assert.equal(src.status().lastError, null);
});

test('an empty server list is never a view: the last one stays; an empty prefix at start rejects after firstViewMs, then recovers', { timeout: 15_000 }, async () => {
  const p = '/t/empty';
  await client.put(`${p}/servers/127.0.0.1:9001`).value(server(9001));
  await client.put(`${p}/servers/127.0.0.1:9002`).value(server(9002));
  const { src, views, start } = source(p);
  await start();

  const del = await client.delete().prefix(`${p}/servers/`);
  assert.ok(await until(() => src.status().lastError !== null, 2_000));
  assert.equal(src.status().lastError, `no servers under ${p}/servers: keeping the last view`);
  await sleep(200);
  assert.equal(views.length, 1, 'no view');
  assert.equal(src.status().servers, 2, 'the last view stays in force');
  assert.notEqual(src.status().version, del.header.revision, 'nor its version');

  const q = '/t/empty-at-start';
  const late = source(q);
  const t0 = performance.now();
  await assert.rejects(late.start(300), /no view under \/t\/empty-at-start within 300 ms \(no servers under \/t\/empty-at-start\/servers/);
  const waited = performance.now() - t0;
  assert.ok(waited >= 290 && waited < 1_500, `rejected after ${waited.toFixed(0)} ms`);
  assert.equal(late.src.status().version, null);
  await client.put(`${q}/servers/127.0.0.1:9001`).value(server(9001));
  assert.ok(await until(() => late.views.length === 1, 2_000), 'the first view still arrives');
  assert.equal(late.src.status().servers, 1);
});

test('each instance registers under PREFIX/instances with the version it applied; stop() removes the key at once', { timeout: 15_000 }, async () => {
  const p = '/t/instances';
  await client.put(`${p}/servers/127.0.0.1:9001`).value(server(9001));
  const named = source(p, { instanceId: 'lb-a' });
  const unnamed = source(p);
  const t0 = Date.now();
  await Promise.all([named.start(), unnamed.start()]);

  const record = (id: string) => instanceRecord(client, p, id);
  const defaultId = `${os.hostname()}:18080:${process.pid}`;
  assert.equal(unnamed.src.instanceId, defaultId);
  const a = await readUntil(() => record('lb-a'), (r) => r?.version === named.src.status().version);
  assert.ok(a !== null, 'lb-a written');
  assert.equal(a.version, named.src.status().version, 'with the version it applied');
  assert.deepEqual(Object.keys(a).sort(), ['admin', 'digest', 'id', 'listen', 'since', 'version']);
  assert.equal(a.id, 'lb-a');
  assert.equal(a.listen, '127.0.0.1:18080');
  assert.equal(a.admin, '127.0.0.1:18090');
  assert.equal(a.digest, viewDigest(named.views[0]!), 'the digest of the view it runs');
  assert.ok(typeof a.since === 'number' && a.since >= t0 - 1 && a.since <= Date.now());
  assert.ok((await record(defaultId)) !== null, 'the default id is hostname:port:pid');
  const lease = (await client.get(`${p}/instances/lb-a`).exec()).kvs[0]!.lease;
  assert.notEqual(lease, '0', 'written under a lease');

  // A change: the key follows the applied version.
  await client.put(`${p}/servers/127.0.0.1:9002`).value(server(9002));
  assert.ok(await until(() => named.views.length === 2, 2_000));
  const applied = named.views[1]!.version;
  const changed = await readUntil(() => record('lb-a'), (r) => r?.version === applied);
  assert.equal(changed?.version, applied, 'version updated in the key');
  assert.equal(changed.digest, viewDigest(named.views[1]!));
  assert.notEqual(changed.digest, a.digest);

  await named.src.stop();
  assert.equal(await record('lb-a'), null, 'gone right after stop()');
  assert.ok((await record(defaultId)) !== null, 'the other instance stays');
  await unnamed.src.stop();
  assert.equal(await record(defaultId), null);
});

test('losing etcd: disconnected, the last view kept, none emitted; etcd back: connected, and a later change arrives', { timeout: 30_000 }, async (t) => {
  const own: TestEtcd = await startEtcd();
  const c = etcdClient([own.endpoint]);
  cleanups.push(() => c.close());
  const p = '/t/loss';
  await c.put(`${p}/servers/127.0.0.1:9001`).value(server(9001));
  const { lines, log } = capturedLog();
  const { src, views, start } = source(p, { endpoint: own.endpoint, instanceId: 'survivor', log });
  await start();
  assert.ok(await until(() => src.status().connected, 3_000));
  const version = src.status().version;

  await own.kill();
  const t0 = performance.now();
  assert.ok(await until(() => !src.status().connected, 3_000), 'disconnected');
  t.diagnostic(`noticed the loss in ${(performance.now() - t0).toFixed(0)} ms`);
  const down = src.status();
  assert.match(down.lastError ?? '', /^etcd unreachable: /);
  // Not rolled back. It may have moved on before the kill without a new view: the watch's
  // first event after the initial read can carry a later revision of the same keys.
  assert.ok(BigInt(down.version ?? '0') >= BigInt(version ?? '0'), `version ${down.version} after ${version}`);
  assert.equal(down.servers, 1);
  await sleep(2_500); // over two retry rounds
  assert.equal(views.length, 1, 'no view while etcd is away');
  assert.equal(src.status().connected, false);
  assert.ok(lines.some((l) => /lost etcd, keeping the last view/.test(l.msg)), 'the loss is logged: ' + JSON.stringify(lines));
  assert.equal(lines.filter((l) => /lost etcd/.test(l.msg)).length, 1, 'once, not per retry');

  await own.restart();
  const t1 = performance.now();
  assert.ok(await until(() => src.status().connected, 5_000), `connected again: ${src.status().lastError}`);
  t.diagnostic(`connected again ${(performance.now() - t1).toFixed(0)} ms after etcd answered`);
  assert.equal(src.status().lastError, null);
  assert.equal(views.length, 1, 'the same keys after the restart: no view');

  const t2 = performance.now();
  await c.put(`${p}/servers/127.0.0.1:9002`).value(server(9002));
  assert.ok(await until(() => views.length === 2, 2_000), 'a change after the restart arrives');
  const ms = performance.now() - t2;
  t.diagnostic(`a change after the restart arrived in ${ms.toFixed(1)} ms`);
  assert.ok(ms < 1_000);
  assert.deepEqual(views[1]!.servers.map((s) => s.port), [9001, 9002]);
  // The registration survived (same lease, renewed again) or was written anew, and follows the
  // view. By its digest: its version may already be a later read's (every write, the
  // registration's own included, moves etcd's revision, and a re-read of the same keys moves it).
  const rec = await readUntil(() => instanceRecord(c, p, 'survivor'), (r) => r?.digest === viewDigest(views[1]!));
  assert.equal(rec?.digest, viewDigest(views[1]!));
});

test('a source whose etcd is down at start rejects after firstViewMs, keeps trying, and gets its first view once etcd is up', { timeout: 30_000 }, async () => {
  const own = await startEtcd();
  const c = etcdClient([own.endpoint]);
  cleanups.push(() => c.close());
  const p = '/t/late';
  await c.put(`${p}/servers/127.0.0.1:9001`).value(server(9001));
  await own.kill();

  const { src, views, start } = source(p, { endpoint: own.endpoint });
  await assert.rejects(start(500), /no view under \/t\/late within 500 ms \(etcd unreachable: /);
  assert.equal(src.status().connected, false);
  assert.equal(src.status().version, null);

  await own.restart();
  assert.ok(await until(() => views.length === 1, 5_000), 'the first view once etcd answers');
  assert.ok(await until(() => src.status().connected, 3_000));
  await src.stop();
  await src.stop(); // twice is harmless
});

test('stop() before the first view ends start() and leaves nothing running', { timeout: 10_000 }, async () => {
  const { src, start } = source('/t/never', { endpoint: 'http://127.0.0.1:9' });
  const rejected = assert.rejects(start(60_000), /stopped before its first view/);
  await sleep(200);
  const t0 = performance.now();
  await src.stop();
  assert.ok(performance.now() - t0 < 2_000, 'stop() is quick while etcd is unreachable');
  await rejected;
  // A timer left behind would keep this file's process alive: node --test would then hang here.
});

test('a frozen etcd (SIGSTOP: connections open, no answers) is noticed within the lease TTL; thawed, it is connected again', { timeout: 30_000 }, async (t) => {
  const own = await startEtcd();
  const c = etcdClient([own.endpoint]);
  cleanups.push(() => c.close());
  const p = '/t/frozen';
  await c.put(`${p}/servers/127.0.0.1:9001`).value(server(9001));
  const { src, views, start } = source(p, { endpoint: own.endpoint, instanceId: 'thawed' });
  await start();
  assert.ok(await until(() => src.status().connected, 3_000));

  const pid = own.pid()!;
  process.kill(pid, 'SIGSTOP');
  // Thaw even if an assertion below fails, so the helper can stop it.
  cleanups.push(() => void process.kill(pid, 'SIGCONT'));
  const t0 = performance.now();
  // No stream breaks: only the lease keep-alive (every TTL/3, 5 s without an answer) and
  // gRPC pings (10 s + 5 s) can tell.
  assert.ok(await until(() => !src.status().connected, 8_000), 'noticed');
  t.diagnostic(`noticed a frozen etcd in ${(performance.now() - t0).toFixed(0)} ms`);
  assert.match(src.status().lastError ?? '', /^etcd unreachable: /);
  assert.equal(src.status().servers, 1);

  process.kill(pid, 'SIGCONT');
  assert.ok(await until(() => src.status().connected, 5_000), 'connected again');
  await c.put(`${p}/servers/127.0.0.1:9002`).value(server(9002));
  assert.ok(await until(() => views.length === 2, 1_000), 'a change arrives');
  const rec = await readUntil(() => instanceRecord(c, p, 'thawed'), (r) => r?.version === views[1]!.version);
  assert.equal(rec?.version, views[1]!.version, 'registered, with the new version');
});
