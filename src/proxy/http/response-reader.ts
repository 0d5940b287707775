/**
 * Reads a backend connection's responses: a JavaScript fast path for the plain response, llhttp
 * for everything else.
 *
 * Why a fast path: every llhttp event is a call from C++ into JavaScript (an indexed lookup of
 * the callback on the parser, IsFunction, Invoke, a context entry), and its header strings are
 * built one by one in C++. A plain response costs three such calls (head, body, end) on top of
 * the two reads' own. Profiled under wrk, these callbacks and llhttp were the largest share of
 * the L7 path not spent in the kernel (docs/operations.md, Performance).
 *
 * The fast path takes a response only when its whole head is in the read at hand, it is
 * HTTP/1.1, its status is 2xx-5xx other than 204 and 304, its body is framed by a single
 * Content-Length, and every byte of the head is one llhttp's strict mode accepts. Anything else
 * (a head split across reads, chunked or close-delimited bodies, 1xx and 101, HTTP/1.0,
 * obs-fold, a space before a colon, control bytes, a second Content-Length, an unusual
 * Connection header, Proxy-Connection, a very large head) is declined before any event is sent, and the same
 * bytes go to llhttp from the same state. So the fast path either reads a response exactly as
 * llhttp would, or steps aside: test/proxy/response-reader.test.ts holds it to that with
 * generated responses split at random points, against llhttp alone.
 */
import {
  HTTPParser,
  LENIENT_NONE,
  SKIP_BODY,
  kOnBody,
  kOnHeaders,
  kOnMessageBegin,
  kOnHeadersComplete,
  kOnMessageComplete,
  type LlhttpParser,
  type ParseError,
} from './llhttp.js';
import { CR, HeadFields, LF, SP, VALUE, connectionKeepAlive, decimal, fieldStrings, headerLines, sameLower } from './head-scan.js';

/** Where a reader's events go (the backend connection, which passes them to its owner). */
export interface ResponseSink {
  /** Return SKIP_BODY when no body follows (the request was HEAD), else 0. */
  responseHead(statusCode: number, statusMessage: string, headers: string[], versionMinor: number, keepAlive: boolean): number;
  responseBody(chunk: Buffer): void;
  responseComplete(): void;
}

/** Heads larger than this go to llhttp, which applies node's header size limit. */
const MAX_FAST_HEAD = 8192;

/** The fields of the head being read (one at a time: reading never yields). */
const FIELDS = new HeadFields();

const enum Mode {
  /** Between responses: the next one may take the fast path. */
  Idle,
  /** The fast path read a head; `bodyLeft` bytes of its body are still to come. */
  Body,
  /** llhttp reads the current response. */
  Slow,
  /** The fast path read a response with `Connection: close`: nothing may follow it. */
  Closed,
}

export class ResponseReader {
  /** Responses the fast path read (the tests check it is taken). */
  fastResponses = 0;
  private readonly parser: LlhttpParser;
  private mode = Mode.Idle;
  private bodyLeft = 0;
  /**
   * llhttp's last event was a message's end: it is between messages (a byte of the next one,
   * even a partial status line, fires message-begin and clears this).
   */
  private slowDone = false;
  /** The last head llhttp read allows another response after it (else llhttp refuses any). */
  private slowKeepAlive = true;
  /** The head the fast path is reading says keep-alive. */
  private keepAlive = true;
  /** llhttp must be initialised before it reads again (it was left after a message's end). */
  private slowStale = false;
  private partialHeaders: string[] | null = null;

