/**
 * A worker's entry: one event loop running a data plane (proxy, strategy, pool) built from the
 * config the main thread handed over. Its backends' readiness, its config and its strategy come
 * from the main thread (protocol.ts); its statistics go back there (stats-channel.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Ballast } from '../app/ballast.js';
import type { Pool } from '../pool/pool.js';
import { createLogger } from '../util/log.js';
import type { BackendState, FromWorker, ToWorker, WorkerInit } from './protocol.js';
import { receiveListener } from './handoff.js';
import { SharedLoad } from './shared-load.js';
import { StatsBatcher, type StrategyFigures } from './stats-channel.js';
import { ConfigError } from '../config/load.js';
import { HttpProxy } from '../proxy/http/server.js';

/** How often requests queued for a full backend look again for a slot another worker freed. */
const QUEUE_TICK_MS = 5;
/** How often the strategy's own figures travel with the statistics. */
const STRATEGY_FIGURES_MS = 1_000;

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: FromWorker): void => port.postMessage(m);
const log = createLogger(init.logLevel).child({ worker: init.index + 1 });

/** Applies the main thread's verdicts; addresses this worker does not have yet are skipped. */
function applyBackends(pool: Pool, states: readonly BackendState[]): void {
  const now = pool.clock.now();
  for (const s of states) {
    const b = pool.backends.find((x) => x.address === s.address);
    if (b === undefined) continue;
    pool.setEnabled(b, s.enabled);
    pool.setHealthy(b, s.healthy);
    pool.setEjectedUntil(b, s.ejectedForMs === 0 ? 0 : now + s.ejectedForMs);
  }
}

async function main(): Promise<void> {
  const load = new SharedLoad(init.load, init.workers);
  let slots = new Map(init.slots);
  const overflow = new Set<string>();
  const poolLoad = load.poolLoad(
    (address) => slots.get(address),
    init.index,
    (address) => {
      if (overflow.has(address)) return;
      overflow.add(address);
      log.warn({ backend: address }, 'no shared in-flight slot left for this backend: its in-flight count is this worker\'s alone');
    },
  );
  const batcher = new StatsBatcher();
  const listen = 'reusePort' in init.listen ? { reusePort: true } : { handle: await receiveListener(init.listen.handoffPath) };
  const ballast = await Ballast.start({
    config: init.config,
    log,
    part: {
      role: 'data',
      load: poolLoad,
      recorder: batcher,
      accessLog: batcher.accessLine,
      listen,
      index: init.index,
      beforeListen: (b) => {
        if (b.active.name !== init.strategy) b.active.switchTo(init.strategy);
        applyBackends(b.pool, init.backends);
      },
    },
  });
  ballast.active.addObserver(batcher.outcome);

  let figuresAt = 0;
  const flush = (): void => {
    const now = Date.now();
    let strategy: StrategyFigures | undefined;
    if (now - figuresAt >= STRATEGY_FIGURES_MS) {
      figuresAt = now;
      const s = ballast.active.strategy;
      const servers: StrategyFigures['servers'] = {};
      if (s.serverMetrics !== undefined) for (const b of ballast.pool.backends) servers[b.address] = s.serverMetrics(b);
      strategy = { name: s.name, global: s.globalMetrics?.(), servers };
    }
    const batch = batcher.take();
    if (batch !== undefined || strategy !== undefined) post({ type: 'stats', batch: { nums: [], clients: [], backends: [], lines: [], ...batch, strategy } });
  };
  const timer = setInterval(flush, init.statsIntervalMs);
  // Requests queued for a backend at limits.maxConnectionsPerBackend: the slot they wait for
  // may free on another worker, which cannot wake them, so they look again on this tick.
  const proxy = ballast.proxy;
  const queueTick =
    proxy instanceof HttpProxy
      ? setInterval(() => {
          if (ballast.config.limits.maxConnectionsPerBackend > 0) proxy.wakeQueued();
        }, QUEUE_TICK_MS)
      : undefined;
  queueTick?.unref();

  port.on('message', (m: ToWorker) => {
    switch (m.type) {
      case 'config':
        slots = new Map(m.slots);
        try {
          ballast.reload(m.config);
          if (ballast.active.name !== m.strategy) ballast.active.switchTo(m.strategy);
        } catch (err) {
          // The main thread applied this config already, so this is a bug; a restart brings the worker in line.
          log.error({ err: (err as Error).message }, 'worker: reload the main thread applied failed here; restarting');
          process.exit(1);
        }
        return;
      case 'strategy':
        ballast.active.switchTo(m.name);
        return;
      case 'backends':
        applyBackends(ballast.pool, m.backends);
        return;
      case 'report':
        post({
          type: 'report',
          id: m.id,
          report: {
            index: init.index,
            strategy: ballast.active.name,
            ready: ballast.pool.ready.map((b) => b.address),
            servers: ballast.pool.backends.map((b) => b.address),
            inflight: load.held(init.index),
          },
        });
        return;
      case 'stop':
        void ballast.stop(m.deadlineMs).then(() => {
          clearInterval(timer);
          clearInterval(queueTick);
          flush();
          post({ type: 'stopped' });
          port.close();
        });
        return;
    }
  });
  post({ type: 'ready', host: ballast.address.host, port: ballast.address.port });
}

main().catch((err: unknown) => {
  const e = err as NodeJS.ErrnoException;
  post({ type: 'failed', message: e instanceof Error ? e.message : String(e), code: e?.code, configError: e instanceof ConfigError });
  process.exit(1);
});
