/** `ballast backend`: run one demo backend. */
import { parseArgs } from 'node:util';
import { UsageError, numberFlag, type Command } from '../command.js';
import { startBackend } from '../../backend/server.js';
import { parseServiceTime } from '../../backend/service-time.js';
import { waitForShutdownSignal } from '../signals.js';

const help = `Usage: ballast backend --port N [--name S] [flags]

Runs a demo backend: GET /health answers 200, GET /control?set_delay_ms=N sets a fixed
delay, ?delay=N on any request adds N ms, POST /echo streams the body back. Every response
carries X-Backend: NAME:PORT and a JSON body (server, port, timestamp, request_id,
applied_delay_ms, fixed_delay_ms).

Flags:
  --port N               port to listen on (default 8081)
  --host H               address to listen on (default 127.0.0.1)
  --name S               name in X-Backend and the body (default backend-PORT)
  --delay-ms D           fixed delay added to every request (default 0)
  --service DIST         service time: fixed:MS | uniform:MIN-MAX | lognormal:MEDIAN:SIGMA
                         (default uniform:10-50, as the original backend)
  --workers N            requests processed at once, the rest wait in FIFO order (default 0: unlimited)
  --stall-prob P         probability that a request stalls (noisy neighbour; default 0)
  --stall-ms X           extra time of a stalled request (default 0)
  --cache-size N         LRU cache simulation with N keys; answers X-Cache: HIT|MISS (default 0: off)
  --miss-penalty-ms M    extra time of a cache miss (default 0)
  --cache-key-header H   header holding the cache key, else the path is the key (default X-Key)
  --orca FORM            report load on every response in an endpoint-load-metrics header
                         (ORCA), FORM text or json: cpu_utilization (busy worker slots over
                         --workers, averaged over the last second; with --workers 0 the mean
                         number of requests in service), rps_fractional, eps (default: none)
  --seed N               random seed for service times and stalls
  --help                 this text
`;

export const backendCommand: Command = {
  name: 'backend',
  help,
  async run(args) {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        name: { type: 'string' },
        'delay-ms': { type: 'string' },
        service: { type: 'string' },
        workers: { type: 'string' },
        'stall-prob': { type: 'string' },
        'stall-ms': { type: 'string' },
        'cache-size': { type: 'string' },
        'miss-penalty-ms': { type: 'string' },
        'cache-key-header': { type: 'string' },
        seed: { type: 'string' },
        orca: { type: 'string' },
      },
    });
    const port = numberFlag('port', values.port, { min: 0, max: 65535, integer: true }) ?? 8081;
    let serviceTime;
    try {
      serviceTime = values.service === undefined ? undefined : parseServiceTime(values.service);
    } catch (err) {
      throw new UsageError(`--service: ${(err as Error).message}`);
    }
    const orca = values.orca;
    if (orca !== undefined && orca !== 'text' && orca !== 'json') throw new UsageError(`--orca: expected text or json, got "${orca}"`);
    const backend = await startBackend({
      ...(orca !== undefined ? { loadReports: orca } : {}),
      port,
      host: values.host ?? '127.0.0.1',
      name: values.name ?? `backend-${port}`,
      fixedDelayMs: numberFlag('delay-ms', values['delay-ms'], { min: 0, max: 600_000 }) ?? 0,
      ...(serviceTime ? { serviceTime } : {}),
      workers: numberFlag('workers', values.workers, { min: 0, integer: true }) ?? 0,
      stallProbability: numberFlag('stall-prob', values['stall-prob'], { min: 0, max: 1 }) ?? 0,
      stallMs: numberFlag('stall-ms', values['stall-ms'], { min: 0 }) ?? 0,
      cacheSize: numberFlag('cache-size', values['cache-size'], { min: 0, integer: true }) ?? 0,
      missPenaltyMs: numberFlag('miss-penalty-ms', values['miss-penalty-ms'], { min: 0 }) ?? 0,
      cacheKeyHeader: values['cache-key-header'] ?? 'X-Key',
      ...(values.seed !== undefined ? { seed: numberFlag('seed', values.seed, { min: 0, integer: true })! } : {}),
    }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') throw new UsageError(`cannot listen on port ${port}: ${err.code}`);
      throw err;
    });
    process.stdout.write(`backend ${backend.name} listening on http://${backend.host}:${backend.port}\n`);
    await waitForShutdownSignal();
    await backend.close();
    return 0;
  },
};
