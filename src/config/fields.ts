/**
 * Config fields whose values end up in HTTP messages Ballast writes: header names, header
 * values, the health check's request line. A CR or LF there would let a config value (from a
 * template, an environment variable, a service registry) inject headers or whole requests,
 * so each is checked against the grammar of the place it lands (RFC 9110), once, at load.
 *
 * Refinements rather than regex patterns: the generated reference shows the type as plain
 * `string` and the description says what is allowed; a regex full of tchars would not read.
 */
import { z } from 'zod';

/** RFC 9110 section 5.6.2 token: the grammar of header names (and of cookie names, RFC 6265). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Characters that end a header line or a C string. */
const LINE_BREAK_OR_NUL = /[\r\n\0]/;

/** Controls, space and DEL: what may not appear in a request target or a host name. */
const CONTROL_OR_SPACE = /[\x00-\x20\x7f]/;

/** A header name Ballast sends or looks for. */
export const headerName = z.string().refine((s) => TOKEN.test(s), {
  message: "must be an HTTP header name: letters, digits and !#$%&'*+-.^_`|~ only (no spaces, colons, CR or LF)",
});

/** A cookie name (beta1's key): the same token grammar as header names. */
export const cookieName = z.string().refine((s) => TOKEN.test(s), {
  message: "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~ only (no spaces, '=', ';', CR or LF)",
});

/** Text Ballast writes into a header value. */
export const headerValue = z
  .string()
  .min(1)
  .refine((s) => !LINE_BREAK_OR_NUL.test(s), { message: 'must not contain CR, LF or NUL (it is sent in an HTTP header)' });

/** The path of a request Ballast sends itself (the health check): origin-form, one token of the request line. */
export const requestPath = z
  .string()
  .startsWith('/')
  .refine((s) => !CONTROL_OR_SPACE.test(s), { message: 'must not contain spaces, CR, LF, NUL or other control characters (percent-encode them)' });

/** A backend's host: connected to, and sent in the health check's Host header. */
export const hostName = z
  .string()
  .min(1)
  .refine((s) => !CONTROL_OR_SPACE.test(s), { message: 'must be a host name or IP address, without spaces, CR, LF or other control characters' });
