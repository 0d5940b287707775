/** Resolves on the first SIGINT or SIGTERM, for commands that run until stopped. */
export function waitForShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * Runs `work` with a signal that the first SIGINT or SIGTERM aborts, after `onFirst` (a
 * message); a second one exits at once with 130. For the benchmarks: the first Ctrl-C lets the
 * run stop its child processes in order, and on the second the exit hook in
 * src/bench/children.ts kills whatever is left.
 */
export async function abortOnSignal<T>(onFirst: () => void, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const on = (): void => {
    if (!abort.signal.aborted) {
      onFirst();
      abort.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  try {
    return await work(abort.signal);
  } finally {
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
  }
}