  constructor(
    private readonly sink: ResponseSink,
    /** False: llhttp reads everything (the tests' reference). */
    private readonly fast = true,
  ) {
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, {}, 0, LENIENT_NONE);
    parser[kOnMessageBegin] = () => {
      this.slowDone = false;
    };
    parser[kOnHeaders] = (headers: string[]) => {
      // llhttp hands over headers in batches of 32; the last batch comes with headers-complete.
      this.partialHeaders = this.partialHeaders === null ? headers : this.partialHeaders.concat(headers);
    };
    parser[kOnHeadersComplete] = (
      _vMajor: number,
      vMinor: number,
      headers: string[] | undefined,
      _method: number,
      _url: string,
      statusCode: number,
      statusMessage: string,
      _upgrade: boolean,
      keepAlive: boolean,
    ): number => {
      this.slowKeepAlive = keepAlive;
      if (this.partialHeaders !== null) {
        headers = headers === undefined ? this.partialHeaders : this.partialHeaders.concat(headers);
        this.partialHeaders = null;
      }
      return this.sink.responseHead(statusCode, statusMessage, headers ?? [], vMinor, keepAlive);
    };
    parser[kOnBody] = (chunk: Buffer) => {
      this.sink.responseBody(chunk);
    };
    parser[kOnMessageComplete] = () => {
      this.slowDone = true;
      this.sink.responseComplete();
    };
    this.parser = parser;
  }

  /**
   * Reads one chunk. Returns the bytes parsed (all of them unless llhttp stopped at a 101's
   * end) or llhttp's error. Events reach the sink synchronously, in order.
   */
  execute(chunk: Buffer): number | ParseError {
    let at = 0;
    if (this.mode === Mode.Body) {
      at = this.readBody(chunk, 0);
      if (at === chunk.length) return at;
    }
    // llhttp left off between messages, and may read another: the fast path may try it.
    if (this.mode === Mode.Slow && this.slowDone && this.slowKeepAlive) this.mode = Mode.Idle;
    while (this.mode === Mode.Idle && this.fast) {
      const end = this.readHead(chunk, at);
      if (end < 0) break;
      at = this.readBody(chunk, end);
      if (at === chunk.length) return at;
    }
    if (this.mode === Mode.Closed) {
      // As llhttp: line breaks between messages are skipped, anything else is refused.
      while (at < chunk.length && (chunk[at] === CR || chunk[at] === LF)) at++;
      return at === chunk.length ? at : closedError(at);
    }
    return this.slow(chunk, at);
  }

  /** Between responses: the last one ended and no byte of another has arrived. */
  get between(): boolean {
    return this.mode === Mode.Idle || (this.mode === Mode.Slow && this.slowDone);
  }

  /** The connection ended: llhttp's verdict on a response delimited by the close. */
  finish(): ParseError | undefined {
    return this.mode === Mode.Slow ? this.parser.finish() : undefined;
  }

  free(): void {
    this.parser.free?.();
  }

  private slow(chunk: Buffer, at: number): number | ParseError {
    if (this.mode !== Mode.Slow) {
      this.mode = Mode.Slow;
      // llhttp ended its last message and the fast path read on: it starts clean.
      if (this.slowStale) this.parser.initialize(HTTPParser.RESPONSE, {}, 0, LENIENT_NONE);
      this.slowStale = false;
    }
    const result = this.parser.execute(at === 0 ? chunk : chunk.subarray(at));
    if (typeof result === 'number') return at + result;
    result.bytesParsed += at;
    return result;
  }

  /** Body bytes of a fast-path response from `at`; returns where this response's bytes end. */
  private readBody(chunk: Buffer, at: number): number {
    const left = this.bodyLeft;
    if (left > 0) {
      const available = chunk.length - at;
      if (available === 0) return at;
      const take = available < left ? available : left;
      this.bodyLeft = left - take;
      this.sink.responseBody(at === 0 && take === chunk.length ? chunk : chunk.subarray(at, at + take));
      at += take;
      if (this.bodyLeft > 0) return at;
    }
    this.mode = this.keepAlive ? Mode.Idle : Mode.Closed;
    this.sink.responseComplete();
    return at;
  }

  /**
   * A head starting at `at`, whole in this chunk and one the fast path takes: sends it to the
   * sink and returns where its body starts. -1 declines, having sent nothing.
   */
  private readHead(b: Buffer, at: number): number {
    const n = b.length;
    // "HTTP/1.1 " + three digits + SP: a final status other than 1xx.
    if (
      n - at < 17 ||
      b[at] !== 72 || b[at + 1] !== 84 || b[at + 2] !== 84 || b[at + 3] !== 80 ||
      b[at + 4] !== 47 || b[at + 5] !== 49 || b[at + 6] !== 46 || b[at + 7] !== 49 || b[at + 8] !== SP ||
      b[at + 12] !== SP
    ) return -1;
    const d0 = b[at + 9]! - 48;
    const d1 = b[at + 10]! - 48;
    const d2 = b[at + 11]! - 48;
    if (d0 < 2 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return -1;
    const status = d0 * 100 + d1 * 10 + d2;
    if (status === 204 || status === 304) return -1;

    const limit = Math.min(n, at + MAX_FAST_HEAD);
    let i = at + 13;
    while (i < limit && VALUE[b[i]!] === 1) i++;
    if (i + 1 >= limit || b[i] !== CR || b[i + 1] !== LF) return -1;
    const reasonEnd = i;
    i += 2;

    const fields = FIELDS;
    const end = headerLines(b, i, limit, fields);
    if (end < 0) return -1;
    const offsets = fields.at;
    let length = -1;
    let keepAlive = true;
    let connections = 0;
    for (let f = 0; f < fields.length; f += 4) {
      const nameStart = offsets[f]!;
      const nameLength = offsets[f + 1]! - nameStart;
      const valueStart = offsets[f + 2]!;
      const valueEnd = offsets[f + 3]!;
      if (nameLength === 14 && sameLower(b, nameStart, 'content-length')) {
        if (length !== -1) return -1; // llhttp refuses a second one
        length = decimal(b, valueStart, valueEnd);
        if (length < 0) return -1;
      } else if ((nameLength === 17 && sameLower(b, nameStart, 'transfer-encoding')) || (nameLength === 16 && sameLower(b, nameStart, 'proxy-connection'))) {
        return -1; // chunked framing; a second Connection header as llhttp reads it
      } else if (nameLength === 10 && sameLower(b, nameStart, 'connection')) {
        if (++connections > 1) return -1;
        const said = connectionKeepAlive(b, valueStart, valueEnd);
        if (said === null) return -1;
        keepAlive = said;
      }
    }
    if (length < 0) return -1;

    // Taken: one string for the head, the fields cut from it.
    const text = b.toString('latin1', at, end);
    const skip = this.sink.responseHead(status, text.slice(13, reasonEnd - at), fieldStrings(text, at, fields), 1, keepAlive);
    this.fastResponses++;
    this.keepAlive = keepAlive;
    this.bodyLeft = skip === SKIP_BODY ? 0 : length;
    this.mode = Mode.Body;
    this.slowStale = true;
    return end;
  }
}

/** llhttp's error for a byte after a response that said `Connection: close`, at offset `at`. */
function closedError(at: number): ParseError {
  return Object.assign(new Error('Parse Error'), { code: 'HPE_CLOSED_CONNECTION', reason: 'Data after `Connection: close`', bytesParsed: at + 1 });
}
