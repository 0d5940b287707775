/**
 * The PROXY protocol header parser and encoder (src/proxy/proxy-protocol): v1 and v2, headers
 * split over reads, the client's bytes after the header, malformed and oversized headers,
 * TLVs, IPv6, and an encode -> parse round trip over random addresses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { ProxyHeaderReader, parseProxyHeader, type ReadStep } from '../../src/proxy/proxy-protocol/parse.js';
import { encodeV1, encodeV2 } from '../../src/proxy/proxy-protocol/encode.js';
import { V1_MAX_LENGTH, V2_MAX_LENGTH, V2_SIGNATURE, type ProxyAddresses } from '../../src/proxy/proxy-protocol/header.js';
import { ipv6Bytes, ipv6Text } from '../../src/proxy/proxy-protocol/ip.js';

const v4: ProxyAddresses = { source: '192.0.2.10', sourcePort: 51234, destination: '198.51.100.1', destinationPort: 443 };
const v6: ProxyAddresses = { source: '2001:db8::10', sourcePort: 40000, destination: '2001:db8:0:1::1', destinationPort: 8443 };

/** A v2 header by hand: command byte, family byte, body (addresses and TLVs). */
function v2(command: number, family: number, body: Buffer): Buffer {
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head);
  head[12] = command;
  head[13] = family;
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}

function tcp4Body(): Buffer {
  return Buffer.from([192, 0, 2, 10, 198, 51, 100, 1, 0xc8, 0x22, 0x01, 0xbb]);
}

function tlv(type: number, value: Buffer): Buffer {
  const t = Buffer.alloc(3);
  t[0] = type;
  t.writeUInt16BE(value.length, 1);
  return Buffer.concat([t, value]);
}

function expectHeader(step: ReadStep): Extract<ReadStep, { kind: 'header' }> {
  assert.equal(step.kind, 'header', step.kind === 'error' ? step.reason : 'needs more bytes');
  return step as Extract<ReadStep, { kind: 'header' }>;
}

function expectError(data: Buffer, pattern: RegExp): void {
  const r = parseProxyHeader(data);
  assert.equal(r.kind, 'error');
  assert.match((r as { reason: string }).reason, pattern);
}

test('v1 TCP4 and TCP6: addresses and ports, and the length of the line', () => {
  const line = 'PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\n';
  const step = expectHeader(new ProxyHeaderReader().feed(Buffer.from(line)));
  assert.deepEqual(step.header, { version: 1, command: 'proxy', addresses: v4, length: line.length });
  assert.equal(step.rest.length, 0);
  const six = expectHeader(new ProxyHeaderReader().feed(Buffer.from('PROXY TCP6 2001:db8::10 2001:db8:0:1::1 40000 8443\r\n')));
  assert.deepEqual(six.header.addresses, v6);
});

test('v1 UNKNOWN (with or without the rest of a line): no addresses, the connection\'s own apply', () => {
  for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n']) {
    const step = expectHeader(new ProxyHeaderReader().feed(Buffer.from(line)));
    assert.equal(step.header.addresses, null);
    assert.equal(step.header.length, line.length);
  }
});

test('the client\'s bytes after the header, in the same read, are handed back whole', () => {
  for (const header of [Buffer.from('PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\n'), encodeV2(v4), encodeV2(v6)]) {
    const request = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const step = expectHeader(new ProxyHeaderReader().feed(Buffer.concat([header, request])));
    assert.deepEqual(step.rest, request);
  }
});

