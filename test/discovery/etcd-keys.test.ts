import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fleetKeys,
  parseInstanceRecord,
  parseServerEntry,
  parseStrategyEntry,
  readViewContent,
  sameContent,
  viewDigest,
} from '../../src/discovery/etcd-keys.js';

test('fleetKeys: the view range holds PREFIX/servers/* and PREFIX/strategy, not the instances nor keys after strategy', () => {
  const keys = fleetKeys('/b/prod');
  assert.equal(keys.servers, '/b/prod/servers/');
  assert.equal(keys.strategy, '/b/prod/strategy');
  assert.equal(keys.instances, '/b/prod/instances/');
  for (const [key, inside] of [
    ['/b/prod/servers/127.0.0.1:80', true],
    ['/b/prod/servers/', true],
    ['/b/prod/strategy', true],
    ['/b/prod/strategy2', false],
    ['/b/prod/strategy/x', false],
    ['/b/prod/instances/lb-1', false],
    ['/b/prod/serverz', true], // sorts between the two: in the range, ignored when read
    ['/b/production/servers/127.0.0.1:80', false],
    ['/b/prod', false],
  ] as const) {
    assert.equal(keys.view.includes(key), inside, key);
  }
});

test('parseServerEntry: a server as the config file takes it, under its own HOST:PORT', () => {
  const cases: Array<[string, string, object | RegExp]> = [
    ['127.0.0.1:80', '{"host":"127.0.0.1","port":80}', { host: '127.0.0.1', port: 80, weight: 1 }],
    ['api.internal:8080', '{"host":"api.internal","port":8080,"weight":5,"name":"api"}', { host: 'api.internal', port: 8080, weight: 5, name: 'api' }],
    ['[::1]:80', '{"host":"::1","port":80}', { host: '::1', port: 80, weight: 1 }],
    ['::1:80', '{"host":"::1","port":80}', { host: '::1', port: 80, weight: 1 }],
    ['127.0.0.1:80', '{"host":"127.0.0.1","port":80', /^not JSON/],
    ['127.0.0.1:80', '[]', /expected object/],
    ['127.0.0.1:0', '{"host":"127.0.0.1","port":0}', /^port: /],
    ['127.0.0.1:80', '{"host":"127.0.0.1","port":80,"weight":0}', /^weight: /],
    ['127.0.0.1:80', '{"host":"127.0.0.1","port":80,"wieght":2}', /wieght/],
    ['127.0.0.1:81', '{"host":"127.0.0.1","port":80}', /the key must be HOST:PORT of the server it holds \(127\.0\.0\.1:80\)/],
    ['web', '{"host":"127.0.0.1","port":80}', /the key must be HOST:PORT/],
  ];
  for (const [name, text, expected] of cases) {
    const got = parseServerEntry(name, text);
    if (expected instanceof RegExp) assert.match(String(got), expected, `${name} ${text}`);
    else assert.deepEqual(got, expected, `${name} ${text}`);
  }
});

test('parseStrategyEntry: a JSON object with a name and optional object options; the name itself is the app\'s to check', () => {
  const cases: Array<[string, object | RegExp]> = [
    ['{"name":"beta1"}', { name: 'beta1' }],
    ['{"name":"beta1","options":{"windowMs":5}}', { name: 'beta1', options: { windowMs: 5 } }],
    ['{"name":"no_such_strategy"}', { name: 'no_such_strategy' }],
    ['"beta1"', /expected a JSON object/],
    ['null', /expected a JSON object/],
    ['["beta1"]', /expected a JSON object/],
    ['beta1', /^not JSON/],
    ['{}', /"name" must be a strategy name/],
    ['{"name":""}', /"name" must be a strategy name/],
    ['{"name":3}', /"name" must be a strategy name/],
    ['{"name":"beta1","options":[1]}', /"options" must be a JSON object/],
    ['{"name":"beta1","options":null}', /"options" must be a JSON object/],
    ['{"name":"beta1","opts":{}}', /unknown key "opts"/],
  ];
  for (const [text, expected] of cases) {
    const got = parseStrategyEntry(text);
    if (expected instanceof RegExp) assert.match(String(got), expected, text);
    else assert.deepEqual(got, expected, text);
  }
});

