/**
 * Rewriting heads between client and backend, in one pass over llhttp's flat
 * [name, value, name, value...] arrays: hop-by-hop headers dropped (RFC 9110 7.6.1, plus any
 * header the Connection header names), X-Forwarded-For / X-Forwarded-Proto / Via added, body
 * framing re-decided for the next hop.
 *
 * Smuggling guards beyond llhttp's strict mode, each refused with a reason (400) before any
 * byte is forwarded: a Connection header nominating Content-Length, Transfer-Encoding or Host
 * (they are end-to-end; dropping one would forward a body without its framing, which the
 * backend would read as a second request), duplicate or missing Host, a Host that is not
 * `host[:port]` (userinfo, spaces, paths), Transfer-Encoding in HTTP/1.0 or not ending in
 * chunked. Forwarding headers (X-Forwarded-For, X-Forwarded-Proto, Forwarded) from a client
 * outside `proxy.trustedProxies` are replaced, never extended: a client cannot forge its
 * address for the backend.
 *
 * Header names are compared case-insensitively; to keep the hot path cheap a name is only
 * lower-cased when its length matches one we care about.
 */
import { DUPLICATE_REPORTS } from '../../orca/report.js';

/** How the body that follows a head is delimited. */
export const enum Framing {
  None = 0,
  Length = 1,
  Chunked = 2,
  /** Response body delimited by connection close (no length, not chunked). */
  UntilClose = 3,
}

/** What the proxy learns about a request while rewriting its head. */
export interface RequestFacts {
  head: string;
  framing: Framing;
  contentLength: number;
  expectContinue: boolean;
  /** Value of the running strategy's key header (or of the idempotency header), when asked for. */
  keyHeaderValue: string | undefined;
  cookie: string | undefined;
  idempotentMark: boolean;
  /** A reason to answer 400 instead of forwarding (smuggling guard beyond llhttp's checks). */
  invalid: string | undefined;
  /** An HTTP/1.0 request without Host: the backend's address is sent as Host (HTTP/1.1 requires one). */
  missingHost: boolean;
  /** The Upgrade header's value (protocols the client asks to switch to), or undefined. */
  upgrade: string | undefined;
}

export interface RequestRewrite {
  method: string;
  url: string;
  versionMinor: number;
  headers: readonly string[];
  clientIp: string;
  via: string;
  /** Lower-case header to capture into `keyHeaderValue` (the running strategy's key, e.g. beta1's), or ''. */
  keyHeader: string;
  /** Lower-case header marking a request idempotent (retries and hedging), or ''. */
  idempotentHeader: string;
  wantCookie: boolean;
  /** The client is a trusted proxy: its X-Forwarded-For / -Proto and Forwarded are kept and extended. */
  trustForwarded: boolean;
  /** A protocol upgrade to forward (llhttp saw Upgrade and Connection: upgrade): both are sent on. */
  upgrade?: boolean;
  /** 'https' when the client connection is TLS (listen.tls); absent: 'http'. */
  proto?: 'http' | 'https';
}

/** Headers a Connection header may never nominate: they frame or route the message end to end. */
const END_TO_END = new Set(['content-length', 'transfer-encoding', 'host']);

function connectionTokens(headers: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    for (const raw of headers[i + 1]!.split(',')) {
      const t = raw.trim().toLowerCase();
      if (t !== '' && t !== 'close' && t !== 'keep-alive') (tokens ??= new Set()).add(t);
    }
  }
  return tokens;
}

/** The first header a Connection header nominates that must never be dropped, or undefined. */
function nominatedEndToEnd(named: Set<string>): string | undefined {
  for (const t of named) if (END_TO_END.has(t)) return t;
  return undefined;
}

/**
 * RFC 9110 7.2: Host is `uri-host [ ":" port ]`. A reg-name, an IPv4 address or a bracketed
 * IPv6 literal, and digits after the colon; no userinfo (`user@host`), no path, no spaces,
 * which backends and caches would each read differently. Empty is allowed (RFC 9112 3.2).
 */
const VALID_HOST = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?$/;

/**
 * True for headers that describe one connection and must not be forwarded: Connection,
 * Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade (framing and
 * upgrade are re-decided per hop). `lower` is the lower-cased name.
 */
function isHopByHop(lower: string): boolean {
  switch (lower.length) {
    case 2:
      return lower === 'te';
    case 7:
      return lower === 'trailer' || lower === 'upgrade';
    case 10:
      return lower === 'connection' || lower === 'keep-alive';
    case 16:
      return lower === 'proxy-connection';
    case 17:
      return lower === 'transfer-encoding';
    default:
      return false;
  }
}

const FINAL_CHUNKED = /(?:^|,)[ \t]*chunked[ \t]*$/i;

/** Lengths of every name the request rewrite must look at; others are copied without lower-casing. */
const REQUEST_NAME_LENGTHS = new Set([2, 3, 4, 6, 7, 9, 10, 14, 15, 16, 17]);

