/** CIDR ranges (proxy.trustedProxies): matching (IPv4, IPv6, IPv4-mapped) and config errors naming the field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressRanges, parseCidr } from '../../src/util/address.js';
import { ConfigError, parseConfig } from '../../src/config/load.js';

test('address ranges match by prefix, IPv4-mapped IPv6 peers as IPv4', () => {
  const r = new AddressRanges(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32']);
  const cases: Array<[string, boolean]> = [
    ['10.1.2.3', true],
    ['11.0.0.1', false],
    ['192.168.1.7', true],
    ['192.168.1.8', false],
    ['::ffff:10.9.9.9', true],
    ['::ffff:11.9.9.9', false],
    ['2001:db8::1', true],
    ['2001:db9::1', false],
    ['', false],
    ['not-an-address', false],
  ];
  for (const [address, want] of cases) assert.equal(r.has(address), want, address);
  assert.equal(new AddressRanges([]).has('127.0.0.1'), false, 'nothing is trusted by default');
});

test('malformed ranges are refused with a reason, and the config error names the field', () => {
  for (const bad of ['10.0.0.0/33', '10.0.0/8', 'example.com', '::1/129', '10.0.0.0/', '10.0.0.0/-1']) {
    assert.throws(() => parseCidr(bad), /not an IP address|prefix length/, bad);
    assert.throws(
      () => parseConfig({ servers: [{ host: '127.0.0.1', port: 1 }], proxy: { trustedProxies: ['127.0.0.1', bad] } }),
      (err: unknown) => err instanceof ConfigError && /proxy\.trustedProxies\[1\]/.test(err.message),
      bad,
    );
  }
});