test('readViewContent: valid servers in key order, problems named by key, a bad strategy refuses the whole read', () => {
  const keys = fleetKeys('/p');
  const kv = (key: string, value: string) => ({ key: Buffer.from(key), value: Buffer.from(value) });
  const content = readViewContent(
    [
      kv('/p/servers/127.0.0.1:1', '{"host":"127.0.0.1","port":1}'),
      kv('/p/servers/127.0.0.1:2', 'x'),
      kv('/p/servers/127.0.0.1:3', '{"host":"127.0.0.1","port":3}'),
      kv('/p/settings', 'ignored: between servers/ and strategy in the range'),
      kv('/p/strategy', '{"name":"p2c"}'),
    ],
    keys,
  );
  assert.deepEqual(content.servers.map((s) => s.port), [1, 3]);
  assert.deepEqual(content.strategy, { name: 'p2c' });
  assert.equal(content.strategyRefused, false);
  assert.deepEqual(content.problems.length, 1);
  assert.match(content.problems[0]!, /^\/p\/servers\/127\.0\.0\.1:2: not JSON .* \(skipped\)$/);

  const refused = readViewContent([kv('/p/servers/127.0.0.1:1', '{"host":"127.0.0.1","port":1}'), kv('/p/strategy', '"p2c"')], keys);
  assert.equal(refused.strategyRefused, true);
  assert.equal(refused.strategy, undefined);
  assert.match(refused.problems[0]!, /^\/p\/strategy: expected a JSON object/);
});

test('sameContent and viewDigest: equal for the same servers and strategy, whatever the version; different otherwise', () => {
  const a = { servers: [{ host: 'h', port: 1, weight: 1 }], strategy: { name: 'p2c' }, version: '5' };
  const b = { servers: [{ host: 'h', port: 1, weight: 1 }], strategy: { name: 'p2c' }, version: '9' };
  assert.ok(sameContent(a, b));
  assert.equal(viewDigest(a), viewDigest(b));
  assert.match(viewDigest(a), /^[0-9a-f]{16}$/);
  for (const other of [
    { servers: [{ host: 'h', port: 1, weight: 2 }], strategy: { name: 'p2c' } },
    { servers: [{ host: 'h', port: 1, weight: 1 }] },
    { servers: [{ host: 'h', port: 1, weight: 1 }], strategy: { name: 'p2c', options: {} } },
    { servers: [{ host: 'h', port: 1, weight: 1 }, { host: 'h', port: 2, weight: 1 }], strategy: { name: 'p2c' } },
  ]) {
    assert.ok(!sameContent(a, other), JSON.stringify(other));
    assert.notEqual(viewDigest(a), viewDigest(other));
  }
});

test('parseInstanceRecord: the record instances write, or why it is unreadable', () => {
  const good = { id: 'lb', listen: '127.0.0.1:80', admin: null, version: '7', digest: 'abcd', since: 1 };
  assert.deepEqual(parseInstanceRecord(JSON.stringify(good)), good);
  assert.deepEqual(parseInstanceRecord(JSON.stringify({ ...good, version: null, digest: null })), { ...good, version: null, digest: null });
  assert.match(String(parseInstanceRecord('{')), /^not JSON/);
  assert.match(String(parseInstanceRecord('[]')), /expected a JSON object/);
  for (const bad of [{ ...good, since: '1' }, { ...good, version: 7 }, { ...good, listen: undefined }, { ...good, digest: undefined }]) {
    assert.match(String(parseInstanceRecord(JSON.stringify(bad))), /expected \{"id", "listen", "admin", "version", "digest", "since"\}/);
  }
});
