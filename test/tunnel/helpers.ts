/** WebSocket fixtures for the tunnel tests: a `ws` echo server and a client that collects messages. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export interface WsServer {
  port: number;
  wss: WebSocketServer;
  /** Upgrade requests seen, with their headers. */
  upgrades: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** A WebSocket server on 127.0.0.1 echoing every message; `onConnection` may add more. */
export async function wsEchoServer(onConnection?: (ws: WebSocket) => void): Promise<WsServer> {
  const server = http.createServer((_req, res) => res.end('plain http'));
  const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 * 1024 });
  const upgrades: http.IncomingHttpHeaders[] = [];
  wss.on('headers', (_h, req) => upgrades.push(req.headers));
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    onConnection?.(ws);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    wss,
    upgrades,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Opens a WebSocket to `url`; rejects with the HTTP status when the upgrade is refused. */
export function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
}

/** The next `n` messages on `ws`. */
export function nextMessages(ws: WebSocket, n: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    const onMessage = (data: Buffer): void => {
      got.push(data);
      if (got.length === n) {
        ws.off('message', onMessage);
        resolve(got);
      }
    };
    ws.on('message', onMessage);
    ws.once('close', () => got.length < n && reject(new Error(`closed after ${got.length} of ${n} messages`)));
  });
}

/** Resolves with the close code once `ws` is closed. */
export function closed(ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(1006);
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}
