/**
 * Bearer-token check for the admin API's mutating calls. Both sides are hashed to equal-length
 * SHA-256 digests and compared with crypto.timingSafeEqual, so neither the token's content
 * nor its length leaks through response timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** True when `authorization` is `Bearer <token>` with exactly this token. */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  const given = m === null ? '' : m[1]!;
  // Compare even when the header is malformed, so that case costs the same time.
  const same = timingSafeEqual(digest(given), digest(token));
  return m !== null && same;
}
