/**
 * The last N finished requests, for `recent_requests` in the API and the dashboard's request
 * list. A fixed ring of parallel arrays: recording overwrites the oldest slot and allocates
 * nothing; objects are built only when someone reads.
 */
import type { Backend } from '../pool/backend.js';

/** One entry as the API shows it (the original project's fields, plus status and ms). */
export interface RecentRequest {
  /** Wall-clock time the request finished, Unix seconds (fractional), like Python's time.time(). */
  timestamp: number;
  /** `host:port` of the backend that served, or null when none did. */
  server: string | null;
  success: boolean;
  duration_s: number;
  duration_ms: number;
  /** Response status; 0 when no response (TCP connection, or a failure before any status). */
  status: number;
  client: string;
}

export class RecentRequests {
  readonly capacity: number;
  private readonly wallMs: Float64Array;
  private readonly durationMs: Float64Array;
  private readonly status: Uint16Array;
  private readonly success: Uint8Array;
  private readonly servers: (string | null)[];
  private readonly clients: string[];
  private next = 0;
  private size = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.wallMs = new Float64Array(this.capacity);
    this.durationMs = new Float64Array(this.capacity);
    this.status = new Uint16Array(this.capacity);
    this.success = new Uint8Array(this.capacity);
    this.servers = new Array<string | null>(this.capacity).fill(null);
    this.clients = new Array<string>(this.capacity).fill('');
  }

  push(wallMs: number, backend: Backend | undefined, success: boolean, status: number, durationMs: number, client: string): void {
    const i = this.next;
    this.wallMs[i] = wallMs;
    this.durationMs[i] = durationMs;
    this.status[i] = status;
    this.success[i] = success ? 1 : 0;
    // The address string lives on the backend; storing it keeps the entry valid after removal.
    this.servers[i] = backend === undefined ? null : backend.address;
    this.clients[i] = client;
    this.next = i + 1 === this.capacity ? 0 : i + 1;
    if (this.size < this.capacity) this.size++;
  }

  /** The last `limit` entries, oldest first (the original listed them in arrival order). */
  list(limit = this.capacity): RecentRequest[] {
    const n = Math.min(Math.max(0, Math.floor(limit)), this.size);
    const out: RecentRequest[] = new Array(n);
    let i = (this.next - n + this.capacity) % this.capacity;
    for (let k = 0; k < n; k++) {
      const ms = this.durationMs[i]!;
      out[k] = {
        timestamp: this.wallMs[i]! / 1000,
        server: this.servers[i]!,
        success: this.success[i] === 1,
        // Microsecond resolution: enough for any reader, and short JSON.
        duration_s: Math.round(ms * 1000) / 1e6,
        duration_ms: Math.round(ms * 1000) / 1000,
        status: this.status[i]!,
        client: this.clients[i]!,
      };
      i = i + 1 === this.capacity ? 0 : i + 1;
    }
    return out;
  }

  get length(): number {
    return this.size;
  }
}
