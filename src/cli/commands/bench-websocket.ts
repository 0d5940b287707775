/**
 * `ballast bench --websocket`: the flags of the tunnel-memory benchmark (src/bench/websocket.ts)
 * and its output. Flags of the other benchmarks are refused rather than ignored.
 */
import { ChildError } from '../../bench/children.js';
import { formatWebsocket, MAX_TUNNELS, runWebsocketBench, WEBSOCKET_DEFAULTS } from '../../bench/websocket.js';
import { numberFlag, UsageError } from '../command.js';
import { abortOnSignal } from '../signals.js';
import type { BenchFlagValues } from './bench-throughput.js';

const ALLOWED = new Set(['websocket', 'tunnels', 'json']);

export interface WebsocketFlags {
  tunnels: number;
  json: boolean;
}

export function websocketFlags(values: BenchFlagValues): WebsocketFlags {
  for (const [flag, v] of Object.entries(values)) {
    if (!ALLOWED.has(flag) && v !== undefined && v !== false) throw new UsageError(`--${flag} does not apply to --websocket (it takes --tunnels and --json)`);
  }
  const tunnels = numberFlag('tunnels', values.tunnels as string | undefined, { min: 1, max: MAX_TUNNELS, integer: true }) ?? WEBSOCKET_DEFAULTS.tunnels;
  return { tunnels, json: values.json === true };
}

export async function runWebsocketCommand(values: BenchFlagValues): Promise<number> {
  const flags = websocketFlags(values);
  if (process.platform !== 'linux') {
    process.stderr.write('ballast bench --websocket reads memory from /proc: it runs on Linux only\n');
    return 1;
  }
  try {
    const report = await abortOnSignal(
      () => process.stderr.write('ballast bench --websocket: stopping\n'),
      (signal) => runWebsocketBench({ tunnels: flags.tunnels, signal, onProgress: (l) => process.stderr.write(`${l}\n`) }),
    );
    process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatWebsocket(report));
    return report.counted ? 0 : 1;
  } catch (err) {
    if (err instanceof ChildError || (err as Error).message === 'interrupted') {
      process.stderr.write(`ballast bench --websocket: ${(err as Error).message}\n`);
      return (err as Error).message === 'interrupted' ? 130 : 1;
    }
    throw err;
  }
}
