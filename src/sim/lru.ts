/**
 * A fixed-capacity LRU set of integer keys, the simulated server's cache.
 *
 * The recency list is two Int32Arrays of slot links (no node objects), and a Map finds a key's
 * slot; memory is O(capacity) whatever the key space. A lookup that misses inserts the key and
 * evicts the least recently used one when full, as a read-through cache does.
 */
export class LruCache {
  private readonly keys: Int32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly index = new Map<number, number>();
  private head = -1; // most recent
  private tail = -1; // least recent
  private used = 0;

  constructor(readonly capacity: number) {
    this.keys = new Int32Array(capacity);
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
  }

  get size(): number {
    return this.used;
  }

  /** True on a hit (the key becomes most recent); on a miss the key is inserted. */
  access(key: number): boolean {
    if (this.capacity === 0) return false;
    const slot = this.index.get(key);
    if (slot !== undefined) {
      if (slot !== this.head) {
        this.unlink(slot);
        this.pushFront(slot);
      }
      return true;
    }
    let s: number;
    if (this.used < this.capacity) {
      s = this.used++;
    } else {
      s = this.tail;
      this.unlink(s);
      this.index.delete(this.keys[s]!);
    }
    this.keys[s] = key;
    this.index.set(key, s);
    this.pushFront(s);
    return false;
  }

  has(key: number): boolean {
    return this.index.has(key);
  }

  clear(): void {
    this.index.clear();
    this.head = -1;
    this.tail = -1;
    this.used = 0;
  }

  private unlink(s: number): void {
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p === -1) this.head = n;
    else this.next[p] = n;
    if (n === -1) this.tail = p;
    else this.prev[n] = p;
  }

  private pushFront(s: number): void {
    this.prev[s] = -1;
    this.next[s] = this.head;
    if (this.head !== -1) this.prev[this.head] = s;
    this.head = s;
    if (this.tail === -1) this.tail = s;
  }
}
