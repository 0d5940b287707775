/**
 * Reading a PROXY protocol header (v1 or v2) from the start of a connection, as its bytes
 * arrive: the header may come split over several reads, and the client's first bytes may
 * share a read with it (they are handed back, never dropped).
 *
 * Hand-written rather than a general parser: it runs once per connection before anything
 * else, on bytes from the network, and must refuse early and cheaply. A stream whose first
 * bytes cannot begin either signature is refused at the first read, without waiting for a
 * whole line; nothing is held beyond the longest header allowed (107 bytes for v1,
 * V2_MAX_LENGTH for v2). Whatever is wrong, the answer is a reason string, never a throw.
 *
 * API: `parseProxyHeader(bytes)` looks at everything received so far (stateless, for tests
 * and property checks); `ProxyHeaderReader.feed(chunk)` keeps the bytes of a header not yet
 * whole (a copy: a read's buffer may be reused after the call) and says when it is.
 */
import { isIP } from 'node:net';
import {
  V1_MAX_LENGTH,
  V2_FIXED_LENGTH,
  V2_LOCAL,
  V2_MAX_LENGTH,
  V2_PROXY,
  V2_SIGNATURE,
  V2_TCP4,
  V2_TCP4_LENGTH,
  V2_TCP6,
  V2_TCP6_LENGTH,
  V2_UNIX_LENGTH,
  V2_UNIX_STREAM,
  V2_UNSPEC,
  type ProxyAddresses,
  type ProxyHeader,
} from './header.js';
import { ipv4Text, ipv6Text } from './ip.js';

export type ParseOutcome = { kind: 'more' } | { kind: 'error'; reason: string } | { kind: 'header'; header: ProxyHeader };

/** Shared: the usual answer while a header is still arriving allocates nothing. */
const MORE: ParseOutcome = { kind: 'more' };

const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');
const CR = 0x0d;
const LF = 0x0a;

function error(reason: string): ParseOutcome {
  return { kind: 'error', reason };
}

/** True when the first min(length, sig.length) bytes of `data` match `sig`. */
function startsLike(data: Buffer, sig: Buffer): boolean {
  const n = Math.min(data.length, sig.length);
  for (let i = 0; i < n; i++) if (data[i] !== sig[i]) return false;
  return true;
}

/** Looks at the bytes received so far: a whole header, a reason to refuse, or "need more". */
export function parseProxyHeader(data: Buffer): ParseOutcome {
  if (data.length === 0) return MORE;
  if (data[0] === V1_SIGNATURE[0]) return startsLike(data, V1_SIGNATURE) ? parseV1(data) : error('not a PROXY protocol header');
  if (data[0] === V2_SIGNATURE[0]) return startsLike(data, V2_SIGNATURE) ? parseV2(data) : error('not a PROXY protocol header');
  return error('not a PROXY protocol header');
}

/** A decimal port, 0 to 65535, digits only. */
function port(text: string): number {
  if (!/^\d{1,5}$/.test(text)) return -1;
  const n = Number(text);
  return n <= 65535 ? n : -1;
}

function parseV1(data: Buffer): ParseOutcome {
  if (data.length < V1_SIGNATURE.length) return MORE;
  const limit = Math.min(data.length, V1_MAX_LENGTH);
  const lf = data.indexOf(LF, V1_SIGNATURE.length);
  if (lf < 0 || lf >= limit) {
    return data.length >= V1_MAX_LENGTH ? error(`v1 header without CRLF in its first ${V1_MAX_LENGTH} bytes`) : MORE;
  }
  if (data[lf - 1] !== CR) return error('v1 header line not ended by CRLF');
  const length = lf + 1;
  const line = data.toString('latin1', V1_SIGNATURE.length, lf - 1);
  // The spec: after UNKNOWN the receiver ignores the rest of the line and uses the real endpoints.
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return header(1, 'proxy', null, length);
  const parts = line.split(' ');
  if (parts.length !== 5) return error('v1 header needs: TCP4|TCP6 SOURCE DESTINATION SOURCE_PORT DESTINATION_PORT, single spaces');
  const [proto, source, destination, sp, dp] = parts as [string, string, string, string, string];
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  if (family === 0) return error(`v1 protocol "${proto.slice(0, 16)}" is not TCP4, TCP6 or UNKNOWN`);
  if (isIP(source) !== family || isIP(destination) !== family || source.includes('%') || destination.includes('%')) {
    return error(`v1 ${proto} header with an address that is not IPv${family}`);
  }
  const sourcePort = port(sp);
  const destinationPort = port(dp);
  if (sourcePort < 0 || destinationPort < 0) return error('v1 header port is not a number from 0 to 65535');
  return header(1, 'proxy', { source, sourcePort, destination, destinationPort }, length);
}

