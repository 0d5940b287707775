/**
 * `ballast loadtest`: one load run against a URL, closed or open loop, printed as text or JSON.
 * The engine is src/loadtest/engine.ts; this file only turns flags into options and prints.
 */
import { parseArgs } from 'node:util';
import { numberFlag, UsageError, type Command } from '../command.js';
import { LoadOptionsError, runLoad } from '../../loadtest/engine.js';
import { arrivalsFlag, durationFlag, requestFlagSpecs, requestFlagsHelp, requestOptions, withInterrupt } from '../../loadtest/flags.js';
import { formatLoadResult, ProgressBar } from '../../loadtest/format.js';
import type { LoadOptions } from '../../loadtest/types.js';

const help = `Usage: ballast loadtest --url URL [flags]

Sends requests to URL and reports what came back: requests sent, succeeded (2xx and 3xx
only), failed by kind (4xx, 5xx, timeout, connection), throughput, latency percentiles (HDR
histogram) and the share of each backend named by the X-Backend response header.

Closed loop (default): C connections each send a request, wait for it, send the next.
  -c, --connections C     concurrent requests (default 10)
  -n, --requests N        stop after N requests
  -d, --duration T        stop starting requests after T (e.g. 30s; default 10s without -n)

Open loop: requests start on a schedule whatever the responses do; each one's latency counts
from its scheduled start, so a stalled server shows as latency (no coordinated omission).
  --rate R                requests per second
  --arrivals KIND         poisson (default) or constant gaps
  -c, --connections C     most connections used (default rate/5, at least 32, at most 1000);
                          a start that finds all busy waits, and the wait is in its latency
  -n / -d                 as above; the result warns if the rate could not be held

${requestFlagsHelp}

Examples:
  ballast loadtest --url http://127.0.0.1:8080/ -c 50 -d 10s
  ballast loadtest --url http://127.0.0.1:8080/items --rate 2000 -d 30s --keys 1000 --zipf 1.1 --json`;

export const loadtestCommand: Command = {
  name: 'loadtest',
  help,
  async run(args: string[]): Promise<number> {
    const { values: v } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...requestFlagSpecs,
        requests: { type: 'string', short: 'n' },
        duration: { type: 'string', short: 'd' },
        rate: { type: 'string' },
      },
    });
    const rate = numberFlag('rate', v.rate, { min: 0.001, max: 1_000_000 });
    const arrivals = arrivalsFlag(v.arrivals);
    if (arrivals !== undefined && rate === undefined) throw new UsageError('--arrivals needs --rate (open loop)');
    const options: LoadOptions = {
      ...requestOptions(v),
      connections: numberFlag('connections', v.connections, { min: 1, max: 10_000, integer: true }),
      requests: numberFlag('requests', v.requests, { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true }),
      durationS: durationFlag('duration', v.duration, 86_400),
      rate,
      arrivals,
    };
    const bar = process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
    let result;
    try {
      result = await withInterrupt((signal) => runLoad(options, { signal, onProgress: bar === null ? undefined : (p) => bar.render(p) }));
    } catch (err) {
      if (err instanceof LoadOptionsError) throw new UsageError(err.message);
      throw err;
    } finally {
      bar?.clear();
    }
    if (v.json) process.stdout.write(JSON.stringify(result) + '\n');
    else process.stdout.write(formatLoadResult(result, { requests: options.requests, durationS: options.requests === undefined && options.durationS === undefined ? 10 : options.durationS }) + '\n');
    return 0;
  },
};
