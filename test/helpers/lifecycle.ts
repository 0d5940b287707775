/**
 * What most test files need around their tests: things to stop once the file's tests are
 * done (last started, first stopped), a sleep, and a bounded poll.
 */
import { after } from 'node:test';

/** Run after this file's tests, in reverse order. Push a function, or use track(). */
export const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Stops `x` after this file's tests: a Ballast (50 ms drain) or a server with close(). */
export function track<T extends { close(): Promise<void> } | { stop(ms?: number): Promise<void> }>(x: T): T {
  cleanups.push(() => ('stop' in x ? x.stop(50) : x.close()));
  return x;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms for at most `ms`; true once it holds. */
export async function until(cond: () => boolean, ms = 2_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}
