/**
 * Writing a PROXY protocol header for a backend connection: v1 (one text line, what most
 * servers read: nginx `proxy_protocol`, Postfix, older HAProxy) or v2 (binary, what HAProxy
 * `accept-proxy` and most cloud balancers prefer). No TLVs are sent.
 *
 * Both ends of a header must be of one family. A client reached over IPv4 on a listener that
 * reports IPv6 (a dual-stack `::` listener says `::ffff:a.b.c.d`) is written as IPv4 when
 * both addresses are IPv4 at heart, else both as IPv6, IPv4 ones mapped (`::ffff:a.b.c.d`).
 */
import { isIP } from 'node:net';
import {
  V2_FIXED_LENGTH,
  V2_LOCAL,
  V2_PROXY,
  V2_SIGNATURE,
  V2_TCP4,
  V2_TCP4_LENGTH,
  V2_TCP6,
  V2_TCP6_LENGTH,
  V2_UNSPEC,
  type ProxyAddresses,
} from './header.js';
import { ipv4Bytes, ipv6Bytes, unmappedIpv4 } from './ip.js';

export type ProxyVersion = 'v1' | 'v2';

/** The addresses with both ends in one family; null when one is not an IP literal (nothing to say then). */
function sameFamily(a: ProxyAddresses): { family: 4 | 6; source: string; destination: string } | null {
  const source = unmappedIpv4(a.source) ?? a.source;
  const destination = unmappedIpv4(a.destination) ?? a.destination;
  const fs = isIP(source);
  const fd = isIP(destination);
  if (fs === 0 || fd === 0) return null;
  if (fs === 4 && fd === 4) return { family: 4, source, destination };
  return { family: 6, source: fs === 4 ? `::ffff:${source}` : source, destination: fd === 4 ? `::ffff:${destination}` : destination };
}

/** Drops a `%zone` suffix: it means nothing to the receiver, and v1 has no room for it. */
function noZone(address: string): string {
  const i = address.indexOf('%');
  return i < 0 ? address : address.slice(0, i);
}

/** `PROXY TCP4 ...\r\n`, or `PROXY UNKNOWN\r\n` for a connection of our own (a health check). */
export function encodeV1(a: ProxyAddresses | null): Buffer {
  const s = a === null ? null : sameFamily(a);
  if (s === null || a === null) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(`PROXY TCP${s.family} ${noZone(s.source)} ${noZone(s.destination)} ${a.sourcePort} ${a.destinationPort}\r\n`, 'latin1');
}

/** The binary header: PROXY with the addresses, or LOCAL (AF_UNSPEC, no addresses) for a connection of our own. */
export function encodeV2(a: ProxyAddresses | null): Buffer {
  const s = a === null ? null : sameFamily(a);
  if (s === null || a === null) {
    const out = Buffer.alloc(V2_FIXED_LENGTH);
    V2_SIGNATURE.copy(out, 0);
    out[12] = V2_LOCAL;
    out[13] = V2_UNSPEC;
    return out;
  }
  const v4 = s.family === 4;
  const addressLength = v4 ? V2_TCP4_LENGTH : V2_TCP6_LENGTH;
  const out = Buffer.alloc(V2_FIXED_LENGTH + addressLength);
  V2_SIGNATURE.copy(out, 0);
  out[12] = V2_PROXY;
  out[13] = v4 ? V2_TCP4 : V2_TCP6;
  out.writeUInt16BE(addressLength, 14);
  const at = V2_FIXED_LENGTH;
  if (v4) {
    ipv4Bytes(s.source, out, at);
    ipv4Bytes(s.destination, out, at + 4);
    out.writeUInt16BE(a.sourcePort, at + 8);
    out.writeUInt16BE(a.destinationPort, at + 10);
  } else {
    ipv6Bytes(s.source, out, at);
    ipv6Bytes(s.destination, out, at + 16);
    out.writeUInt16BE(a.sourcePort, at + 32);
    out.writeUInt16BE(a.destinationPort, at + 34);
  }
  return out;
}

export function encodeProxyHeader(version: ProxyVersion, a: ProxyAddresses | null): Buffer {
  return version === 'v1' ? encodeV1(a) : encodeV2(a);
}
