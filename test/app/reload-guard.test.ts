/**
 * Ballast.reload refuses a config that keeps none of the running servers, unless the new
 * file says `reload.allowReplaceAllServers: true`. Regression: a truncated or mistaken file
 * that still validated (its servers all new, or a list cut to a stray entry) used to drain
 * every running backend at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { Ballast } from '../../src/app/ballast.js';
import { local, namedBackend, request, startBallast } from '../helpers/servers.js';
import { track } from '../helpers/lifecycle.js';

/** A config as the reload would read it: the running one's listen and admin, these servers. */
function next(lb: Ballast, ports: number[], extra: Partial<ConfigInput> = {}) {
  return parseConfig({ listen: lb.config.listen, admin: lb.config.admin, healthCheck: { enabled: false }, servers: ports.map((p) => local(p)), ...extra });
}

async function bodies(lb: Ballast, n: number): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await request(`${lb.url}/`);
    assert.equal(r.status, 200);
    seen.add(r.body.toString());
  }
  return [...seen].sort();
}

test('a reload keeping none of the running servers is refused and they keep serving; the new file can allow it', async () => {
  const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((n) => namedBackend(n).then(track)));
  const lb = track(await startBallast({ strategy: 'round_robin', servers: [local(a!.port), local(b!.port)] }));
  const before = lb.config;

  assert.throws(
    () => lb.reload(next(lb, [c!.port, d!.port])),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^servers: the new config keeps none of the 2 running servers/);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${a!.port}, 127\\.0\\.0\\.1:${b!.port}`), 'it names them');
      assert.match(err.message, /reload\.allowReplaceAllServers: true/, 'it says how to do it on purpose');
      return true;
    },
  );
  assert.equal(lb.config, before, 'the running config stays');
  assert.deepEqual(lb.pool.backends.map((x) => x.port), [a!.port, b!.port]);
  assert.deepEqual(await bodies(lb, 6), ['a', 'b']);

  // Keeping one server is an ordinary reload.
  lb.reload(next(lb, [b!.port, c!.port]));
  assert.deepEqual(await bodies(lb, 6), ['b', 'c']);

  // Saying so in the new file replaces them all.
  lb.reload(next(lb, [d!.port], { reload: { allowReplaceAllServers: true } }));
  assert.deepEqual(await bodies(lb, 4), ['d']);
  // The permission is the new file's, for that reload: the next file without it is checked again.
  assert.throws(() => lb.reload(next(lb, [a!.port])), /keeps none of the 1 running servers/);
  assert.deepEqual(await bodies(lb, 2), ['d']);
});
