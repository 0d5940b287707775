/**
 * `ballast stresstest`: steps of rising concurrency or rate until the error rate or p99 crosses
 * a threshold; prints the table of steps and the knee. The engine is src/loadtest/stress.ts.
 */
import { parseArgs } from 'node:util';
import { numberFlag, UsageError, type Command } from '../command.js';
import { LoadOptionsError } from '../../loadtest/engine.js';
import { arrivalsFlag, durationFlag, requestFlagSpecs, requestFlagsHelp, requestOptions, withInterrupt } from '../../loadtest/flags.js';
import { formatStressResult, ms, ProgressBar } from '../../loadtest/format.js';
import { runStress } from '../../loadtest/stress.js';
import type { StressOptions } from '../../loadtest/types.js';

const help = `Usage: ballast stresstest --url URL [flags]

Runs load steps of rising concurrency (closed loop) or rate (open loop) until a step's error
rate or p99 latency crosses its threshold, then reports every step and the knee: the highest
step that held.

Ramp:
  --ramp KIND             connections (default) or rate
  --start N               first step (default 10 connections or 100 req/s)
  --step N                added per step (default: the start)
  --max N                 last step tried (default 500 connections or 10000 req/s); at most 100 steps
  --step-duration T       length of each step (default 5s)
  --max-error-rate P      a step fails above P percent failed requests (default 1)
  --max-p99 MS            a step fails when its p99 is above MS milliseconds (default 1000)
  --arrivals KIND         rate ramp: poisson (default) or constant
  -c, --connections C     rate ramp: connections per step (default from the rate, as loadtest)
A rate step also fails when the rate could not be held.

${requestFlagsHelp}

Example:
  ballast stresstest --url http://127.0.0.1:8080/ --start 10 --step 20 --max 200 --max-p99 200`;

export const stresstestCommand: Command = {
  name: 'stresstest',
  help,
  async run(args: string[]): Promise<number> {
    const { values: v } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...requestFlagSpecs,
        ramp: { type: 'string' },
        start: { type: 'string' },
        step: { type: 'string' },
        max: { type: 'string' },
        'step-duration': { type: 'string' },
        'max-error-rate': { type: 'string' },
        'max-p99': { type: 'string' },
      },
    });
    const ramp = v.ramp;
    if (ramp !== undefined && ramp !== 'connections' && ramp !== 'rate') throw new UsageError(`--ramp: expected connections or rate, got "${ramp}"`);
    const integer = ramp !== 'rate';
    const arrivals = arrivalsFlag(v.arrivals);
    if (arrivals !== undefined && ramp !== 'rate') throw new UsageError('--arrivals needs --ramp rate');
    if (v.connections !== undefined && ramp !== 'rate') throw new UsageError('--connections is the ramped value; use --start/--step/--max (or --ramp rate)');
    const errorPct = numberFlag('max-error-rate', v['max-error-rate']?.replace(/%$/, ''), { min: 0, max: 100 });
    const options: StressOptions = {
      ...requestOptions(v),
      ramp,
      arrivals,
      connections: numberFlag('connections', v.connections, { min: 1, max: 10_000, integer: true }),
      start: numberFlag('start', v.start, { min: integer ? 1 : 0.001, integer }),
      step: numberFlag('step', v.step, { min: integer ? 1 : 0.001, integer }),
      max: numberFlag('max', v.max, { min: integer ? 1 : 0.001, max: integer ? 10_000 : 1_000_000, integer }),
      stepDurationS: durationFlag('step-duration', v['step-duration'], 3600),
      maxErrorRate: errorPct === undefined ? undefined : errorPct / 100,
      maxP99Ms: numberFlag('max-p99', v['max-p99'], { min: 0.001 }),
    };
    const bar = process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
    const unit = ramp === 'rate' ? 'req/s' : 'conn';
    let result;
    try {
      result = await withInterrupt((signal) =>
        runStress(options, {
          signal,
          onProgress: bar === null ? undefined : (p) => bar.render(p.load, `step ${p.step + 1} (${p.level} ${unit}) `),
          onStep:
            bar === null || v.json
              ? undefined
              : (s) => {
                  bar.clear();
                  const r = s.result;
                  process.stderr.write(`step ${s.level} ${unit}: ${Math.round(r.throughput)} req/s, p99 ${ms(r.latencyMs.p99)} ms, ${r.failed.total} failed: ${s.held ? 'held' : `failed (${s.reason})`}\n`);
                },
        }),
      );
    } catch (err) {
      if (err instanceof LoadOptionsError) throw new UsageError(err.message);
      throw err;
    } finally {
      bar?.clear();
    }
    if (v.json) process.stdout.write(JSON.stringify(result) + '\n');
    else process.stdout.write(formatStressResult(result) + '\n');
    return 0;
  },
};
