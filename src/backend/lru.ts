/**
 * A bounded LRU set of keys, for the demo backend's cache simulation. A Map keeps insertion
 * order, so re-inserting on a hit moves a key to the back and the first key is the eldest.
 */
export class LruSet {
  private readonly keys = new Map<string, true>();
  constructor(readonly capacity: number) {}

  /** True on a hit; on a miss the key is inserted, evicting the least recently used. */
  touch(key: string): boolean {
    if (this.keys.delete(key)) {
      this.keys.set(key, true);
      return true;
    }
    if (this.capacity <= 0) return false;
    if (this.keys.size >= this.capacity) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(key, true);
    return false;
  }

  get size(): number {
    return this.keys.size;
  }
}
