/**
 * Config reload on SIGHUP (issue 4), on a balancer process: removing a backend while requests
 * are in flight to it lets them complete, and no later request goes to it; adding a backend
 * sends it traffic only after its health check passed; an invalid new config is refused with
 * an error in the log and the old one keeps running.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { getText, httpServer, type TestServer } from '../helpers/servers.js';
import { sleep, spawnBalancer, waitFor, type BalancerProcess } from './helpers.js';
import { cleanups } from '../helpers/lifecycle.js';

interface Backend extends TestServer {
  name: string;
  /** performance.now() of each proxied (non-health) request and of each health check. */
  served: number[];
  checks: number[];
}

/** Answers /health at once, anything else after `delayMs`, with its name in the body. */
async function backend(name: string, delayMs = 0): Promise<Backend> {
  const served: number[] = [];
  const checks: number[] = [];
  const server = await httpServer((req, res) => {
    req.resume();
    if (req.url === '/health') {
      checks.push(performance.now());
      res.end('ok');
      return;
    }
    served.push(performance.now());
    const send = () => res.writeHead(200, { 'x-served-by': name }).end(name);
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  });
  cleanups.push(() => server.close());
  return { ...server, name, served, checks };
}

const HEALTH = { intervalMs: 200, timeoutMs: 200, rise: 2, fall: 2, jitter: 0 };

function config(servers: Backend[], extra: Record<string, unknown> = {}) {
  return {
    strategy: 'round_robin',
    servers: servers.map((s) => ({ host: '127.0.0.1', port: s.port, name: s.name })),
    healthCheck: HEALTH,
    ...extra,
  };
}

async function reload(lb: BalancerProcess, cfg: unknown, expect: RegExp): Promise<void> {
  const before = lb.logs.length;
  if (typeof cfg === 'string') {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(lb.configFile, cfg);
  } else {
    lb.writeConfig(cfg);
  }
  lb.kill('SIGHUP');
  await lb.waitForLog((l) => lb.logs.indexOf(l) >= before && expect.test(l.msg), 5000);
}

test('reload removes a backend with requests in flight, adds one after its check passes, refuses an invalid config', async (t) => {
  const a = await backend('a', 800);
  const b = await backend('b');
  const c = await backend('c');
  const lb = await spawnBalancer(config([a, b]));
  cleanups.push(() => lb.cleanup());

  // 10 requests at once: round robin puts about half on the slow backend a.
  const inflight = Array.from({ length: 10 }, (_, i) => getText(`${lb.url}/r${i}`));
  assert.ok(await waitFor(() => a.served.length + b.served.length >= 10, 5000), 'all 10 reached a backend');
  assert.ok(a.served.length >= 3, `some are in flight on a (${a.served.length})`);
  const onA = a.served.length;
  await reload(lb, config([b]), /config reloaded/);
  const reloaded = lb.logs.find((l) => l.msg === 'config reloaded')!;
  assert.deepEqual(reloaded.removed, [`127.0.0.1:${a.port}`]);
  const results = await Promise.all(inflight);
  assert.deepEqual(
    results.map((r) => r.status),
    Array(10).fill(200),
    'every request in flight across the reload completed',
  );
  assert.equal(results.filter((r) => r.body === 'a').length, onA, 'those on the removed backend were answered by it');

  // Later requests never reach the removed backend, and it is no longer checked.
  const checksOfA = a.checks.length;
  for (let i = 0; i < 20; i++) {
    const r = await getText(`${lb.url}/after`);
    assert.deepEqual(r, { status: 200, body: 'b' });
  }
  assert.equal(a.served.length, onA, 'no request to the removed backend after the reload');
  await sleep(HEALTH.intervalMs * 2);
  assert.ok(a.checks.length <= checksOfA + 1, 'the removed backend is no longer health-checked');

  // Add c: it must pass a check before it sees any traffic, then take its share.
  const addedAt = performance.now();
  await reload(lb, config([b, c]), /config reloaded/);
  const load = (async () => {
    const bodies: string[] = [];
    const end = performance.now() + 3000;
    while (performance.now() < end && c.served.length < 5) {
      bodies.push((await getText(`${lb.url}/x`)).body);
      await sleep(10);
    }
    return bodies;
  })();
  const bodies = await load;
  t.diagnostic(`c: first check ${Math.round((c.checks[0] ?? NaN) - addedAt)} ms after the reload, first request ${Math.round((c.served[0] ?? NaN) - addedAt)} ms; ${bodies.length} requests sent meanwhile`);
  assert.ok(c.served.length >= 5, 'the added backend took traffic');
  assert.ok(c.checks.length >= 1 && c.checks[0]! < c.served[0]!, 'its first health check came before its first request');
  assert.ok(bodies.every((x) => x === 'b' || x === 'c'), 'no failure while it joined');

  // Invalid configs are refused, the running one stays.
  for (const [why, bad, message] of [
    ['no servers', JSON.stringify({ servers: [] }), /reload refused.*servers/s],
    ['not YAML', 'servers: [ { host: 127.0.0.1', /reload refused.*not valid YAML/s],
    ['unknown key', JSON.stringify({ ...config([b]), bogus: 1 }), /reload refused.*bogus/s],
    ['listen change', JSON.stringify({ ...config([b]), listen: { host: '127.0.0.1', port: lb.port + 1 } }), /reload refused.*listen/s],
    ['no running server kept', JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, ...config([a]) }), /reload refused.*keeps none of the 2 running servers/s],
  ] as const) {
    await reload(lb, bad, /reload refused/);
    const line = lb.logs.filter((l) => /reload refused/.test(l.msg)).at(-1)!;
    assert.match(line.msg, message, why);
    assert.ok(line.level >= 50, `${why}: logged as an error`);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await getText(`${lb.url}/still`);
      assert.equal(r.status, 200, `${why}: still serving`);
      seen.add(r.body);
    }
    assert.deepEqual([...seen].sort(), ['b', 'c'], `${why}: the old config (b and c) still runs`);
  }
  assert.equal(lb.child.exitCode, null, 'the balancer is still running');
});