function parseV2(data: Buffer): ParseOutcome {
  if (data.length < V2_FIXED_LENGTH) return MORE;
  const versionCommand = data[12]!;
  if (versionCommand >> 4 !== 2) return error(`v2 header with version ${versionCommand >> 4}`);
  if (versionCommand !== V2_LOCAL && versionCommand !== V2_PROXY) return error(`v2 header with unknown command ${versionCommand & 0xf}`);
  const family = data[13]!;
  const bodyLength = data.readUInt16BE(14);
  const length = V2_FIXED_LENGTH + bodyLength;
  if (length > V2_MAX_LENGTH) return error(`v2 header of ${length} bytes, more than the ${V2_MAX_LENGTH} accepted`);
  if (data.length < length) return MORE;
  // LOCAL: the sender speaks for itself; the spec has the receiver skip the block unread.
  if (versionCommand === V2_LOCAL) return header(2, 'local', null, length);
  let addressLength: number;
  switch (family) {
    case V2_TCP4:
      addressLength = V2_TCP4_LENGTH;
      break;
    case V2_TCP6:
      addressLength = V2_TCP6_LENGTH;
      break;
    case V2_UNIX_STREAM:
      addressLength = V2_UNIX_LENGTH;
      break;
    case V2_UNSPEC:
      addressLength = 0;
      break;
    default:
      // Datagram transports and unassigned values: the spec has the receiver drop the connection.
      return error(`v2 header with address family and transport 0x${family.toString(16).padStart(2, '0')}, not a stream one`);
  }
  if (bodyLength < addressLength) return error(`v2 header too short for its addresses (${bodyLength} < ${addressLength} bytes)`);
  const tlvProblem = checkTlvs(data, V2_FIXED_LENGTH + addressLength, length);
  if (tlvProblem !== undefined) return error(tlvProblem);
  const at = V2_FIXED_LENGTH;
  let addresses: ProxyAddresses | null = null;
  if (family === V2_TCP4) {
    addresses = { source: ipv4Text(data, at), sourcePort: data.readUInt16BE(at + 8), destination: ipv4Text(data, at + 4), destinationPort: data.readUInt16BE(at + 10) };
  } else if (family === V2_TCP6) {
    addresses = { source: ipv6Text(data, at), sourcePort: data.readUInt16BE(at + 32), destination: ipv6Text(data, at + 16), destinationPort: data.readUInt16BE(at + 34) };
  }
  // AF_UNSPEC and AF_UNIX carry no IP endpoint: the connection's own apply (the spec's advice).
  return header(2, 'proxy', addresses, length);
}

/**
 * TLVs (type, 16-bit length, value) fill the header after the addresses. Their contents are
 * not used, but each must fit: one running past the header's declared end means the sender
 * and we disagree on where the client's data starts, so nothing after it can be trusted.
 */
function checkTlvs(data: Buffer, from: number, end: number): string | undefined {
  let at = from;
  while (at < end) {
    if (end - at < 3) return 'v2 header ends inside a TLV';
    const next = at + 3 + data.readUInt16BE(at + 1);
    if (next > end) return `v2 TLV of type 0x${data[at]!.toString(16).padStart(2, '0')} runs past the end of the header`;
    at = next;
  }
  return undefined;
}

function header(version: 1 | 2, command: 'proxy' | 'local', addresses: ProxyAddresses | null, length: number): ParseOutcome {
  return { kind: 'header', header: { version, command, addresses, length } };
}

export type ReadStep =
  | { kind: 'more' }
  | { kind: 'error'; reason: string }
  /** `rest`: the client's bytes that came after the header in the same read (a view of that read's chunk or of the kept copy). */
  | { kind: 'header'; header: ProxyHeader; rest: Buffer };

/** One connection's header, fed read by read. */
export class ProxyHeaderReader {
  /** A copy of the bytes of a header not yet whole; null while nothing is held. */
  private held: Buffer | null = null;

  feed(chunk: Buffer): ReadStep {
    const data = this.held === null ? chunk : Buffer.concat([this.held, chunk]);
    const outcome = parseProxyHeader(data);
    if (outcome.kind === 'more') {
      // Bounded: parseProxyHeader says "more" only below the longest header allowed.
      this.held = data === chunk ? Buffer.from(chunk) : data;
      return MORE as ReadStep;
    }
    this.held = null;
    if (outcome.kind === 'error') return outcome;
    return { kind: 'header', header: outcome.header, rest: data.subarray(outcome.header.length) };
  }
}
