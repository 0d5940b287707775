/**
 * The load every worker sees: in-flight counts per backend, in flight in total, and open client
 * connections, as Int32 counters in one SharedArrayBuffer updated with Atomics. This is what
 * lets least_connections, alpha1, beta1's bounded loads and limits.maxConnectionsPerBackend
 * compare backends by every worker's requests, not one worker's share of them.
 *
 * Layout: row 0 holds the totals the strategies read; row 1 + w holds worker w's own share of
 * them, so that when a worker dies the main thread can take back what it held (its requests
 * died with it) and the totals stay true. A worker adds to both rows (two atomic adds per
 * change), a reader loads one cell.
 *
 * Backends get a slot by address from the main thread (SlotTable), handed to workers with every
 * config, so all of them count one backend in one cell. A slot is never reused for another
 * address (a request still in flight to a removed backend ends in its own cell), so the table
 * has a cap: SLOTS addresses over a run, ample for discovery's churn of a fleet; past it, new
 * backends count per worker (logged once).
 */
import { localCell, type InflightCell } from '../pool/backend.js';
import type { PoolLoad } from '../pool/pool.js';

export const MAX_WORKERS = 64;
/** Backend addresses the shared counters have room for, over the life of the process. */
export const SLOTS = 4096;
const TOTAL = SLOTS;
const CLIENTS = SLOTS + 1;
const ROW = SLOTS + 2;

export class SharedLoad {
  /** Row 0: the totals. */
  readonly totals: Int32Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly workers: number,
  ) {
    this.totals = new Int32Array(buffer, 0, ROW);
  }

  static create(workers: number): SharedLoad {
    return new SharedLoad(new SharedArrayBuffer((workers + 1) * ROW * Int32Array.BYTES_PER_ELEMENT), workers);
  }

  /** Worker `w`'s own share. */
  row(w: number): Int32Array {
    return new Int32Array(this.buffer, (w + 1) * ROW * Int32Array.BYTES_PER_ELEMENT, ROW);
  }

  /**
   * The pool's cells for worker `w`, or for the main thread (`null`: it only reads). `slotOf`
   * gives an address's slot; an address without one counts in a cell of this pool's own.
   */
  poolLoad(slotOf: (address: string) => number | undefined, w: number | null, onOverflow: (address: string) => void): PoolLoad {
    const mine = w === null ? null : this.row(w);
    return {
      total: { total: this.totals, mine, slot: TOTAL },
      cell: (address: string): InflightCell => {
        const slot = slotOf(address);
        if (slot === undefined) {
          onOverflow(address);
          return localCell();
        }
        return { total: this.totals, mine, slot };
      },
    };
  }

  /** In-flight requests worker `w` holds. */
  held(w: number): number {
    return Atomics.load(this.row(w), TOTAL);
  }

  /** Client connections open on every worker. */
  clientConnections(): number {
    return Atomics.load(this.totals, CLIENTS);
  }

  /** Worker `w` opened (+1) or closed (-1) a client connection. */
  addClient(mine: Int32Array, delta: number): void {
    Atomics.add(this.totals, CLIENTS, delta);
    Atomics.add(mine, CLIENTS, delta);
  }

  /** Worker `w` is gone: what it still counted ended with it. Call before a new worker takes its row. */
  forget(w: number): void {
    const mine = this.row(w);
    for (let i = 0; i < ROW; i++) {
      const held = Atomics.exchange(mine, i, 0);
      if (held !== 0) Atomics.sub(this.totals, i, held);
    }
  }
}

/** The main thread's address-to-slot table: assigns on first sight, never reuses. */
export class SlotTable {
  private readonly slots = new Map<string, number>();

  slotOf(address: string): number | undefined {
    let slot = this.slots.get(address);
    if (slot === undefined && this.slots.size < SLOTS) {
      slot = this.slots.size;
      this.slots.set(address, slot);
    }
    return slot;
  }

  entries(): Array<[string, number]> {
    return [...this.slots];
  }
}
