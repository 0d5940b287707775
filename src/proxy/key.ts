/**
 * The affinity key of a request, from where the running strategy's definition says
 * (`requestKey`, e.g. beta1's `key` config): a header, a query parameter, the path, a cookie or
 * the client address. Only computed when the running strategy asks for one.
 */
import type { KeySpec } from '../strategies/types.js';

export interface KeySource {
  /** Lower-case header name when the key is a header, else ''. */
  readonly header: string;
  readonly wantCookie: boolean;
  /** The key, given what the request rewrite captured. */
  extract(url: string, headerValue: string | undefined, cookie: string | undefined, clientIp: string): string | undefined;
}

function queryParam(url: string, name: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  let i = q + 1;
  while (i < url.length) {
    let end = url.indexOf('&', i);
    if (end < 0) end = url.length;
    const eq = url.indexOf('=', i);
    const keyEnd = eq >= 0 && eq < end ? eq : end;
    if (keyEnd - i === name.length && url.startsWith(name, i)) {
      const raw = eq >= 0 && eq < end ? url.slice(eq + 1, end) : '';
      try {
        return decodeURIComponent(raw.replace(/\+/g, ' '));
      } catch {
        return raw;
      }
    }
    i = end + 1;
  }
  return undefined;
}

function cookieValue(cookie: string | undefined, name: string): string | undefined {
  if (cookie === undefined) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** For a strategy that declares no key: nothing captured, no key. */
const NO_KEY: KeySource = { header: '', wantCookie: false, extract: () => undefined };

export function keySource(key: KeySpec | undefined): KeySource {
  if (key === undefined) return NO_KEY;
  if ('header' in key) {
    const header = key.header.toLowerCase();
    return { header, wantCookie: false, extract: (_u, h) => h };
  }
  if ('query' in key) {
    const name = key.query;
    return { header: '', wantCookie: false, extract: (u) => queryParam(u, name) };
  }
  if ('cookie' in key) {
    const name = key.cookie;
    return { header: '', wantCookie: true, extract: (_u, _h, c) => cookieValue(c, name) };
  }
  if ('path' in key) {
    return {
      header: '',
      wantCookie: false,
      extract: (u) => {
        const q = u.indexOf('?');
        return q < 0 ? u : u.slice(0, q);
      },
    };
  }
  return { header: '', wantCookie: false, extract: (_u, _h, _c, ip) => ip };
}
