/**
 * One try of an HTTP request on one backend: the race's attempt (src/balancer/race.ts), the
 * pool's in-flight entry, a deadline (connect, then response headers) and the owner of a
 * backend connection while it runs. It only relays what its connection reports to its
 * exchange; the exchange and the race decide.
 */
import type { Backend, InflightEntry, OutcomeKind } from '../../pool/backend.js';
import type { RaceAttempt } from '../../balancer/race.js';
import type { HasDeadline } from '../deadlines.js';
import type { UpstreamConn, UpstreamFailure, UpstreamOwner } from './upstream.js';
import type { ProxySocket } from '../socket.js';

export const enum AttemptState {
  Connecting,
  /** Connected, request body still streaming. */
  Sending,
  /** Request written, waiting for the response head. */
  Waiting,
  /** Response head received (the winner). */
  Responding,
}

/** What an attempt reports to: its exchange. */
export interface AttemptOwner {
  readonly clientSocket: ProxySocket;
  attemptConnected(a: Attempt, conn: UpstreamConn): void;
  attemptFailed(a: Attempt, kind: OutcomeKind, detail: string): void;
  responseHead(a: Attempt, status: number, message: string, headers: string[]): number;
  responseBody(a: Attempt, chunk: Buffer): void;
  responseComplete(a: Attempt): void;
  upstreamDrained(a: Attempt): void;
}

export class Attempt implements RaceAttempt, InflightEntry, HasDeadline, UpstreamOwner {
  startedAt = 0;
  inflightPrev: InflightEntry | null = null;
  inflightNext: InflightEntry | null = null;
  deadline = 0;
  conn: UpstreamConn | null = null;
  state = AttemptState.Connecting;
  /** Connected and the request body is still being written (independent of the response: a backend may answer early). */
  sending = false;
  ended = false;
  headersAt = 0;
  readonly outcome = { kind: 'ok' as OutcomeKind, status: 0, latencyMs: 0 };

  constructor(
    private readonly owner: AttemptOwner,
    readonly backend: Backend,
    readonly hedge: boolean,
  ) {}

  get clientSocket(): ProxySocket {
    return this.owner.clientSocket;
  }
  onConnected(conn: UpstreamConn): void {
    this.owner.attemptConnected(this, conn);
  }
  onConnectError(_conn: UpstreamConn, err: Error): void {
    this.owner.attemptFailed(this, 'connect', (err as NodeJS.ErrnoException).code ?? err.message);
  }
  onResponseHead(_c: UpstreamConn, status: number, message: string, headers: string[]): number {
    return this.owner.responseHead(this, status, message, headers);
  }
  onResponseBody(_c: UpstreamConn, chunk: Buffer): void {
    this.owner.responseBody(this, chunk);
  }
  onResponseComplete(): void {
    this.owner.responseComplete(this);
  }
  onUpstreamFailure(_c: UpstreamConn, kind: UpstreamFailure, detail: string): void {
    this.owner.attemptFailed(this, kind === 'timeout' ? 'timeout' : 'reset', detail);
  }
  onUpstreamDrain(): void {
    this.owner.upstreamDrained(this);
  }
  onDeadline(): void {
    if (this.state === AttemptState.Connecting) this.owner.attemptFailed(this, 'connect', 'connect timeout');
    else this.owner.attemptFailed(this, 'timeout', 'no response headers in time');
  }
}
