/**
 * Request parsers lent to client connections. A connection holds one only while it reads or
 * answers a request: an idle keep-alive connection holds none (a Node parser is about 2 KB of
 * C++ state, its header slots, plus its JS object: the bulk of what an idle client connection
 * costs), and a new connection allocates none. Node's own http server keeps a free list of
 * parsers for the same reasons.
 *
 * The callbacks are set once per parser and reach the current owner through `owner`, so
 * lending one costs an `initialize` (which resets llhttp whatever state it was left in: a
 * parse error, a pause) and one assignment.
 */
import { HTTPParser, LENIENT_NONE, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageBegin, kOnMessageComplete, type LlhttpParser } from './llhttp.js';

/** What a lent parser reports to: the client connection reading a request. */
export interface RequestParserOwner {
  /**
   * The first byte of a request: from here until its head is complete the parser holds state
   * of its own (a head pipelined behind another, cut at the end of a read, fires nothing else).
   */
  parsedBegin(): void;
  /** A batch of headers of a long head (llhttp hands them over 32 at a time). */
  parsedHeaders(headers: string[], url: string): void;
  /** The head is complete; returns 0, or PAUSE to stop after it. */
  parsedHead(versionMajor: number, versionMinor: number, headers: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number;
  parsedBody(chunk: Buffer): void;
  parsedMessage(): void;
}

interface LentParser extends LlhttpParser {
  owner: RequestParserOwner | null;
}

/** Parsers kept for reuse; past this many, a returned one is freed (as Node's own free list of 1000). */
export const MAX_IDLE_PARSERS = 1000;
const idle: LentParser[] = [];

function onMessageBegin(this: LentParser): void {
  this.owner?.parsedBegin();
}

function onHeaders(this: LentParser, headers: string[], url: string): void {
  this.owner?.parsedHeaders(headers, url);
}

function onHeadersComplete(
  this: LentParser,
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number,
  url: string | undefined,
  _status: number,
  _message: string,
  upgrade: boolean,
  keepAlive: boolean,
): number {
  const owner = this.owner;
  return owner === null ? 0 : owner.parsedHead(versionMajor, versionMinor, headers, method, url, upgrade, keepAlive);
}

function onBody(this: LentParser, chunk: Buffer): void {
  this.owner?.parsedBody(chunk);
}

function onMessageComplete(this: LentParser): void {
  this.owner?.parsedMessage();
}

/** A request parser in its initial state, reporting to `owner`. */
export function lendRequestParser(owner: RequestParserOwner, maxHeaderBytes: number): LlhttpParser {
  let parser = idle.pop();
  if (parser === undefined) {
    parser = new HTTPParser() as LentParser;
    parser[kOnMessageBegin] = onMessageBegin;
    parser[kOnHeaders] = onHeaders;
    parser[kOnHeadersComplete] = onHeadersComplete;
    parser[kOnBody] = onBody;
    parser[kOnMessageComplete] = onMessageComplete;
  }
  parser.initialize(HTTPParser.REQUEST, {}, maxHeaderBytes, LENIENT_NONE);
  parser.owner = owner;
  return parser;
}

/** Takes a parser back; never call this from inside that parser's execute(). */
export function returnRequestParser(parser: LlhttpParser): void {
  const lent = parser as LentParser;
  lent.owner = null;
  if (idle.length < MAX_IDLE_PARSERS) idle.push(lent);
  else lent.free();
}

/** Parsers waiting to be lent, for tests. */
export function idleRequestParsers(): number {
  return idle.length;
}
