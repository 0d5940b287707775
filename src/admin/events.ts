/**
 * GET /api/events: server-sent events, one snapshot a second for the dashboard.
 *
 * One timer serves every client: the snapshot is built and serialised once per tick, and
 * only while someone listens. A client is dropped when its connection closes, and also when
 * it stops reading (more than MAX_BUFFERED bytes queued), so a stuck tab cannot make the
 * balancer buffer without bound. The number of streams is capped too (admin.maxEventStreams,
 * read at each new stream so a reload applies): each holds a connection and a buffer for as
 * long as it lasts, so a script opening streams in a loop gets 503s, not the whole admin port.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from './http.js';

const MAX_BUFFERED = 1 << 20;

export class EventHub {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;

  /** `maxClients` is asked at each new stream; streams beyond it get a 503. */
  constructor(
    private readonly snapshot: () => unknown,
    private readonly maxClients: () => number,
    private readonly intervalMs = 1000,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  get size(): number {
    return this.clients.size;
  }

  add(req: IncomingMessage, res: ServerResponse): void {
    const max = this.maxClients();
    if (this.clients.size >= max) {
      sendError(res, 503, `too many event streams (admin.maxEventStreams is ${max}); close another dashboard or try later`, { 'Retry-After': '10' });
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      // Tells nginx-like proxies in front of the admin port not to buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    const drop = () => this.remove(res);
    req.on('close', drop);
    res.on('close', drop);
    res.on('error', drop);
    const first = this.render();
    if (first !== undefined) res.write(first);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  private remove(res: ServerResponse): void {
    if (!this.clients.delete(res)) return;
    if (!res.writableEnded) res.end();
    if (this.clients.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private render(): string | undefined {
    try {
      return `data: ${JSON.stringify(this.snapshot())}\n\n`;
    } catch (err) {
      this.onError(err);
      return undefined;
    }
  }

  private tick(): void {
    const data = this.render();
    if (data === undefined) return;
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED) {
        this.remove(res);
        res.destroy();
        continue;
      }
      res.write(data);
    }
  }

  /** Ends every stream and stops the timer (server shutdown). */
  close(): void {
    for (const res of [...this.clients]) this.remove(res);
  }
}
