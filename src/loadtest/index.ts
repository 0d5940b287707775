/**
 * The load tester's public API: one engine behind the CLI (`ballast loadtest`,
 * `ballast stresstest`), the admin API (TestRunner, in a worker thread) and the benchmark
 * (in-process).
 *
 *   runLoad(options, { onProgress?, signal? }): Promise<LoadResult>
 *     One run. Closed loop unless `rate` is set. Rejects only with LoadOptionsError (bad
 *     options); failed requests are counted in the result. `signal` stops new starts; requests
 *     in flight finish (or time out) and are counted.
 *
 *   runStress(options, { onProgress?, onStep?, signal? }): Promise<StressResult>
 *     Steps of runLoad with rising connections (or rate) until a threshold is crossed.
 *
 *   new TestRunner().start('load_test' | 'stress_test', body, targetUrl)
 *     The admin API's entry: validated, capped, one at a time, in a worker thread.
 *
 * Results are plain data (JSON-safe), so they cross threads and print with JSON.stringify.
 */
export { runLoad, planLoad, LoadOptionsError, defaultOpenLoopConnections, LIMITS } from './engine.js';
export { runStress, planStress, MAX_STEPS } from './stress.js';
export { TestRunner, type RunnerProgress, type RunnerReply, type TestRunnerOptions } from './admin.js';
export { DEFAULT_CAPS, type TestCaps, type TestKind } from './api-fields.js';
export { formatLoadResult, formatStressResult } from './format.js';
export type * from './types.js';
