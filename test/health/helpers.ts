/**
 * Small real servers on 127.0.0.1 (ephemeral ports) for the health tests, and a bounded
 * wait. Every server tracks its sockets so `close()` ends them and no test leaks a handle.
 */
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';

export interface Hit {
  at: number;
  method: string;
  path: string;
}

export interface TestHttpServer {
  port: number;
  hits: Hit[];
  /** Connections open right now, and the most seen at once. */
  open: number;
  maxOpen: number;
  status: number;
  /** Delay before answering, ms. */
  delayMs: number;
  close(): Promise<void>;
}

export async function httpServer(status = 200): Promise<TestHttpServer> {
  const sockets = new Set<net.Socket>();
  const state: TestHttpServer = {
    port: 0,
    hits: [],
    open: 0,
    maxOpen: 0,
    status,
    delayMs: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    state.hits.push({ at: performance.now(), method: req.method ?? '', path: req.url ?? '' });
    const answer = (): void => {
      res.writeHead(state.status, { 'content-type': 'text/plain' });
      res.end('ok\n');
    };
    if (state.delayMs > 0) setTimeout(answer, state.delayMs);
    else answer();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    state.open++;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    s.on('close', () => {
      sockets.delete(s);
      state.open--;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.port = (server.address() as AddressInfo).port;
  return state;
}

export interface TestTcpServer {
  port: number;
  accepted: number;
  open: number;
  close(): Promise<void>;
}

/** Accepts connections and never writes a byte; or, with `reset`, destroys each at once. */
export async function silentServer(mode: 'hang' | 'reset' = 'hang'): Promise<TestTcpServer> {
  const sockets = new Set<net.Socket>();
  const state: TestTcpServer = {
    port: 0,
    accepted: 0,
    open: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = net.createServer((s) => {
    state.accepted++;
    state.open++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => {
      sockets.delete(s);
      state.open--;
    });
    // Read (and drop) what arrives, so the client's FIN is seen and `open` drops on close.
    if (mode === 'reset') s.once('data', () => s.resetAndDestroy());
    else s.resume();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.port = (server.address() as AddressInfo).port;
  return state;
}

/** A port nothing listens on (bound once, then released). */
export async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 5 ms; throws after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}
