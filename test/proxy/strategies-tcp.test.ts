/**
 * The strategies through the real TCP (L4) proxy: echo, half-close, failover on a refused
 * connect, and the run-time switch in tcp mode, where a strategy that needs HTTP requests
 * (beta1 keyed by a header) is refused with a clear error while the running one keeps going.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { STRATEGY_NAMES } from '../../src/config/schema.js';
import { ConfigError } from '../../src/config/load.js';
import { startAdmin } from '../../src/app/admin.js';
import { deadPort, local, request, startBallast, tcpServer } from '../helpers/servers.js';
import { track, until } from '../helpers/lifecycle.js';

/** An echo server that prefixes nothing: every byte comes back; its name is sent first on connect. */
async function echoServer(name: string) {
  let accepted = 0;
  const srv = await tcpServer(
    (s) => {
      accepted++;
      s.write(`${name}:`);
      s.pipe(s);
    },
    { allowHalfOpen: true },
  );
  return { ...srv, name, accepted: () => accepted };
}

/** Connects, sends `payload` (then half-closes when `end`), collects everything until the server ends. */
function exchange(port: number, payload: Buffer | string, end = true, timeoutMs = 3_000): Promise<{ data: Buffer; ended: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let ended = false;
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      s.write(payload);
      if (end) s.end();
    });
    const timer = setTimeout(() => s.destroy(), timeoutMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      ended = true;
      s.end();
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), ended });
    });
  });
}

test('tcp mode: bytes echo through the L4 proxy unchanged, 1 MB included', async () => {
  const e = track(await echoServer('e'));
  const lb = track(await startBallast({ mode: 'tcp', servers: [local(e.port)] }));
  const small = await exchange(lb.address.port, 'hello');
  assert.equal(small.data.toString(), 'e:hello');
  assert.ok(small.ended, 'the server side ended cleanly');

  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 255;
  const r = await exchange(lb.address.port, big);
  assert.equal(r.data.subarray(0, 2).toString(), 'e:');
  assert.equal(Buffer.compare(r.data.subarray(2), big), 0);
  assert.ok(await until(() => lb.pool.totalInflight === 0), `in flight ${lb.pool.totalInflight}`);
});

test('tcp mode: a client that half-closes still receives the rest of the reply', async () => {
  // Answers only after the client's end: what it received, then, later, a trailer.
  const srv = track(
    await tcpServer(
      (s) => {
        const got: Buffer[] = [];
        s.on('data', (c: Buffer) => got.push(c));
        s.on('end', () => {
          s.write(`got ${Buffer.concat(got).toString()};`);
          setTimeout(() => s.end('bye'), 50);
        });
      },
      { allowHalfOpen: true },
    ),
  );
  const lb = track(await startBallast({ mode: 'tcp', servers: [local(srv.port)] }));
  const r = await exchange(lb.address.port, 'question');
  assert.equal(r.data.toString(), 'got question;bye');
  assert.ok(r.ended);
  assert.ok(await until(() => lb.pool.totalInflight === 0));
});

test('tcp mode: a refused connect moves on to the next backend', async () => {
  const e = track(await echoServer('e'));
  const dead = await deadPort();
  const lb = track(await startBallast({ mode: 'tcp', strategy: 'round_robin', servers: [local(dead), local(e.port)] }));
  for (let i = 0; i < 6; i++) {
    const r = await exchange(lb.address.port, `m${i}`);
    assert.equal(r.data.toString(), `e:m${i}`);
  }
  assert.equal(e.accepted(), 6);
  assert.ok(lb.stats.counters().failovers >= 1, `failovers ${lb.stats.counters().failovers}`);
  assert.ok(await until(() => lb.pool.totalInflight === 0));
});

test('tcp mode refuses a strategy that needs HTTP requests, at start and at run time; the running one keeps going', async () => {
  const a = track(await echoServer('a'));
  const b = track(await echoServer('b'));
  const servers = [local(a.port), local(b.port)];
  await assert.rejects(startBallast({ mode: 'tcp', strategy: 'beta1', servers }), (err: Error) => {
    assert.ok(err instanceof ConfigError, `${err}`);
    assert.match(err.message, /beta1.*needs HTTP requests.*tcp/);
    return true;
  });

  const lb = track(await startBallast({ mode: 'tcp', strategy: 'round_robin', seed: 2, servers }));
  // A connection open across the refused switch.
  const open = net.connect({ port: lb.address.port, host: '127.0.0.1' });
  const got: Buffer[] = [];
  open.on('data', (c: Buffer) => got.push(c));
  await new Promise<void>((r) => open.once('connect', () => r()));
  open.write('before;');
  assert.ok(await until(() => Buffer.concat(got).toString().endsWith('before;')));

  assert.throws(() => lb.active.switchTo('beta1'), /strategy "beta1" needs HTTP requests and cannot run in tcp mode/);
  assert.equal(lb.active.name, 'round_robin');
  open.write('after;');
  assert.ok(await until(() => Buffer.concat(got).toString().endsWith('before;after;')), Buffer.concat(got).toString());

  // New connections still go through, round robin alternating.
  const names = [];
  for (let i = 0; i < 4; i++) names.push((await exchange(lb.address.port, 'x')).data.toString());
  assert.deepEqual(names.slice().sort(), ['a:x', 'a:x', 'b:x', 'b:x']);

  // Every other strategy runs in tcp mode; the connection opened first stays usable across all the switches.
  for (const name of STRATEGY_NAMES) {
    if (name === 'beta1') continue;
    lb.active.switchTo(name);
    assert.equal(lb.active.name, name);
    for (let i = 0; i < 3; i++) assert.match((await exchange(lb.address.port, name)).data.toString(), new RegExp(`^[ab]:${name}$`));
    assert.ok(await until(() => lb.pool.totalInflight === 1), `only the long connection is open: ${lb.pool.totalInflight}`);
  }
  open.write('end;');
  assert.ok(await until(() => Buffer.concat(got).toString().endsWith('before;after;end;')), Buffer.concat(got).toString());
  open.destroy();
  assert.ok(await until(() => lb.pool.totalInflight === 0), `in flight ${lb.pool.totalInflight}`);
});

