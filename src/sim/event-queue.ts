/**
 * The simulator's pending events: a binary min-heap ordered by (time, insertion order).
 *
 * Events are plain numbers in parallel typed arrays (time, kind, ref, gen) addressed by a slot,
 * and the heap itself is an array of slot indices, so pushing and popping allocate nothing once
 * the arrays have grown to the run's peak and a sift moves one integer, not a record. Equal
 * times pop in insertion order, which keeps a seeded run repeatable bit for bit.
 *
 * `ref` and `gen` are the caller's: typically an object index and the generation it had when
 * the event was scheduled, so an event about an object that has since been recycled is
 * recognised as stale and dropped (cheaper than deleting from the middle of the heap).
 */
export class EventQueue {
  private heap: Int32Array;
  private times: Float64Array;
  private seqs: Float64Array;
  private kinds: Uint8Array;
  private refs: Int32Array;
  private gens: Int32Array;
  private free: Int32Array;
  private freeCount: number;
  private capacity: number;
  private seq = 0;
  size = 0;

  /** The event last returned by `pop`. */
  time = 0;
  kind = 0;
  ref = 0;
  gen = 0;

  constructor(initialCapacity = 1024) {
    const n = Math.max(16, initialCapacity);
    this.capacity = n;
    this.heap = new Int32Array(n);
    this.times = new Float64Array(n);
    this.seqs = new Float64Array(n);
    this.kinds = new Uint8Array(n);
    this.refs = new Int32Array(n);
    this.gens = new Int32Array(n);
    this.free = new Int32Array(n);
    for (let i = 0; i < n; i++) this.free[i] = n - 1 - i;
    this.freeCount = n;
  }

  private grow(): void {
    const old = this.capacity;
    const n = old * 2;
    const widen = <T extends Float64Array | Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.heap = widen(this.heap, (k) => new Int32Array(k));
    this.times = widen(this.times, (k) => new Float64Array(k));
    this.seqs = widen(this.seqs, (k) => new Float64Array(k));
    this.kinds = widen(this.kinds, (k) => new Uint8Array(k));
    this.refs = widen(this.refs, (k) => new Int32Array(k));
    this.gens = widen(this.gens, (k) => new Int32Array(k));
    this.free = new Int32Array(n);
    // Every old slot is in use (that is why we grow): the new half is free.
    for (let i = 0; i < n - old; i++) this.free[i] = n - 1 - i;
    this.freeCount = n - old;
    this.capacity = n;
  }

  /** Earliest pending time, Infinity when empty. */
  peekTime(): number {
    return this.size === 0 ? Infinity : this.times[this.heap[0]!]!;
  }

  push(time: number, kind: number, ref: number, gen: number): void {
    if (this.freeCount === 0) this.grow();
    const slot = this.free[--this.freeCount]!;
    this.times[slot] = time;
    this.seqs[slot] = this.seq++;
    this.kinds[slot] = kind;
    this.refs[slot] = ref;
    this.gens[slot] = gen;
    // Sift up.
    const heap = this.heap;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!this.less(slot, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = slot;
  }

  /** Removes the earliest event into `time`, `kind`, `ref`, `gen`; false when empty. */
  pop(): boolean {
    if (this.size === 0) return false;
    const heap = this.heap;
    const top = heap[0]!;
    this.time = this.times[top]!;
    this.kind = this.kinds[top]!;
    this.ref = this.refs[top]!;
    this.gen = this.gens[top]!;
    this.free[this.freeCount++] = top;
    const n = --this.size;
    if (n > 0) {
      // Sift the last element down from the root.
      const slot = heap[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        if (r < n && this.less(heap[r]!, heap[l]!)) c = r;
        const cs = heap[c]!;
        if (!this.less(cs, slot)) break;
        heap[i] = cs;
        i = c;
      }
      heap[i] = slot;
    }
    return true;
  }

  private less(a: number, b: number): boolean {
    const ta = this.times[a]!;
    const tb = this.times[b]!;
    return ta < tb || (ta === tb && this.seqs[a]! < this.seqs[b]!);
  }
}
