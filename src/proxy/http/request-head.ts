/**
 * A JavaScript fast path for the plainest request: a read that holds exactly one whole head,
 * and nothing after it, of a request that has no body.
 *
 * Why: a client request read through llhttp costs a parser lent and initialised, two calls
 * from C++ into JavaScript (head, end) and header strings built one by one in C++; for the
 * GETs that make up most of a proxy's traffic that is a large share of the L7 path's
 * JavaScript-side cost (docs/operations.md, Performance).
 *
 * Request smuggling lives in disagreements about where a body ends, so this path takes no
 * request that has one or might: any Content-Length or Transfer-Encoding header declines, as
 * do Upgrade, Expect, Proxy-Connection (which llhttp reads as Connection), CONNECT, HTTP versions other than 1.0 and 1.1, a target that is not
 * origin-form in plain characters, a header byte outside what llhttp's strict mode accepts,
 * obs-fold, a space before a colon, an unusual Connection header, a large head, and any byte
 * after the head (pipelining). Declining is always safe: the caller gives the same bytes to
 * llhttp. test/proxy/request-head.test.ts holds every head this path takes to what llhttp
 * reads from the same bytes.
 */
import { METHODS } from './llhttp.js';
import { CR, HeadFields, LF, SP, connectionKeepAlive, fieldStrings, headerLines, sameLower } from './head-scan.js';

export interface SimpleRequest {
  /** llhttp's method number (`methodName` gives the name), as its own callback passes it. */
  method: number;
  url: string;
  versionMinor: number;
  /** Name, value, name, value... as llhttp gives them: names as sent, values without surrounding blanks. */
  headers: string[];
  keepAlive: boolean;
}

/** Methods the fast path reads, by their first byte; each must be followed by a space. */
const FAST_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'].map((name) => ({
  name,
  bytes: Buffer.from(`${name} `, 'latin1'),
  index: METHODS.indexOf(name),
}));

/**
 * Bytes of an origin-form target the fast path takes: RFC 3986's unreserved and reserved
 * characters and '%', but not '#' (a fragment has no place in a request).
 */
const TARGET = new Uint8Array(256);
for (const c of "-._~:/?[]@!$&'()*+,;=%") TARGET[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TARGET[c] = 1;
for (let c = 65; c <= 90; c++) TARGET[c] = 1;
for (let c = 97; c <= 122; c++) TARGET[c] = 1;

/** Heads larger than this (or than half the configured limit) go to llhttp, which enforces the limit. */
const MAX_FAST_HEAD = 8192;

/** The fields of the head being read (one at a time: reading never yields). */
const FIELDS = new HeadFields();

/**
 * The request in `b` if `b` is exactly one head the fast path takes, else null (nothing is
 * consumed: give `b` to llhttp).
 */
export function readSimpleRequest(b: Buffer, maxHeaderBytes: number): SimpleRequest | null {
  const n = b.length;
  if (n < 18 || n > MAX_FAST_HEAD || n * 2 > maxHeaderBytes || b[n - 1] !== LF || b[n - 2] !== CR || b[n - 3] !== LF || b[n - 4] !== CR) return null;
  let method = -1;
  let i = 0;
  for (let m = 0; m < FAST_METHODS.length; m++) {
    const candidate = FAST_METHODS[m]!;
    const bytes = candidate.bytes;
    if (b[0] !== bytes[0] || b[1] !== bytes[1]) continue;
    let k = 2;
    while (k < bytes.length && b[k] === bytes[k]) k++;
    if (k === bytes.length) {
      method = candidate.index;
      i = k;
    }
    break;
  }
  if (method < 0) return null;

  // Origin-form target, then " HTTP/1.x\r\n".
  const targetStart = i;
  if (b[i] !== 0x2f) return null; // '/'
  while (i < n && TARGET[b[i]!] === 1) i++;
  const targetEnd = i;
  if (
    i + 10 > n ||
    b[i] !== SP || b[i + 1] !== 72 || b[i + 2] !== 84 || b[i + 3] !== 84 || b[i + 4] !== 80 ||
    b[i + 5] !== 47 || b[i + 6] !== 49 || b[i + 7] !== 46 || b[i + 9] !== CR || b[i + 10] !== LF
  ) return null;
  const minor = b[i + 8]! - 48;
  if (minor !== 0 && minor !== 1) return null;
  i += 11;

  const fields = FIELDS;
  if (headerLines(b, i, n, fields) !== n) return null; // malformed, too many fields, or bytes after the head
  const at = fields.at;
  let keepAlive = minor === 1;
  let connections = 0;
  for (let f = 0; f < fields.length; f += 4) {
    const nameStart = at[f]!;
    const nameLength = at[f + 1]! - nameStart;
    switch (nameLength) {
      case 14: // a body, or a claim of one
        if (sameLower(b, nameStart, 'content-length')) return null;
        break;
      case 17:
        if (sameLower(b, nameStart, 'transfer-encoding')) return null;
        break;
      case 7:
        if (sameLower(b, nameStart, 'upgrade')) return null;
        break;
      case 6:
        if (sameLower(b, nameStart, 'expect')) return null;
        break;
      case 16: // llhttp reads it as Connection: left to it
        if (sameLower(b, nameStart, 'proxy-connection')) return null;
        break;
      case 10: {
        if (!sameLower(b, nameStart, 'connection')) break;
        if (++connections > 1) return null;
        const said = connectionKeepAlive(b, at[f + 2]!, at[f + 3]!);
        if (said === null) return null;
        keepAlive = said;
        break;
      }
    }
  }

  // Taken: one string for the head, every field cut from it.
  const text = b.toString('latin1', 0, n);
  const headers = fieldStrings(text, 0, fields);
  return { method, url: text.slice(targetStart, targetEnd), versionMinor: minor, headers, keepAlive };
}
