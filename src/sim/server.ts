/**
 * A simulated server: `slots` requests served at once, the rest waiting in a FIFO queue (a
 * thread pool, or Node's event loop with a concurrency limit), an optional LRU cache, a speed
 * factor, and pauses that stop all its work at once (GC, CPU steal).
 *
 * Pauses are modelled with a work clock: W(t) is real time minus the time spent paused, and a
 * request needing S ms of work finishes when W has advanced by S since it started. Its
 * completion event is scheduled as if no further pause came; when it fires early because a
 * pause happened meanwhile, the engine reschedules it (`completionTime`). So a pause costs
 * nothing per request in service, and at most one extra event per pause overlapped.
 */
import type { Backend } from '../pool/backend.js';
import { LruCache } from './lru.js';
import { LoadWindow } from '../orca/window.js';

/** What a server holds: the engine's attempt records (kept opaque here). */
export interface Queued {
  /** True once the proxy has given up on it (cancelled or timed out). */
  ended: boolean;
}

export class SimServer<T extends Queued = Queued> {
  backend: Backend;
  slots: number;
  factor: number;
  alive = true;
  busy = 0;
  readonly cache: LruCache | null;
  /** What it reports about its load (ORCA), measured as the demo backend measures it. */
  load: LoadWindow;

  private ring: (T | null)[];
  private head = 0;
  private count = 0;

  // Work clock: `pausedBefore` is the paused time before the current (or last) pause.
  private pauseStart = 0;
  private pauseEnd = 0;
  private pausedBefore = 0;

  /** Attempts that reached it (for the share table), lookups and hits of its cache, busy work. */
  attempts = 0;
  lookups = 0;
  hits = 0;

  constructor(backend: Backend, slots: number, factor: number, cacheCapacity: number | null, now = 0) {
    this.backend = backend;
    this.slots = slots;
    this.factor = factor;
    this.cache = cacheCapacity === null ? null : new LruCache(cacheCapacity);
    this.load = new LoadWindow(slots, undefined, undefined, now);
    this.ring = new Array<T | null>(16).fill(null);
  }

  get queued(): number {
    return this.count;
  }

  enqueue(item: T): void {
    if (this.count === this.ring.length) {
      const old = this.ring;
      const next = new Array<T | null>(old.length * 2).fill(null);
      for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) % old.length]!;
      this.ring = next;
      this.head = 0;
    }
    this.ring[(this.head + this.count) % this.ring.length] = item;
    this.count++;
  }

  /** Oldest waiting item, or null when the queue is empty. */
  dequeue(): T | null {
    if (this.count === 0) return null;
    const item = this.ring[this.head]!;
    this.ring[this.head] = null;
    this.head = this.head + 1 === this.ring.length ? 0 : this.head + 1;
    this.count--;
    return item;
  }

  /** Empties the queue (the server died), handing each item to `each`. */
  drain(each: (item: T) => void): void {
    for (let item = this.dequeue(); item !== null; item = this.dequeue()) each(item);
  }

  /** Work done by time `t` (ms of service progress since the start of the run). */
  workAt(t: number): number {
    const pausedNow = t <= this.pauseStart ? 0 : Math.min(t, this.pauseEnd) - this.pauseStart;
    return t - this.pausedBefore - pausedNow;
  }

  /** Real time at which the work clock reaches `work`, if no new pause starts (t: now). */
  completionTime(work: number, t: number): number {
    if (t < this.pauseEnd) return this.pauseEnd + (work - this.workAt(this.pauseEnd));
    return t + (work - this.workAt(t));
  }

  /** The whole server stops for `ms` from `t` (overlapping pauses extend each other). */
  pause(t: number, ms: number): void {
    if (t >= this.pauseEnd) {
      this.pausedBefore += this.pauseEnd - this.pauseStart;
      this.pauseStart = t;
      this.pauseEnd = t + ms;
    } else if (t + ms > this.pauseEnd) {
      this.pauseEnd = t + ms;
    }
  }

  /** After a restart: no pause in progress, cold cache, nothing queued or in service. */
  restart(t: number): void {
    this.pausedBefore += Math.max(0, Math.min(t, this.pauseEnd) - this.pauseStart);
    this.pauseStart = t;
    this.pauseEnd = t;
    this.cache?.clear();
    this.busy = 0;
    this.load = new LoadWindow(this.slots, this.load.windowMs, undefined, t);
  }
}