test('a header split at every byte boundary, and byte by byte, reads the same; the rest survives', () => {
  const request = Buffer.from('hello');
  for (const header of [encodeV1(v6), encodeV2(v4), v2(0x21, 0x11, Buffer.concat([tcp4Body(), tlv(0x05, Buffer.from('abc'))]))]) {
    const whole = Buffer.concat([header, request]);
    for (let cut = 1; cut < whole.length; cut++) {
      const reader = new ProxyHeaderReader();
      assert.equal(reader.feed(whole.subarray(0, cut)).kind, cut < header.length ? 'more' : 'header');
      if (cut >= header.length) continue;
      const step = expectHeader(reader.feed(whole.subarray(cut)));
      assert.equal(step.header.length, header.length);
      assert.deepEqual(step.rest, request, `cut at ${cut}`);
    }
    const reader = new ProxyHeaderReader();
    let last: ReadStep = { kind: 'more' };
    for (let i = 0; i < header.length; i++) last = reader.feed(header.subarray(i, i + 1));
    assert.equal(expectHeader(last).header.length, header.length);
  }
});

test('the reader keeps a copy: a read buffer reused after the call does not corrupt a split header', () => {
  const header = encodeV2(v6);
  const reused = Buffer.alloc(header.length);
  const reader = new ProxyHeaderReader();
  header.copy(reused, 0, 0, 20);
  assert.equal(reader.feed(reused.subarray(0, 20)).kind, 'more');
  reused.fill(0xee);
  header.copy(reused, 0, 20);
  const step = expectHeader(reader.feed(reused.subarray(0, header.length - 20)));
  assert.deepEqual(step.header.addresses, v6);
});

test('v2 PROXY over IPv4 and IPv6, LOCAL, AF_UNSPEC and AF_UNIX', () => {
  assert.deepEqual(expectHeader(new ProxyHeaderReader().feed(encodeV2(v4))).header, { version: 2, command: 'proxy', addresses: v4, length: 28 });
  assert.deepEqual(expectHeader(new ProxyHeaderReader().feed(encodeV2(v6))).header.addresses, v6);
  // LOCAL: whatever block follows is skipped unread (here one that would not parse as TCP4).
  const local = expectHeader(new ProxyHeaderReader().feed(v2(0x20, 0x11, Buffer.from([1, 2, 3]))));
  assert.deepEqual(local.header, { version: 2, command: 'local', addresses: null, length: 19 });
  assert.equal(expectHeader(new ProxyHeaderReader().feed(v2(0x21, 0x00, Buffer.alloc(0)))).header.addresses, null);
  assert.equal(expectHeader(new ProxyHeaderReader().feed(v2(0x21, 0x31, Buffer.alloc(216)))).header.addresses, null);
});

test('v2 TLVs are skipped, however many, and the client data after them is kept', () => {
  const body = Buffer.concat([tcp4Body(), tlv(0x01, Buffer.from('h2')), tlv(0x20, Buffer.alloc(300, 7)), tlv(0xea, Buffer.alloc(0)), tlv(0x04, Buffer.alloc(0))]);
  const header = v2(0x21, 0x11, body);
  const step = expectHeader(new ProxyHeaderReader().feed(Buffer.concat([header, Buffer.from('data')])));
  assert.deepEqual(step.header.addresses, v4);
  assert.equal(step.header.length, header.length);
  assert.equal(step.rest.toString(), 'data');
});

test('malformed v2 headers are refused with a reason', () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['version 1 in the v2 slot', v2(0x11, 0x11, tcp4Body()), /version 1/],
    ['unknown command', v2(0x22, 0x11, tcp4Body()), /unknown command/],
    ['datagram transport', v2(0x21, 0x12, tcp4Body()), /not a stream/],
    ['unassigned family', v2(0x21, 0x41, tcp4Body()), /not a stream/],
    ['IPv4 block cut short', v2(0x21, 0x11, Buffer.alloc(8)), /too short/],
    ['IPv6 block cut short', v2(0x21, 0x21, Buffer.alloc(20)), /too short/],
    ['TLV running past the end', v2(0x21, 0x11, Buffer.concat([tcp4Body(), Buffer.from([0x01, 0x00, 0x09, 0x61])])), /runs past/],
    ['a TLV header cut short', v2(0x21, 0x11, Buffer.concat([tcp4Body(), Buffer.from([0x01, 0x00])])), /inside a TLV/],
    ['signature wrong at its 8th byte', Buffer.concat([V2_SIGNATURE.subarray(0, 7), Buffer.from('X')]), /not a PROXY/],
  ];
  for (const [name, data, pattern] of cases) {
    const r = parseProxyHeader(data);
    assert.equal(r.kind, 'error', name);
    assert.match((r as { reason: string }).reason, pattern, name);
  }
});