// Replacing every server at once must be allowed by the new file (reload.allowReplaceAllServers).
const REPLACE_ALL = { reload: { allowReplaceAllServers: true } };

test('watchConfig: rewriting the file reloads without a signal; a broken file is refused and the old config keeps serving', async () => {
  const a = await backend('a');
  const b = await backend('b');
  const lb = await spawnBalancer({ ...config([a]), watchConfig: true, healthCheck: { enabled: false } });
  cleanups.push(() => lb.cleanup());
  assert.equal((await getText(`${lb.url}/`)).body, 'a');
  lb.writeConfig({ ...config([b]), watchConfig: true, healthCheck: { enabled: false }, ...REPLACE_ALL });
  await lb.waitForLog((l) => l.msg === 'config reloaded', 5000);
  assert.ok(await waitFor(() => a.served.length === 1, 10));
  for (let i = 0; i < 5; i++) assert.equal((await getText(`${lb.url}/`)).body, 'b');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(lb.configFile, '{ "servers": [ ');
  await lb.waitForLog((l) => /reload refused/.test(l.msg) && l.why === 'config file changed', 5000);
  for (let i = 0; i < 5; i++) assert.equal((await getText(`${lb.url}/`)).body, 'b');
  assert.equal(a.served.length, 1);
});

test('watchConfig survives atomic replacement (write a temp file, rename over), as editors and deploy tools do', async () => {
  const a = await backend('a');
  const b = await backend('b');
  const c = await backend('c');
  const lb = await spawnBalancer({ ...config([a]), watchConfig: true, healthCheck: { enabled: false } });
  cleanups.push(() => lb.cleanup());
  const { renameSync, writeFileSync } = await import('node:fs');
  const replace = (servers: Backend[]) => {
    const tmp = `${lb.configFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, ...config(servers), watchConfig: true, healthCheck: { enabled: false }, ...REPLACE_ALL }));
    renameSync(tmp, lb.configFile);
  };
  replace([b]);
  await lb.waitForLog((l) => l.msg === 'config reloaded', 5000);
  assert.equal((await getText(`${lb.url}/`)).body, 'b');
  const reloads = () => lb.logs.filter((l) => l.msg === 'config reloaded').length;
  await sleep(300);
  replace([c]);
  assert.ok(await waitFor(() => reloads() === 2, 3000), 'the second replacement was seen too');
  assert.equal((await getText(`${lb.url}/`)).body, 'c');
});

// Regression: the watch-triggered reload read the file once, 200 ms after the last change
// event, so a writer pausing longer than that mid-file had its prefix applied: YAML cut between
// two list items still validates, with fewer servers, and the rest were removed until the
// next read. Now the file must read the same twice in a row before it is applied.
test('watchConfig: a file rewritten in place with a pause mid-write is applied whole; its valid prefix with fewer servers never is', async () => {
  const [a, b, c] = [await backend('a'), await backend('b'), await backend('c')];
  const settings = { watchConfig: true, healthCheck: { enabled: false } };
  const lb = await spawnBalancer({ ...config([a, b, c]), ...settings });
  cleanups.push(() => lb.cleanup());
  const { closeSync, openSync, writeSync } = await import('node:fs');
  const lines = [
    'listen: { host: 127.0.0.1, port: 0 }',
    'admin: { host: 127.0.0.1, port: 0 }',
    'watchConfig: true',
    'healthCheck: { enabled: false }',
    'strategy: round_robin',
    'timeouts: { connectMs: 2000 }',
    'servers:',
    ...[a, b, c].map((s) => `  - { host: 127.0.0.1, port: ${s.port}, name: ${s.name} }`),
    '',
  ];
  const cut = lines.length - 3; // after the first server: valid YAML, a valid config with only a
  const before = lb.logs.length;
  const fd = openSync(lb.configFile, 'w');
  writeSync(fd, lines.slice(0, cut).join('\n') + '\n');
  await sleep(250); // a slow writer: longer than the old 200 ms debounce
  writeSync(fd, lines.slice(cut).join('\n'));
  closeSync(fd);
  await lb.waitForLog((l) => lb.logs.indexOf(l) >= before && l.msg === 'config reloaded', 5000);
  await sleep(1000); // any later reload would have happened by now
  const reloads = lb.logs.slice(before).filter((l) => l.msg === 'config reloaded');
  assert.deepEqual(
    reloads.map((l) => l.removed),
    [[]],
    'one reload, of the whole file, removing nothing',
  );
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add((await getText(`${lb.url}/`)).body);
  assert.deepEqual([...seen].sort(), ['a', 'b', 'c']);
});