/** Why a request head that llhttp accepted must still be refused, or undefined. */
function headProblem(named: Set<string> | undefined, hosts: number, host: string, teCount: number, versionMinor: number): string | undefined {
  const nominated = named === undefined ? undefined : nominatedEndToEnd(named);
  if (nominated !== undefined) return `Connection header nominates ${nominated}`;
  if (hosts > 1) return 'more than one Host header';
  if (hosts === 0 && versionMinor >= 1) return 'missing Host header';
  if (hosts === 1 && !VALID_HOST.test(host)) return 'invalid Host header';
  if (teCount > 0 && versionMinor === 0) return 'Transfer-Encoding in an HTTP/1.0 request';
  if (teCount > 1) return 'more than one Transfer-Encoding header';
  return undefined;
}

export function rewriteRequest(r: RequestRewrite): RequestFacts {
  const headers = r.headers;
  const named = connectionTokens(headers);
  let head = `${r.method} ${r.url} HTTP/1.1\r\n`;
  let framing = Framing.None;
  let contentLength = -1;
  let expectContinue = false;
  let keyHeaderValue: string | undefined;
  let cookie: string | undefined;
  let idempotentMark = false;
  let invalid: string | undefined;
  let hosts = 0;
  let xff: string | undefined;
  let via: string | undefined;
  let teCount = 0;
  let hostValue = '';
  let xfp: string | undefined;
  let upgrade: string | undefined;
  const trusted = r.trustForwarded;

  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    const len = name.length;
    if (REQUEST_NAME_LENGTHS.has(len) || len === r.keyHeader.length || len === r.idempotentHeader.length || named !== undefined) {
      const lower = name.toLowerCase();
      if (lower === 'transfer-encoding') {
        teCount++;
        // RFC 9112 6.3: a request whose final coding is not chunked cannot be delimited. llhttp
        // says so only after the head callback, so refuse here, before anything is forwarded.
        if (!FINAL_CHUNKED.test(value)) invalid = 'Transfer-Encoding whose final coding is not chunked';
        framing = Framing.Chunked;
        continue;
      }
      if (isHopByHop(lower) || (named !== undefined && named.has(lower))) {
        if (lower === 'upgrade') upgrade = upgrade === undefined ? value : `${upgrade}, ${value}`;
        continue;
      }
      // Before the switch: the key may be a header rebuilt below (X-Forwarded-For behind a CDN).
      if (lower === r.keyHeader && keyHeaderValue === undefined) keyHeaderValue = value;
      if (lower === r.idempotentHeader && value.trim().toLowerCase() === 'true') idempotentMark = true;
      switch (lower) {
        case 'host':
          hosts++;
          hostValue = value;
          break;
        case 'content-length':
          contentLength = Number(value);
          if (framing !== Framing.Chunked) framing = contentLength > 0 ? Framing.Length : Framing.None;
          break;
        case 'expect':
          if (value.toLowerCase() === '100-continue') expectContinue = true;
          break;
        case 'x-forwarded-for':
          if (trusted) xff = xff === undefined ? value : `${xff}, ${value}`;
          continue;
        case 'x-forwarded-proto':
          // A trusted proxy in front (a TLS terminator) says what the client used; anyone
          // else's claim is replaced by ours (the scheme of the client's own connection).
          if (trusted) xfp ??= value;
          continue;
        case 'forwarded':
          if (!trusted) continue; // RFC 7239: an untrusted client's for=/proto= is not passed on
          break;
        case 'via':
          via = via === undefined ? value : `${via}, ${value}`;
          continue;
        case 'content_length':
        case 'transfer_encoding':
          // Some servers (and CGI-style gateways) read `_` as `-`: such a backend would frame the
          // body we forward without framing as its own, so refuse the look-alike.
          invalid ??= `${name}: a framing header name spelled with an underscore`;
          break;
        case 'cookie':
          if (r.wantCookie) cookie = cookie === undefined ? value : `${cookie}; ${value}`;
          break;
      }
    }
    head += `${name}: ${value}\r\n`;
  }

  invalid ??= headProblem(named, hosts, hostValue, teCount, r.versionMinor);

  if (framing === Framing.Chunked) head += 'Transfer-Encoding: chunked\r\n';
  // Upgrade is hop-by-hop, but a tunnel is asked of this hop and the next alike (RFC 9110 7.8).
  if (r.upgrade === true && upgrade !== undefined) head += `Connection: Upgrade\r\nUpgrade: ${upgrade}\r\n`;
  head += `X-Forwarded-For: ${xff === undefined ? r.clientIp : `${xff}, ${r.clientIp}`}\r\n`;
  head += `X-Forwarded-Proto: ${xfp ?? r.proto ?? 'http'}\r\n`;
  const hop = `1.${r.versionMinor} ${r.via}`;
  head += `Via: ${via === undefined ? hop : `${via}, ${hop}`}\r\n\r\n`;
  return { head, framing, contentLength, expectContinue, keyHeaderValue, cookie, idempotentMark, invalid, missingHost: hosts === 0, upgrade };
}