test('tcp mode: beta1 keyed by client address runs, and one client sticks to one backend', async () => {
  const a = track(await echoServer('a'));
  const b = track(await echoServer('b'));
  const lb = track(
    await startBallast({ mode: 'tcp', strategy: 'round_robin', servers: [local(a.port), local(b.port)], beta1: { key: { clientIp: true } } }),
  );
  lb.active.switchTo('beta1');
  const first = (await exchange(lb.address.port, 'k')).data.toString();
  for (let i = 0; i < 5; i++) assert.equal((await exchange(lb.address.port, 'k')).data.toString(), first);
  const g = lb.active.strategy.globalMetrics!() as Record<string, number>;
  assert.equal(g.keyed_requests, 6);
  assert.equal(g.affinity_rate, 100);
});

test('tcp mode through the admin API: POST /api/strategy refuses beta1 with a 400 naming the reason, then switches to a strategy that can run', async () => {
  const a = track(await echoServer('a'));
  const b = track(await echoServer('b'));
  const lb = track(await startBallast({ mode: 'tcp', strategy: 'round_robin', servers: [local(a.port), local(b.port)], admin: { port: 0 } }));
  const admin = track(await startAdmin(lb));
  const post = (strategy: string) =>
    request(`${admin.url}/api/strategy`, { method: 'POST', body: JSON.stringify({ strategy }), headers: { 'content-type': 'application/json' } });
  const refused = await post('beta1');
  assert.equal(refused.status, 400);
  const body = JSON.parse(refused.body.toString()) as { success: boolean; error: string };
  assert.equal(body.success, false);
  assert.match(body.error, /beta1.*needs HTTP requests.*tcp/);
  assert.equal(lb.active.name, 'round_robin');
  assert.match((await exchange(lb.address.port, 'still')).data.toString(), /^[ab]:still$/);

  const ok = await post('least_connections');
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.body.toString()), { success: true, strategy: 'least_connections', previous: 'round_robin' });
  assert.equal(lb.active.name, 'least_connections');
  assert.match((await exchange(lb.address.port, 'then')).data.toString(), /^[ab]:then$/);
});

test('tcp mode: least_connections counts open connections, so new ones go to the backend with fewer', async () => {
  const a = track(await echoServer('a'));
  const b = track(await echoServer('b'));
  const lb = track(await startBallast({ mode: 'tcp', strategy: 'least_connections', servers: [local(a.port), local(b.port)] }));
  const open: Array<{ socket: net.Socket; name: string }> = [];
  const connect = async () => {
    const socket = net.connect({ port: lb.address.port, host: '127.0.0.1' });
    socket.on('error', () => {});
    const name = await new Promise<string>((resolve) => socket.once('data', (c: Buffer) => resolve(c.toString().slice(0, 1))));
    open.push({ socket, name });
    return name;
  };
  for (let i = 0; i < 6; i++) await connect();
  assert.deepEqual(open.map((o) => o.name).sort(), ['a', 'a', 'a', 'b', 'b', 'b'], 'six long connections split evenly');
  assert.equal(lb.pool.totalInflight, 6);
  // Close a's three: the next three all go to a.
  for (const o of open.filter((x) => x.name === 'a')) o.socket.destroy();
  assert.ok(await until(() => lb.pool.totalInflight === 3), `in flight ${lb.pool.totalInflight}`);
  const next = [await connect(), await connect(), await connect()];
  assert.deepEqual(next, ['a', 'a', 'a']);
  for (const o of open) o.socket.destroy();
  assert.ok(await until(() => lb.pool.totalInflight === 0), `in flight ${lb.pool.totalInflight}`);
});

test('tcp mode: a backend that closes first ends the client too; with every backend down the client is closed at once', async () => {
  const srv = track(await tcpServer((s) => s.end('bye'), { allowHalfOpen: true }));
  const lb = track(await startBallast({ mode: 'tcp', servers: [local(srv.port)] }));
  const r = await exchange(lb.address.port, '', false);
  assert.equal(r.data.toString(), 'bye');
  assert.ok(r.ended);
  assert.ok(await until(() => lb.pool.totalInflight === 0), `in flight ${lb.pool.totalInflight}`);

  const lb2 = track(await startBallast({ mode: 'tcp', servers: [local(await deadPort()), local(await deadPort())] }));
  const started = Date.now();
  const none = await exchange(lb2.address.port, 'anyone?', false);
  assert.equal(none.data.length, 0);
  assert.ok(Date.now() - started < 2_500, 'closed without waiting for the client timeout');
  assert.ok(await until(() => lb2.pool.totalInflight === 0));
});
