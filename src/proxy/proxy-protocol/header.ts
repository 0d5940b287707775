/**
 * The PROXY protocol (HAProxy's spec, versions 1 and 2): what a header says and the limits a
 * receiver keeps. A proxy in front of us (HAProxy `send-proxy`, AWS NLB, another Ballast)
 * puts one header at the very start of a TCP connection to tell the next hop who the client
 * really was; everything after it is the client's own bytes.
 *
 * Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */

/** The two endpoints of the client's original connection. */
export interface ProxyAddresses {
  /** The client: an IPv4 or IPv6 literal, as Node prints them (`::ffff:a.b.c.d` for mapped ones). */
  source: string;
  sourcePort: number;
  /** Where the client connected to (the first proxy's listening address). */
  destination: string;
  destinationPort: number;
}

export interface ProxyHeader {
  version: 1 | 2;
  /**
   * `proxy`: relayed on behalf of a client. `local` (v2 only): the sender's own connection, its
   * health check say; the connection's real endpoints apply.
   */
  command: 'proxy' | 'local';
  /**
   * The client's endpoints, or null when the header carries none the receiver may use (LOCAL,
   * v1 `UNKNOWN`, v2 AF_UNSPEC or AF_UNIX): then the connection's real endpoints apply.
   */
  addresses: ProxyAddresses | null;
  /** Bytes the header took at the start of the stream; the client's data begins after them. */
  length: number;
}

/** v1 is one text line of at most 107 bytes, CRLF included (the spec's worst case, TCP6). */
export const V1_MAX_LENGTH = 107;

/** The 12 bytes that open a v2 header; chosen by the spec to be invalid in any text protocol. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** Signature, version and command, family and transport, and the 16-bit length of what follows. */
export const V2_FIXED_LENGTH = 16;

/**
 * The longest v2 header accepted, TLVs included. The spec allows 16 + 65535 bytes, but a header
 * is held in memory before the connection is admitted, so a sender could make each pending
 * connection cost 64 KiB. Real ones are far smaller: addresses (at most 216 bytes, AF_UNIX)
 * plus a few TLVs (AWS's VPC endpoint id, HAProxy's TLS version and client certificate CN).
 */
export const V2_MAX_LENGTH = 4096;

/** v2 address families (high nibble of byte 13) with the stream transport (low nibble 1). */
export const V2_TCP4 = 0x11;
export const V2_TCP6 = 0x21;
export const V2_UNIX_STREAM = 0x31;
export const V2_UNSPEC = 0x00;
/** Address block lengths per family. */
export const V2_TCP4_LENGTH = 12;
export const V2_TCP6_LENGTH = 36;
export const V2_UNIX_LENGTH = 216;
/** Version 2 in the high nibble, LOCAL (0) or PROXY (1) in the low one. */
export const V2_LOCAL = 0x20;
export const V2_PROXY = 0x21;