export interface ResponseRewrite {
  statusCode: number;
  statusMessage: string;
  headers: readonly string[];
  /** The client's HTTP minor version (1.0 clients cannot take chunked bodies). */
  clientVersionMinor: number;
  clientKeepAlive: boolean;
  /** The request was HEAD, or the status forbids a body: nothing follows the head. */
  noBody: boolean;
  via: string;
  /** `Name: value\r\n` tracing line naming the backend, or ''. */
  backendLine: string;
  /** Extra response header whose value the caller wants (lower-case), or ''. */
  watchHeader: string;
  /** A 101 answering an upgrade request: its Upgrade header goes on, and the connection becomes a tunnel. */
  switching?: boolean;
  /** Keep `endpoint-load-metrics` (and -bin) in the response; false: captured and removed. */
  forwardLoadReports: boolean;
}

export interface ResponseFacts {
  head: string;
  /** Framing toward the client. */
  framing: Framing;
  /** Whether the client connection stays open after this response. */
  keepAlive: boolean;
  watchedValue: string | undefined;
  /** The backend's ORCA load report (`endpoint-load-metrics`; a -bin header as `BIN value`), if any. */
  loadReport: string | undefined;
}

/** 21: endpoint-load-metrics, 25: endpoint-load-metrics-bin. */
const RESPONSE_NAME_LENGTHS = new Set([2, 3, 7, 10, 14, 16, 17, 21, 25]);

export function rewriteResponse(r: ResponseRewrite): ResponseFacts {
  const headers = r.headers;
  const named = connectionTokens(headers);
  let keepAlive = r.clientKeepAlive;
  let head = `HTTP/1.1 ${r.statusCode} ${r.statusMessage}\r\n`;
  let upstreamFraming = r.noBody ? Framing.None : Framing.UntilClose;
  let via: string | undefined;
  let watchedValue: string | undefined;
  let upgrade: string | undefined;
  let loadReport: string | undefined;

  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    const len = name.length;
    if (RESPONSE_NAME_LENGTHS.has(len) || len === r.watchHeader.length || named !== undefined) {
      const lower = name.toLowerCase();
      if (lower === 'transfer-encoding') {
        if (!r.noBody) upstreamFraming = Framing.Chunked;
        continue;
      }
      if (isHopByHop(lower) || (named !== undefined && named.has(lower))) {
        if (lower === 'upgrade') upgrade = upgrade === undefined ? value : `${upgrade}, ${value}`;
        continue;
      }
      if (lower === 'content-length') {
        if (!r.noBody && upstreamFraming !== Framing.Chunked) upstreamFraming = Framing.Length;
      } else if (lower === 'via') {
        via = via === undefined ? value : `${via}, ${value}`;
        continue;
      } else if (lower === 'endpoint-load-metrics' || lower === 'endpoint-load-metrics-bin') {
        // One report per response: a second header would be a second opinion we cannot rank.
        if (loadReport === undefined) loadReport = len === 21 ? value : `BIN ${value}`;
        else loadReport = DUPLICATE_REPORTS;
        if (!r.forwardLoadReports) continue;
      }
      if (lower === r.watchHeader && watchedValue === undefined) watchedValue = value;
    }
    head += `${name}: ${value}\r\n`;
  }

  if (r.switching === true) {
    // No body and no keep-alive: after this head the connection carries the new protocol.
    head += r.backendLine;
    head += `Via: ${via === undefined ? `1.1 ${r.via}` : `${via}, 1.1 ${r.via}`}\r\n`;
    head += upgrade === undefined ? 'Connection: Upgrade\r\n\r\n' : `Connection: Upgrade\r\nUpgrade: ${upgrade}\r\n\r\n`;
    return { head, framing: Framing.None, keepAlive: false, watchedValue, loadReport };
  }
  let framing = upstreamFraming;
  if (upstreamFraming === Framing.Chunked || upstreamFraming === Framing.UntilClose) {
    if (r.clientVersionMinor >= 1) {
      framing = Framing.Chunked;
      head += 'Transfer-Encoding: chunked\r\n';
    } else {
      // An HTTP/1.0 client cannot read chunked: the body ends when we close.
      framing = Framing.UntilClose;
      keepAlive = false;
    }
  }
  head += r.backendLine;
  head += `Via: ${via === undefined ? `1.1 ${r.via}` : `${via}, 1.1 ${r.via}`}\r\n`;
  if (!keepAlive) head += 'Connection: close\r\n\r\n';
  else if (r.clientVersionMinor === 0) head += 'Connection: keep-alive\r\n\r\n';
  else head += '\r\n';
  return { head, framing, keepAlive, watchedValue, loadReport };
}
