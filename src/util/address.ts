/**
 * IP addresses and ranges, on node's own parser and subnet matcher (net.isIP, net.BlockList):
 * well kept, and no hand-written bit twiddling. BlockList matches IPv4-mapped IPv6 addresses
 * (`::ffff:10.1.2.3`, as dual-stack sockets report IPv4 peers) against IPv4 ranges.
 *
 * - `isLoopback`: whether a listen address keeps a server on this machine. The config check
 *   that refuses an admin server beyond loopback without a token, and the warning when that
 *   is allowed anyway, both ask it, so the two can never disagree. Only IP literals are judged
 *   by value (`127.0.0.2` and `::1` are loopback, `127.foo`, a DNS name, is not) plus the name
 *   `localhost`, which resolves to loopback by convention (RFC 6761).
 * - `AddressRanges`: CIDR ranges such as proxy.trustedProxies.
 */
import { BlockList, isIP } from 'node:net';

/** Parses `addr/prefix` or a bare `addr`; throws an Error saying what is wrong. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) throw new Error(`"${text}" is not an IP address or CIDR range`);
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) throw new Error(`"${text}": the prefix length must be 0 to ${max}`);
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

export class AddressRanges {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(ranges: readonly string[]) {
    for (const r of ranges) {
      const { address, prefix, family } = parseCidr(r);
      this.list.addSubnet(address, prefix, family);
    }
    this.empty = ranges.length === 0;
  }

  /** True when `address` (an IP literal, as a socket reports it) lies in one of the ranges. */
  has(address: string): boolean {
    if (this.empty) return false;
    const version = isIP(address);
    return version !== 0 && this.list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }
}

const LOOPBACK = new AddressRanges(['127.0.0.0/8', '::1']);

/** True for 127.0.0.0/8, ::1 (any spelling, IPv4-mapped too) and `localhost`; brackets allowed. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || LOOPBACK.has(h);
}
