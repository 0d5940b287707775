/**
 * A fast 64-bit non-cryptographic hash for affinity keys (beta1's rendezvous hashing, warm-up
 * admission and hot-key counting), written with 32-bit integer operations because BigInt is
 * far too slow for a per-request path.
 *
 * Strings: FNV-1a 64 over UTF-16 code units (its prime 2^40 + 0x1b3 multiplies with a shift and
 * one small product), then MurmurHash3's fmix64 finalizer, which FNV needs because its own
 * high bits avalanche poorly. Combining two hashes (key with backend) is `fmix64(a ^ b)`; fmix64
 * is a bijection with full avalanche, so each backend sees an independent-looking score.
 *
 * Results go into a caller-owned `Hash64` so nothing is allocated per call. Not for security:
 * anyone can craft colliding keys; bounded loads, not the hash, protect the backends.
 */

/** A 64-bit value as two unsigned 32-bit halves; reuse one instance per call site. */
export class Hash64 {
  hi = 0;
  lo = 0;
}

const TWO_32 = 4294967296;
const TWO_53 = 9007199254740992;

/** out = (ah:al) * (bh:bl) mod 2^64. */
function mul64(out: Hash64, ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  out.lo = ((mid << 16) | (p00 & 0xffff)) >>> 0;
  // Every term is an integer below 2^53, so the double sum is exact before the mod 2^32.
  out.hi = (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/** MurmurHash3's 64-bit finalizer, in place. */
export function fmix64(h: Hash64): void {
  // k ^= k >>> 33 only touches the low word: the high word shifted by one.
  h.lo = (h.lo ^ (h.hi >>> 1)) >>> 0;
  mul64(h, h.hi, h.lo, 0xff51afd7, 0xed558ccd);
  h.lo = (h.lo ^ (h.hi >>> 1)) >>> 0;
  mul64(h, h.hi, h.lo, 0xc4ceb9fe, 0x1a85ec53);
  h.lo = (h.lo ^ (h.hi >>> 1)) >>> 0;
}

/** out = hash of `s` (FNV-1a 64 + fmix64). `seed` (32 bits) gives independent hash families. */
export function hashString64(s: string, out: Hash64, seed = 0): void {
  let hi = (0xcbf29ce4 ^ seed) >>> 0;
  let lo = 0x84222325;
  for (let i = 0; i < s.length; i++) {
    lo = (lo ^ s.charCodeAt(i)) >>> 0;
    // (hi:lo) * (2^40 + 0x1b3): the 2^40 part adds lo << 8 to the high word.
    const loProd = lo * 0x1b3;
    const carry = Math.floor(loProd / TWO_32);
    hi = (hi * 0x1b3 + carry + (lo << 8)) >>> 0;
    lo = loProd >>> 0;
  }
  out.hi = hi;
  out.lo = lo;
  fmix64(out);
}

/** out = fmix64(a ^ (bh:bl)): a well-mixed hash of the pair, e.g. key with backend. */
export function combine64(out: Hash64, a: Hash64, bh: number, bl: number): void {
  out.hi = (a.hi ^ bh) >>> 0;
  out.lo = (a.lo ^ bl) >>> 0;
  fmix64(out);
}

/** The top 53 bits as a double strictly inside (0, 1), so `Math.log` of it is finite and negative. */
export function unitInterval(h: Hash64): number {
  return ((h.hi >>> 11) * TWO_32 + h.lo + 0.5) / TWO_53;
}

/** Lower-case hex of the 64 bits (for showing a key without revealing it). */
export function hex64(h: Hash64): string {
  return h.hi.toString(16).padStart(8, '0') + h.lo.toString(16).padStart(8, '0');
}
