/**
 * Scanning HTTP/1.1 header lines byte by byte, for the JavaScript fast paths of the request
 * and response heads (request-head.ts, response-reader.ts). Strict as llhttp's strict mode or
 * stricter: a line it is not sure of makes the scan fail, and the caller gives the bytes to
 * llhttp instead.
 */

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;
const COLON = 58;

/** RFC 9110 tchar: what a header name may hold. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TOKEN[c] = 1;
for (let c = 65; c <= 90; c++) TOKEN[c] = 1;
for (let c = 97; c <= 122; c++) TOKEN[c] = 1;

/** Bytes a header value or reason phrase may hold: HTAB, space, visible ASCII, obs-text. */
export const VALUE = new Uint8Array(256);
VALUE[HTAB] = 1;
for (let c = 32; c <= 126; c++) VALUE[c] = 1;
for (let c = 128; c <= 255; c++) VALUE[c] = 1;

/** Where a scan put the header fields: four offsets each (name start, name end, value start, value end). */
export class HeadFields {
  /** Room for 100 fields; a head with more is left to llhttp. */
  readonly at = new Int32Array(400);
  /** Offsets used: 4 per field. */
  length = 0;
}

/**
 * Reads header lines from `i` up to and including the blank line that ends the head, within
 * `b[0, limit)`. Returns the offset after that blank line, or -1 when the head does not end
 * before `limit` or has a line the fast paths do not take (no colon, a space before it, an
 * empty name, obs-fold, a bare CR or LF, a control byte, more than 100 fields). Values are
 * recorded without the blanks around them, as llhttp gives them.
 */
export function headerLines(b: Buffer, i: number, limit: number, out: HeadFields): number {
  const at = out.at;
  let used = 0;
  for (;;) {
    if (i >= limit) return -1;
    if (b[i] === CR) {
      if (i + 1 >= limit || b[i + 1] !== LF) return -1;
      out.length = used;
      return i + 2;
    }
    const nameStart = i;
    while (i < limit && TOKEN[b[i]!] === 1) i++;
    if (i === nameStart || i >= limit || b[i] !== COLON) return -1;
    const nameEnd = i++;
    while (i < limit && (b[i] === SP || b[i] === HTAB)) i++;
    const valueStart = i;
    while (i < limit && VALUE[b[i]!] === 1) i++;
    if (i + 1 >= limit || b[i] !== CR || b[i + 1] !== LF) return -1;
    let valueEnd = i;
    while (valueEnd > valueStart && (b[valueEnd - 1] === SP || b[valueEnd - 1] === HTAB)) valueEnd--;
    i += 2;
    if (used === at.length) return -1;
    at[used++] = nameStart;
    at[used++] = nameEnd;
    at[used++] = valueStart;
    at[used++] = valueEnd;
  }
}

/** Whether `b` at `from` holds `lower` in any letter case (`lower`: lower-case letters and '-'). */
export function sameLower(b: Buffer, from: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) if ((b[from + k]! | 0x20) !== lower.charCodeAt(k)) return false;
  return true;
}

/**
 * A Connection header's value as the fast paths take it: true for `keep-alive`, false for
 * `close` (any letter case), null for anything else (a list, `upgrade`: left to llhttp).
 */
export function connectionKeepAlive(b: Buffer, from: number, to: number): boolean | null {
  const length = to - from;
  if (length === 10 && sameLower(b, from, 'keep-alive')) return true;
  if (length === 5 && sameLower(b, from, 'close')) return false;
  return null;
}

/** The decimal number in `b[from, to)`, or -1 when empty, not all digits, or over 15 digits. */
export function decimal(b: Buffer, from: number, to: number): number {
  if (to === from || to - from > 15) return -1;
  let v = 0;
  for (let k = from; k < to; k++) {
    const d = b[k]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** The head's fields as llhttp gives them (name, value, name, value...), cut from `text`, the head read from offset `base`. */
export function fieldStrings(text: string, base: number, out: HeadFields): string[] {
  const at = out.at;
  const headers = new Array<string>(out.length >> 1);
  for (let f = 0, h = 0; f < out.length; f += 2, h++) headers[h] = text.slice(at[f]! - base, at[f + 1]! - base);
  return headers;
}
