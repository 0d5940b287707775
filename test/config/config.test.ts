import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.js';

function file(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-config-'));
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

test('defaults fill every optional key', () => {
  const c = parseConfig({ servers: [{ host: '127.0.0.1', port: 8081 }] });
  assert.equal(c.listen.host, '127.0.0.1');
  assert.equal(c.listen.port, 8080);
  assert.equal(c.mode, 'http');
  assert.equal(c.admin.host, '127.0.0.1');
  assert.equal(c.admin.token, null);
  assert.equal(c.alpha1.targetP99Ms, 90);
  assert.equal(c.beta1.loadFactor, 1.25);
  assert.deepEqual(c.beta1.key, { header: 'X-Key' });
  assert.equal(c.servers[0]!.weight, 1);
});

test('YAML and JSON files load the same config', () => {
  const yaml = file('c.yaml', 'servers:\n  - { host: 127.0.0.1, port: 8081, weight: 2 }\nstrategy: alpha1\nalpha1: { targetP99Ms: 50 }\n');
  const json = file('c.json', JSON.stringify({ servers: [{ host: '127.0.0.1', port: 8081, weight: 2 }], strategy: 'alpha1', alpha1: { targetP99Ms: 50 } }));
  assert.deepEqual(loadConfigFile(yaml), loadConfigFile(json));
});

const bad: Array<[string, unknown, RegExp]> = [
  ['a typo is an unknown key, named with its path', { servers: [{ host: 'h', port: 1, wieght: 2 }] }, /servers\[0\]\.wieght: unknown key "wieght"/],
  ['a wrong type names the field and what was expected', { servers: [{ host: 'h', port: 1 }], listen: { port: 'eighty' } }, /listen\.port: expected number/],
  ['an unknown strategy lists the valid ones', { servers: [{ host: 'h', port: 1 }], strategy: 'fastest' }, /strategy: expected one of .*alpha1/],
  ['servers is required', {}, /servers: at least one server is required \(or a discovery source\)/],
  ['an empty server list is refused', { servers: [] }, /servers: at least one server is required/],
  ['duplicate servers are refused', { servers: [{ host: 'h', port: 1 }, { host: 'h', port: 1 }] }, /servers\[1\]: duplicate server h:1/],
  ['a port out of range', { servers: [{ host: 'h', port: 70000 }] }, /servers\[0\]\.port/],
  ['a beta1 key of an unknown form', { servers: [{ host: 'h', port: 1 }], beta1: { key: { body: 'x' } } }, /beta1\.key: expected one of \{header: NAME\}/],
  ['a backwards status range', { servers: [{ host: 'h', port: 1 }], healthCheck: { expectStatus: '399-200' } }, /healthCheck\.expectStatus: the range must go from low to high/],
  ['a short admin token', { servers: [{ host: 'h', port: 1 }], admin: { token: 'abc' } }, /admin\.token/],
];

for (const [name, raw, pattern] of bad) {
  test(`config error: ${name}`, () => {
    assert.throws(
      () => parseConfig(raw, 'my.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^invalid config my\.yaml:/);
        assert.match(err.message, pattern);
        return true;
      },
    );
  });
}

test('a file that is not YAML, or missing, is a ConfigError naming the file', () => {
  assert.throws(() => loadConfigFile(file('x.yaml', 'servers: [\n')), /invalid config .*x\.yaml: not valid YAML or JSON/);
  assert.throws(() => loadConfigFile('/nonexistent/ballast.yaml'), /cannot read config \/nonexistent\/ballast\.yaml: no such file/);
  assert.throws(() => loadConfigFile(file('d.yaml', 'servers: []\nservers: []\n')), /not valid YAML/);
});
