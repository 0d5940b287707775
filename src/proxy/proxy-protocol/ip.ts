/**
 * IP addresses between their text form and the bytes a v2 PROXY header carries. Node has
 * no public converter (net.BlockList and net.SocketAddress only take text), so these are
 * written out; the text side is always checked with net.isIP first, so parsing here only
 * has to handle valid literals.
 */

/** 4 bytes from a valid IPv4 literal. */
export function ipv4Bytes(text: string, out: Buffer, at: number): void {
  let part = 0;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      out[at + part++] = n;
      n = 0;
    } else {
      n = n * 10 + (c - 0x30);
    }
  }
  out[at + part] = n;
}

export function ipv4Text(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** 16 bytes from a valid IPv6 literal: `::` runs, an embedded IPv4 tail and a `%zone` (dropped) allowed. */
export function ipv6Bytes(text: string, out: Buffer, at: number): void {
  const zone = text.indexOf('%');
  const addr = zone < 0 ? text : text.slice(0, zone);
  const gap = addr.indexOf('::');
  const head = gap < 0 ? addr : addr.slice(0, gap);
  const tail = gap < 0 ? '' : addr.slice(gap + 2);
  const headBytes = groupBytes(head);
  const tailBytes = groupBytes(tail);
  out.fill(0, at, at + 16);
  for (let i = 0; i < headBytes.length; i++) out[at + i] = headBytes[i]!;
  const tailAt = at + 16 - tailBytes.length;
  for (let i = 0; i < tailBytes.length; i++) out[tailAt + i] = tailBytes[i]!;
}

/** The bytes of colon-separated hex groups, the last of which may be a dotted IPv4 address. */
function groupBytes(part: string): number[] {
  if (part === '') return [];
  const bytes: number[] = [];
  for (const g of part.split(':')) {
    if (g.includes('.')) {
      const v4 = Buffer.alloc(4);
      ipv4Bytes(g, v4, 0);
      bytes.push(...v4);
    } else {
      const n = parseInt(g, 16);
      bytes.push(n >> 8, n & 0xff);
    }
  }
  return bytes;
}

/**
 * RFC 5952 text of 16 bytes: lower-case hex, no leading zeros, the longest run of two or more
 * zero groups as `::` (the first such run on a tie), and IPv4-mapped addresses as
 * `::ffff:a.b.c.d`, which is how Node reports an IPv4 peer on a dual-stack socket.
 */
export function ipv6Text(b: Buffer, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[at + 2 * i]! << 8) | b[at + 2 * i + 1]!);
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${ipv4Text(b, at + 12)}`;
  }
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

/** `a.b.c.d` for an IPv4-mapped IPv6 literal (`::ffff:a.b.c.d`), else undefined. */
export function unmappedIpv4(text: string): string | undefined {
  if (text.length < 14 || !/^::ffff:/i.test(text)) return undefined;
  const v4 = text.slice(7);
  return /^\d{1,3}(?:\.\d{1,3}){3}$/.test(v4) ? v4 : undefined;
}
