/**
 * The load tester's HTTP client: an undici Pool (one keep-alive connection per concurrent
 * request, no pipelining) driven through `dispatch` with a reusable handler per slot.
 *
 * Why undici's raw dispatch: measured on this machine against nginx, one process drove about
 * 1.5-2x the requests/s of node:http with a keep-alive Agent (see the issue 5 report), and
 * `dispatch` skips the stream and promise machinery of `request()`. The handler objects are
 * reused, so a request allocates only what undici itself needs.
 */
import { Pool, type Dispatcher } from 'undici';

/** Raised into a slot when our own per-request timer expires. */
export class RequestTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor() {
    super('request timed out');
    this.name = 'RequestTimeoutError';
  }
}

/** undici's own timers (connect, headers, body), all counted as timeouts. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

export function isTimeout(err: Error): boolean {
  return err instanceof RequestTimeoutError || TIMEOUT_CODES.has((err as { code?: string }).code ?? '');
}

/** A short stable name for a transport error, for the report's error table. */
export function errorCode(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err.name || 'Error';
}

export function createPool(origin: string, connections: number, timeoutMs: number): Pool {
  return new Pool(origin, {
    connections,
    pipelining: 1,
    connectTimeout: timeoutMs,
    // Backstops only: the engine's sweep times whole requests more precisely.
    headersTimeout: timeoutMs + 1000,
    bodyTimeout: timeoutMs + 1000,
  });
}

/**
 * One concurrent request at a time. The engine calls `send`, awaits it, then reads `status`,
 * `backend` and `error`. The sweep calls `expire` when the request has run past its timeout.
 */
export class RequestSlot implements Dispatcher.DispatchHandler {
  /** Latency is measured from here (the intended start in an open loop). */
  startMs = 0;
  /** When the request was handed to the pool; timeouts count from here. */
  sentMs = 0;
  inflight = false;
  status = 0;
  backend: string | undefined = undefined;
  /** The `X-Cache` response header (HIT or MISS from a caching backend), if any. */
  cache: string | undefined = undefined;
  error: Error | null = null;
  private controller: Dispatcher.DispatchController | null = null;
  private expired = false;
  private resolve: (() => void) | null = null;
  private readonly settle: (resolve: () => void) => void;

  constructor(private readonly pool: Pool) {
    this.settle = (resolve) => {
      this.resolve = resolve;
    };
  }

  send(opts: Dispatcher.DispatchOptions, startMs: number, sentMs: number): Promise<void> {
    this.startMs = startMs;
    this.sentMs = sentMs;
    this.inflight = true;
    this.status = 0;
    this.backend = undefined;
    this.cache = undefined;
    this.error = null;
    this.controller = null;
    this.expired = false;
    const done = new Promise<void>(this.settle);
    this.pool.dispatch(opts, this);
    return done;
  }

  /** Abort the request as timed out (now if it is on a socket, else as soon as it gets one). */
  expire(): void {
    if (!this.inflight || this.expired) return;
    this.expired = true;
    this.controller?.abort(new RequestTimeoutError());
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.expired) controller.abort(new RequestTimeoutError());
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.status = statusCode;
    const b = headers['x-backend'];
    this.backend = Array.isArray(b) ? b[0] : b;
    const c = headers['x-cache'];
    this.cache = Array.isArray(c) ? c[0] : c;
  }

  onResponseData(): void {
    // The body is read and dropped; its end is the request's end.
  }

  onResponseEnd(): void {
    this.finish(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.finish(err);
  }

  private finish(err: Error | null): void {
    if (!this.inflight) return;
    this.inflight = false;
    this.error = err;
    this.controller = null;
    const resolve = this.resolve;
    this.resolve = null;
    resolve?.();
  }
}
