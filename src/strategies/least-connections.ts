/**
 * least_connections: the ready backend with the fewest requests in flight per unit of weight.
 *
 * Ties rotate: the scan starts one past the previous choice, so equal backends share the
 * traffic instead of the first one in the list taking every tie (the original's bias).
 * O(n) per pick over the ready array: for the pool sizes a proxy has (tens), a linear scan of
 * a packed array beats HAProxy's ordered tree in JavaScript, and needs no repositioning on
 * every start and end.
 */
import type { Backend } from '../pool/backend.js';
import { excluded, type PickContext, type Strategy, type StrategyDefinition, type StrategyDeps } from './types.js';
import { leastConnectionsOptions } from './least-connections.options.js';

/**
 * The least-loaded scan with rotating ties, shared by least_connections and by beta1 for
 * requests without a key. Keeps only the rotation point between picks.
 */
export class LeastLoaded {
  private rotation = 0;

  pick(ready: readonly Backend[], ctx: PickContext): Backend | undefined {
    const n = ready.length;
    if (n === 0) return undefined;
    const start = this.rotation % n;
    let best: Backend | undefined;
    let bestIndex = 0;
    let bestLoad = Infinity;
    for (let k = 0; k < n; k++) {
      const i = start + k < n ? start + k : start + k - n;
      const b = ready[i]!;
      if (excluded(ctx, b)) continue;
      const load = (b.inflight + 1) / b.weight;
      if (load < bestLoad) {
        best = b;
        bestLoad = load;
        bestIndex = i;
      }
    }
    if (best !== undefined) this.rotation = bestIndex + 1;
    return best;
  }
}

class LeastConnections implements Strategy {
  readonly name = 'least_connections' as const;
  private readonly pool: StrategyDeps['pool'];
  private readonly scan = new LeastLoaded();

  constructor(deps: StrategyDeps) {
    this.pool = deps.pool;
  }

  pick(ctx: PickContext): Backend | undefined {
    return this.scan.pick(this.pool.ready, ctx);
  }
}

export const leastConnections: StrategyDefinition<'least_connections', typeof leastConnectionsOptions> = {
  name: 'least_connections',
  options: leastConnectionsOptions,
  needs: () => 'none',
  summary: 'fewest requests in flight per unit of weight, ties rotate',
  create: (deps) => new LeastConnections(deps),
};
