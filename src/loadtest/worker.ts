/**
 * Worker-thread entry of the admin API's tests (see runner.ts): runs one `runLoad` off the
 * admin server's event loop and reports progress and the result by message.
 *
 * In:  workerData = { options: LoadOptions }; a message { type: 'stop' } ends the run early.
 * Out: { type: 'progress', progress } ... then { type: 'result', result } or { type: 'error', message }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runLoad } from './engine.js';
import type { LoadOptions, LoadProgress, LoadResult } from './types.js';

export type WorkerMessage =
  | { type: 'progress'; progress: LoadProgress }
  | { type: 'result'; result: LoadResult }
  | { type: 'error'; message: string };

const port = parentPort;
if (port !== null) {
  const controller = new AbortController();
  port.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') controller.abort();
  });
  const post = (m: WorkerMessage): void => port.postMessage(m);
  const { options } = workerData as { options: LoadOptions };
  runLoad(options, { signal: controller.signal, onProgress: (progress) => post({ type: 'progress', progress }) }).then(
    (result) => {
      post({ type: 'result', result });
      port.close();
    },
    (err: unknown) => {
      post({ type: 'error', message: (err as Error)?.message ?? String(err) });
      port.close();
    },
  );
}
