/**
 * Node's own HTTP parser (llhttp), reached through `_http_common`.
 *
 * Why not node:http: a proxy on node:http's server and client caps near 0.37x HAProxy's
 * throughput (measured: see the foundation issue); raw sockets with llhttp on both sides reach
 * about twice that. llhttp is the parser node:http itself uses, in strict mode: it rejects
 * bare LF, obs-fold, duplicate or conflicting Content-Length / Transfer-Encoding.
 *
 * This binding is private API, which is why package.json's `engines` names only the majors it
 * is known to work on (20, 22, 24) and test/proxy/llhttp-binding.test.ts, run on Node 24 in CI
 * as well, fails loudly if its shape changes.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(data: Buffer): number | ParseError;
  finish(): undefined | ParseError;
  close(): void;
  free(): void;
  remove(): void;
  pause(): void;
  resume(): void;
  [key: number]: unknown;
}

export interface ParseError extends Error {
  code: string;
  reason: string;
  bytesParsed: number;
}

interface HttpCommon {
  HTTPParser: {
    new (): LlhttpParser;
    REQUEST: number;
    RESPONSE: number;
    kOnMessageBegin: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
    kOnTimeout: number;
    kLenientNone: number;
  };
  methods: string[];
}

const common = require('_http_common') as HttpCommon;

export const HTTPParser = common.HTTPParser;
/** llhttp's method numbering: `METHODS[n]` is the name onHeadersComplete's `method` stands for. */
export const METHODS: readonly string[] = common.methods;

export const kOnMessageBegin = HTTPParser.kOnMessageBegin | 0;
export const kOnHeaders = HTTPParser.kOnHeaders | 0;
export const kOnHeadersComplete = HTTPParser.kOnHeadersComplete | 0;
export const kOnBody = HTTPParser.kOnBody | 0;
export const kOnMessageComplete = HTTPParser.kOnMessageComplete | 0;
export const kOnExecute = HTTPParser.kOnExecute | 0;
export const LENIENT_NONE = HTTPParser.kLenientNone | 0;

/** Returned from a response parser's onHeadersComplete: the message has no body (HEAD). */
export const SKIP_BODY = 1;

/**
 * Returned from onHeadersComplete: stop right after this head (llhttp's HPE_PAUSED). execute()
 * then returns a ParseError with code `HPE_PAUSED` whose `bytesParsed` is where the head ended;
 * after `resume()` the rest of the buffer is fed again. This is how a request pipelined behind
 * one still being answered is left unparsed instead of read ahead.
 */
export const PAUSE = 21;
export const PAUSED_CODE = 'HPE_PAUSED';

export function isParseError(x: unknown): x is ParseError {
  return typeof x === 'object' && x !== null && typeof (x as ParseError).code === 'string';
}

/** `HTTPParser.methods` index -> name, resolved once (method arrives as an integer). */
export function methodName(index: number): string {
  return METHODS[index] ?? 'UNKNOWN';
}