test('an oversized v2 header is refused as soon as its length field is read, before its body arrives', () => {
  const head = v2(0x21, 0x11, Buffer.alloc(0));
  head.writeUInt16BE(V2_MAX_LENGTH, 14);
  expectError(head, /more than the 4096 accepted/);
  head.writeUInt16BE(V2_MAX_LENGTH - 16, 14);
  assert.equal(parseProxyHeader(head).kind, 'more', 'the longest accepted one waits for its body');
});

test('malformed v1 headers are refused with a reason; an endless line stops at 107 bytes', () => {
  const cases: Array<[string, RegExp]> = [
    ['PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\n', /CRLF/],
    ['PROXY TCP5 192.0.2.10 198.51.100.1 51234 443\r\n', /not TCP4, TCP6 or UNKNOWN/],
    ['PROXY TCP4 2001:db8::1 198.51.100.1 51234 443\r\n', /not IPv4/],
    ['PROXY TCP6 192.0.2.10 2001:db8::1 1 2\r\n', /not IPv6/],
    ['PROXY TCP4 192.0.2.256 198.51.100.1 1 2\r\n', /not IPv4/],
    ['PROXY TCP4 192.0.2.10 198.51.100.1 65536 443\r\n', /port/],
    ['PROXY TCP4 192.0.2.10 198.51.100.1 -1 443\r\n', /port/],
    ['PROXY TCP4  192.0.2.10 198.51.100.1 1 443\r\n', /single spaces/],
    ['PROXY TCP4 192.0.2.10 198.51.100.1 1\r\n', /single spaces/],
    ['PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n', /not IPv6/],
  ];
  for (const [line, pattern] of cases) expectError(Buffer.from(line), pattern);
  const endless = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}`);
  assert.equal(parseProxyHeader(endless.subarray(0, V1_MAX_LENGTH - 1)).kind, 'more');
  expectError(endless.subarray(0, V1_MAX_LENGTH), /107 bytes/);
  // A CRLF just past the limit is still too late.
  const prefix = 'PROXY UNKNOWN ';
  expectError(Buffer.from(`${prefix}${'x'.repeat(V1_MAX_LENGTH - prefix.length - 1)}\r\n`), /107 bytes/);
  const longest = Buffer.from(`${prefix}${'x'.repeat(V1_MAX_LENGTH - prefix.length - 2)}\r\n`);
  assert.equal(longest.length, V1_MAX_LENGTH);
  expectHeader(new ProxyHeaderReader().feed(longest));
});

test('anything that is not a PROXY header is refused at its first wrong byte, without waiting for more', () => {
  for (const start of ['G', 'GET / HTTP/1.1\r\n', 'PROXX', 'proxy ', '\x16\x03\x01', '\r\n\r\nX']) expectError(Buffer.from(start, 'latin1'), /not a PROXY/);
  for (const prefix of ['P', 'PROX', 'PROXY', '\r\n\r\n\0']) assert.equal(parseProxyHeader(Buffer.from(prefix, 'latin1')).kind, 'more', JSON.stringify(prefix));
});

test('encoding: v1 line, v2 LOCAL and UNKNOWN for connections of our own, families made to agree', () => {
  assert.equal(encodeV1(v4).toString(), 'PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\n');
  assert.equal(encodeV1(null).toString(), 'PROXY UNKNOWN\r\n');
  const local = encodeV2(null);
  assert.equal(local.length, 16);
  assert.equal(local[12], 0x20);
  assert.equal(local[13], 0x00);
  // A mapped IPv4 client on a dual-stack listener: both ends IPv4 at heart, sent as TCP4.
  const mapped = { source: '::ffff:192.0.2.10', sourcePort: 1, destination: '::ffff:127.0.0.1', destinationPort: 2 };
  assert.equal(encodeV1(mapped).toString(), 'PROXY TCP4 192.0.2.10 127.0.0.1 1 2\r\n');
  // Mixed families: both as IPv6, the IPv4 one mapped.
  const mixed = { source: '192.0.2.10', sourcePort: 1, destination: '2001:db8::1', destinationPort: 2 };
  assert.equal(encodeV1(mixed).toString(), 'PROXY TCP6 ::ffff:192.0.2.10 2001:db8::1 1 2\r\n');
  const parsed = parseProxyHeader(encodeV2(mixed));
  assert.equal(parsed.kind, 'header');
  assert.deepEqual((parsed as { header: { addresses: unknown } }).header.addresses, { ...mixed, source: '::ffff:192.0.2.10' });
});

test('IPv6 text: RFC 5952 form from bytes, and back', () => {
  const cases: Array<[string, string]> = [
    ['0:0:0:0:0:0:0:1', '::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::ffff:10.1.2.3', '::ffff:10.1.2.3'],
    ['1::', '1::'],
    ['::1.2.3.4', '::102:304'],
  ];
  for (const [input, canonical] of cases) {
    const b = Buffer.alloc(16);
    ipv6Bytes(input, b, 0);
    assert.equal(ipv6Text(b, 0), canonical, input);
  }
});

const port = fc.integer({ min: 0, max: 65535 });
const ipv4 = fc.ipV4();
/** IPv6 addresses from random bytes, zero runs made likely so `::` gets exercised. */
const ipv6 = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }).map((groups) => {
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, 2 * i));
  return ipv6Text(b, 0);
});

test('property: any addresses encode and parse back to themselves, in v1 and v2, with the client data intact', () => {
  const addresses = fc.oneof(
    fc.record({ source: ipv4, sourcePort: port, destination: ipv4, destinationPort: port }),
    fc.record({ source: ipv6, sourcePort: port, destination: ipv6, destinationPort: port }).filter((a) => !a.source.startsWith('::ffff:') && !a.destination.startsWith('::ffff:')),
  );
  fc.assert(
    fc.property(addresses, fc.boolean(), fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 200 }), (a, useV2, data, cut) => {
      assert.ok(isIP(a.source) !== 0 && isIP(a.destination) !== 0);
      const header = useV2 ? encodeV2(a) : encodeV1(a);
      if (!useV2) assert.ok(header.length <= V1_MAX_LENGTH);
      const whole = Buffer.concat([header, data]);
      const reader = new ProxyHeaderReader();
      const at = Math.min(cut, whole.length);
      let step = reader.feed(whole.subarray(0, at));
      if (step.kind === 'more') step = reader.feed(whole.subarray(at));
      else step = { ...expectHeader(step), rest: Buffer.concat([expectHeader(step).rest, whole.subarray(at)]) };
      const got = expectHeader(step);
      // fc.record builds objects without a prototype; compare the fields.
      assert.deepEqual(got.header.addresses, { ...a });
      assert.deepEqual(got.rest, Buffer.from(data));
    }),
    { seed: 15, numRuns: 500 },
  );
});

test('property: random bytes never throw, and are never taken for a header unless they start with a signature', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const data = Buffer.from(bytes);
      const r = parseProxyHeader(data);
      if (r.kind === 'header') assert.ok(data.subarray(0, 6).toString('latin1') === 'PROXY ' || data.subarray(0, 12).equals(V2_SIGNATURE));
    }),
    { seed: 15, numRuns: 2000 },
  );
  // The same bytes after a valid v2 signature exercise the length, family and TLV checks.
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4, maxLength: 300 }), (bytes) => {
      const r = parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from(bytes)]));
      if (r.kind === 'header') assert.ok(r.header.length <= 12 + bytes.length);
    }),
    { seed: 15, numRuns: 2000 },
  );
});
