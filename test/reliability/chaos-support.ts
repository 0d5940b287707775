/**
 * Shared by the chaos tests: three demo backend processes, a balancer process with short
 * health checks, and a watcher polling the admin API for when a backend left and rejoined.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { getJson, sleep, spawnBackend, spawnBalancer, type BackendProcess, type BalancerProcess } from './helpers.js';

/** Cleanups registered by the helpers below; the test file runs them in its `after` hook. */
export const cleanups: Array<() => Promise<void> | void> = [];

export const CHECK = { intervalMs: 250, timeoutMs: 200, fall: 2, rise: 2, jitter: 0.1 };
/** Polling the admin API and a busy 2-core machine: what a timing bound may be late by. */
export const SLACK_MS = 300;

export interface ServerView {
  address: string;
  status: string;
  healthy: boolean;
  health?: { consecutiveFails: number; consecutivePasses: number; lastResult: string | null };
}

export async function servers(lb: BalancerProcess): Promise<ServerView[]> {
  return ((await getJson(`${lb.adminUrl}/api/servers`)) as { servers: ServerView[] }).servers;
}

export async function threeBackends(): Promise<BackendProcess[]> {
  const list = await Promise.all(['b1', 'b2', 'b3'].map((n) => spawnBackend(n, ['--service', 'uniform:2-8'])));
  for (const b of list) cleanups.push(() => b.kill('SIGKILL'));
  return list;
}

export async function balancer(backends: BackendProcess[], extra: Record<string, unknown> = {}): Promise<BalancerProcess> {
  const lb = await spawnBalancer({
    strategy: 'round_robin',
    servers: backends.map((b) => ({ host: '127.0.0.1', port: b.port })),
    healthCheck: CHECK,
    timeouts: { connectMs: 500, responseHeadersMs: 2000 },
    // Short ejections, so a restarted backend is not held out by an ejection for the default 10 s.
    outlierDetection: { baseEjectionMs: 500 },
    ...extra,
  });
  cleanups.push(() => lb.cleanup());
  assert.ok(lb.adminUrl, 'admin API address logged');
  // A first check that failed (a backend still warming up on a busy machine) needs `rise` passes.
  let all: ServerView[] = [];
  for (let i = 0; i < 50; i++) {
    all = await servers(lb);
    if (all.every((s) => s.status === 'up')) break;
    await sleep(100);
  }
  assert.deepEqual(
    all.map((s) => s.status),
    ['up', 'up', 'up'],
  );
  return lb;
}

/** Polls the admin API for one backend's state until `stop()`; records when it changed. */
export function watch(lb: BalancerProcess, address: string) {
  const seen = { outOfRotationAt: 0, markedDownAt: 0, backUpAt: 0, polls: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = performance.now();
      const s = (await servers(lb)).find((x) => x.address === address);
      seen.polls++;
      if (s !== undefined) {
        if (!s.healthy && seen.outOfRotationAt === 0) seen.outOfRotationAt = at;
        // Marked down by the active checks (an ejection shows as status "ejected" but the check counters tell).
        if (seen.markedDownAt === 0 && (s.status === 'down' || (s.health?.consecutiveFails ?? 0) >= CHECK.fall)) seen.markedDownAt = at;
        if (seen.markedDownAt !== 0 && seen.backUpAt === 0 && s.status === 'up') seen.backUpAt = at;
      }
      await sleep(20);
    }
  })();
  return {
    seen,
    async stop() {
      running = false;
      await loop;
    },
  };
}

