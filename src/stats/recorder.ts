/**
 * What the data plane tells the statistics. The proxy calls these on its hot path, so an
 * implementation must be cheap (no allocation per call beyond what it must keep).
 */
import type { Backend } from '../pool/backend.js';

export type RejectReason =
  | 'bad_request'
  | 'header_too_large'
  | 'timeout'
  | 'too_many_connections'
  | 'queue_full'
  | 'queue_timeout'
  | 'tls_handshake'
  /** listen.proxyProtocol: a connection from outside proxyProtocolFrom, or without a valid header in time. */
  | 'proxy_protocol';

export interface StatsRecorder {
  /** A client request finished (response sent or connection failed). `backend` is the one that served, if any. */
  requestFinished(backend: Backend | undefined, status: number, durationMs: number, clientAddress: string): void;
  /** An extra attempt after a failure (failover or budgeted retry). */
  retried(backend: Backend | undefined, kind: 'failover' | 'retry'): void;
  /** A hedge was sent; later `hedgeWon` when its response was the one used. */
  hedgeSent(): void;
  hedgeWon(): void;
  /** A request or connection refused before reaching a backend. */
  rejected(reason: RejectReason): void;
  /** An upgraded connection (WebSocket tunnel) closed: its bytes each way (the request itself is reported by requestFinished). */
  tunnelFinished(backend: Backend, bytesIn: number, bytesOut: number): void;
  /** A TCP (L4) connection ended. */
  connectionFinished(backend: Backend | undefined, ok: boolean, durationMs: number, bytesIn: number, bytesOut: number): void;
}

