/**
 * Address ranges in CIDR notation (`10.0.0.0/8`, `::1/128`, or a bare address), matched with
 * node's own net.BlockList: a well-kept subnet matcher, no hand-written bit twiddling.
 * IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, as dual-stack sockets report IPv4 peers)
 * match the IPv4 ranges.
 */
import { BlockList, isIP } from 'node:net';

/** Parses `addr/prefix` or `addr`; throws an Error saying what is wrong. */
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

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

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

  /** True when `address` (as a socket reports it) lies in one of the ranges. */
  has(address: string): boolean {
    if (this.empty || address === '') return false;
    const mapped = MAPPED_V4.exec(address);
    if (mapped !== null) return this.list.check(mapped[1]!, 'ipv4');
    const version = isIP(address);
    return version !== 0 && this.list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }
}
