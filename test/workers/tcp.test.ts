/** TCP (L4) mode on two workers: relays, counts in the admin API, balances by every worker's connections. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { local, tcpServer } from '../helpers/servers.js';
import { cleanups, until } from '../helpers/lifecycle.js';
import { eventually, getJson, startWorkers } from './helpers.js';

/** An echo server that counts the connections open on it. */
async function echo(): Promise<{ port: number; open: () => number }> {
  let open = 0;
  const server = await tcpServer((s) => {
    open++;
    s.on('close', () => open--);
    s.on('error', () => {});
    s.pipe(s);
  });
  cleanups.push(() => server.close());
  return { port: server.port, open: () => open };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

function roundTrip(s: net.Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    s.once('data', (d) => resolve(String(d)));
    s.write(text);
  });
}

test('tcp mode on two workers: connections relay, balance by both workers\' open connections, and count in the API', async () => {
  const a = await echo();
  const b = await echo();
  const lb = await startWorkers({ mode: 'tcp', strategy: 'least_connections', servers: [local(a.port), local(b.port)] });
  const sockets: net.Socket[] = [];
  for (let i = 0; i < 6; i++) {
    const s = await connect(lb.ballast.address.port);
    sockets.push(s);
    assert.equal(await roundTrip(s, `hello ${i}`), `hello ${i}`);
    assert.ok(await until(() => lb.ballast.pool.totalInflight === i + 1), `connection ${i} counted`);
  }
  assert.deepEqual([a.open(), b.open()], [3, 3], 'each connection went to the backend with the fewest, counting both workers');
  for (const s of sockets) s.end();
  assert.ok(await until(() => lb.ballast.pool.totalInflight === 0, 5_000));
  let total = 0;
  assert.ok(
    await eventually(async () => {
      total = (await getJson<{ total_requests: number }>(`${lb.admin!.url}/api/performance`)).total_requests;
      return total === 6;
    }),
    `connections counted: ${total}`,
  );
});
