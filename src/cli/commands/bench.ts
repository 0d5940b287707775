/**
 * `ballast bench`: the live benchmark (src/bench): the simulator's scenarios on real processes
 * on 127.0.0.1, Ballast with each strategy and HAProxy in each mode in front of the same demo
 * backends, under the same open-loop load. With --throughput, the data plane's raw speed
 * against HAProxy's instead (bench-throughput.ts).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { renderBenchChart } from '../../bench/chart.js';
import { ChildError } from '../../bench/children.js';
import { findHaproxy, haproxyAt, HAPROXY_MODES, type HaproxyBinary, type HaproxyMode } from '../../bench/haproxy.js';
import { liveSupport } from '../../bench/live-scenario.js';
import { formatBench } from '../../bench/report.js';
import { estimateSeconds, runBench, type BenchOptions } from '../../bench/run.js';
import { NAMED_SCENARIOS, resolveScenario, type Scenario } from '../../sim/scenario.js';
import { describeScenario } from '../../sim/report.js';
import { availableStrategies } from '../../strategies/registry.js';
import { numberFlag, UsageError, type Command } from '../command.js';
import { chartPath, commaList, resolveScenarios, strategiesFlag } from '../scenario-flags.js';
import { abortOnSignal } from '../signals.js';
import { runThroughputCommand, THROUGHPUT_DEFAULTS } from './bench-throughput.js';
import { runWebsocketCommand } from './bench-websocket.js';
import { WEBSOCKET_DEFAULTS } from '../../bench/websocket.js';

const help = `Usage: ballast bench [flags]
       ballast bench --throughput [flags]
       ballast bench --websocket [--tunnels N] [--json]

Runs the simulator's scenarios live on 127.0.0.1: demo backends as child processes (service
times, worker slots, stalls and caches as the scenario says), then for each target a run of
its own: Ballast with one strategy (\`ballast start\`), or HAProxy in one mode, in front of
fresh backends, under the same open-loop load (the load tester: a constant arrival rate,
latency counted from each request's intended start, the same keys for every target). Prints
the simulator's table per scenario, each server's share, and each Ballast strategy's ratio
to HAProxy's best mode on p99 and cache hit rate. Every run stops by itself; every child
process is stopped at the end, on errors and on Ctrl-C.

Live scenarios: homogeneous, slow-server, stragglers (stalls in the backends; whole-server
pauses by SIGSTOP/SIGCONT), cache, scale-out (joins by config reload / HAProxy runtime API),
churn (a server leaves, by reload / disable server, and one joins; hit rate and requests
lost by phase), failure (backends killed and restarted). heavy-tail is simulator-only
(Pareto service times). Demo backends report their load (ORCA endpoint-load-metrics, scenario
key loadReports; weighted_round_robin uses it with
--set config.weighted_round_robin.weightSource=orca).

Flags:
  --scenario NAME[,NAME]  scenario(s), or "all" (the live ones; default homogeneous):
                          ${Object.keys(NAMED_SCENARIOS).join(', ')}
  --strategies A,B        Ballast strategies (default: all seven)
  --haproxy-modes A,B     HAProxy modes: ${HAPROXY_MODES.join(', ')} (default roundrobin,
                          leastconn, random, plus hash for keyed scenarios); giving this flag
                          makes HAProxy required (exit 1 when it is missing)
  --no-haproxy            Ballast only
  --haproxy-bin PATH      the haproxy binary (default: found on PATH or in /usr/sbin)
  --duration S            measured seconds per run (default 10)
  --warmup S              unmeasured seconds of the same load before each run (default 5:
                          a Node.js balancer runs its code cold at first, and on a busy
                          machine it needs seconds of load to compile its hot paths; caches
                          fill too)
  --rate R                requests per second (default: the scenario's rate)
  --arrivals KIND         constant (default) or poisson
  --connections N         load tester connections (default: the rate, 64 to 1000)
  --repeat N              runs per target, interleaved; the table shows medians (default 1)
  --seed N                seeds arrivals, keys and the backends' service times (default 1)
  --servers N, --slots N, --set PATH=VALUE
                          scenario overrides, as in \`ballast simulate\`
  --json                  print JSON instead of tables (progress stays on stderr)
  --chart FILE.svg        SVG of latency percentiles per target (several scenarios:
                          FILE-<scenario>.svg)
  --list                  the scenarios, and whether each runs live
  -h, --help              this help

Throughput: --throughput runs no scenario but measures the data plane's raw speed. Two nginx
backends (one worker each, \`return 200\` of 100 bytes); wrk (one thread, keep-alive) drives
in turn nginx directly, Ballast L7 and L4 (round_robin) and HAProxy in HTTP mode (http-reuse
always) and TCP mode (one thread each). Each balancer is pinned alone to CPU 0 with taskset,
wrk and nginx share CPU 1. Rounds over the targets in alternating order, the best round of
each kept, then one run per target at one connection for the median latency a proxy adds.
Then, on the same balancers: CPU per request (every thread, from /proc) under an open loop
of 250 req/s from \`ballast loadtest\`, and the L7 balancers' RSS with N idle keep-alive
clients (one request each, then idle; their open-files limit is raised to N + 256).
Prints a Markdown table and Ballast's ratios to HAProxy. Needs wrk, nginx and taskset
(Debian: apt-get install -y wrk nginx util-linux), and haproxy to compare.
  --throughput            run it; it takes only these flags:
  --duration S            whole seconds per measured run (default ${THROUGHPUT_DEFAULTS.durationS})
  --warmup S              whole seconds of load before each measured run (default ${THROUGHPUT_DEFAULTS.warmupS})
  --connections N         wrk connections (default ${THROUGHPUT_DEFAULTS.connections})
  --repeat N              rounds over the targets (default ${THROUGHPUT_DEFAULTS.rounds})
  --cpu-seconds S         seconds of the 250 req/s run per balancer, 0 skips it
                          (default ${THROUGHPUT_DEFAULTS.cpuSeconds})
  --idle-clients N        idle client connections, 0 skips them (default ${THROUGHPUT_DEFAULTS.idleClients})
  --haproxy-bin PATH, --no-haproxy, --json
                          as above
  --no-tls                skip the TLS comparison. By default Ballast terminating TLS
                          (listen.tls) and HAProxy (bind ... ssl crt) run with the same
                          certificate (ECDSA P-256, made with openssl for the run): TLS
                          handshakes per second (wrk with Connection: close, a new connection
                          per request) and keep-alive req/s over TLS, rounds as above

WebSocket: --websocket opens WebSocket tunnels through Ballast (\`ballast start\` in a child
process, a \`ws\` echo server and clients in this one, all on 127.0.0.1), each proven by an
echoed message, and prints Ballast's resident memory before, with them open and after
closing them, and the cost per tunnel in KiB. Linux only (reads /proc).
  --websocket             run it; it takes only these flags:
  --tunnels N             tunnels held open at once (default ${WEBSOCKET_DEFAULTS.tunnels}, at most 10000)
  --json                  as above

Exit codes: 0 done, 1 a run failed or a program it needs is missing (HAProxy when asked for),
2 bad usage, 130 interrupted.
`;

export const benchCommand: Command = {
  name: 'bench',
  help,
  async run(args: string[]): Promise<number> {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        scenario: { type: 'string' },
        strategies: { type: 'string' },
        'haproxy-modes': { type: 'string' },
        'no-haproxy': { type: 'boolean', default: false },
        'haproxy-bin': { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        rate: { type: 'string' },
        arrivals: { type: 'string' },
        connections: { type: 'string' },
        repeat: { type: 'string' },
        seed: { type: 'string' },
        servers: { type: 'string' },
        slots: { type: 'string' },
        set: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        chart: { type: 'string' },
        list: { type: 'boolean', default: false },
        throughput: { type: 'boolean', default: false },
        websocket: { type: 'boolean', default: false },
        tunnels: { type: 'string' },
        'cpu-seconds': { type: 'string' },
        'idle-clients': { type: 'string' },
        'no-tls': { type: 'boolean', default: false },
      },
    });

    if (values.throughput && values.websocket) throw new UsageError('--throughput and --websocket are two benchmarks: run them one at a time');
    if (values.websocket) return runWebsocketCommand(values);
    if (values.tunnels !== undefined) throw new UsageError('--tunnels is for --websocket');
    if (values.throughput) return runThroughputCommand(values);
    for (const flag of ['cpu-seconds', 'idle-clients'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} is for --throughput; the scenario benchmark has no such run`);
    }
    if (values['no-tls']) throw new UsageError('--no-tls is for --throughput (the scenario benchmark runs no TLS)');

    if (values.list) {
      for (const name of Object.keys(NAMED_SCENARIOS)) {
        const s = resolveScenario(name);
        const why = liveSupport(s);
        process.stdout.write(`${name}${why === null ? '' : ' (simulator only)'}: ${s.description}\n  ${describeScenario(s).split('; ').slice(2).join('; ')}\n`);
        if (why !== null) process.stdout.write(`  not live: ${why}\n`);
      }
      return 0;
    }

    const seed = numberFlag('seed', values.seed, { min: 0, max: 0xffffffff, integer: true }) ?? 1;
    const durationS = numberFlag('duration', values.duration, { min: 0.1, max: 3600 }) ?? 10;
    const warmupS = numberFlag('warmup', values.warmup, { min: 0, max: 3600 }) ?? 5;
    const rate = numberFlag('rate', values.rate, { min: 0.1, max: 100_000 });
    const connections = numberFlag('connections', values.connections, { min: 1, max: 10_000, integer: true });
    const repeat = numberFlag('repeat', values.repeat, { min: 1, max: 100, integer: true }) ?? 1;
    const arrivals = values.arrivals ?? 'constant';
    if (arrivals !== 'constant' && arrivals !== 'poisson') throw new UsageError(`--arrivals: constant or poisson, got "${arrivals}"`);

    const shorthand: Record<string, unknown> = {};
    const servers = numberFlag('servers', values.servers, { min: 1, max: 64, integer: true });
    const slots = numberFlag('slots', values.slots, { min: 1, max: 10_000, integer: true });
    if (servers !== undefined) shorthand.servers = servers;
    if (slots !== undefined) shorthand.slots = slots;

    const all = values.scenario === 'all';
    const names = all ? Object.keys(NAMED_SCENARIOS) : (commaList(values.scenario) ?? ['homogeneous']);
    let scenarios: Scenario[] = resolveScenarios(names, { values: shorthand, settings: values.set ?? [] });
    // "all" means the live ones; a scenario named explicitly is reported as skipped, with why.
    if (all) scenarios = scenarios.filter((s) => liveSupport(s) === null);
    if (scenarios.every((s) => liveSupport(s) !== null)) {
      throw new UsageError(scenarios.map((s) => `scenario ${s.name} cannot run live: ${liveSupport(s)}`).join('\n'));
    }

    const strategies = strategiesFlag(values.strategies, availableStrategies());

    const modes = commaList(values['haproxy-modes']);
    for (const m of modes ?? []) if (!(HAPROXY_MODES as readonly string[]).includes(m)) throw new UsageError(`--haproxy-modes: unknown mode "${m}"; one of ${HAPROXY_MODES.join(', ')}`);
    if (modes !== undefined && values['no-haproxy']) throw new UsageError('--haproxy-modes and --no-haproxy contradict each other');
    if (strategies.length === 0 && (values['no-haproxy'] || modes?.length === 0)) throw new UsageError('nothing to run: no strategy and no HAProxy mode');

    let haproxy: HaproxyBinary | null = null;
    if (!values['no-haproxy']) {
      haproxy = values['haproxy-bin'] !== undefined ? haproxyAt(values['haproxy-bin']) : findHaproxy();
      if (haproxy === null) {
        const where = values['haproxy-bin'] ?? 'on PATH, /usr/sbin or /usr/local/sbin';
        const install = 'install it (Debian: apt-get install -y haproxy)';
        if (modes !== undefined) {
          process.stderr.write(`ballast bench: haproxy not found (${where}); ${install}, or run without --haproxy-modes\n`);
          return 1;
        }
        process.stderr.write(`ballast bench: haproxy not found (${where}): running Ballast only; ${install} to compare, or pass --no-haproxy to silence this\n`);
        if (strategies.length === 0) return 1;
      }
    }

    const options: BenchOptions = {
      scenarios,
      strategies,
      haproxy,
      ...(modes === undefined ? {} : { haproxyModes: modes as HaproxyMode[] }),
      durationS,
      warmupS,
      ...(rate === undefined ? {} : { rate }),
      arrivals,
      seed,
      ...(connections === undefined ? {} : { connections }),
      repeat,
    };
    const { runs, seconds } = estimateSeconds(options);
    const minutes = Math.floor(seconds / 60);
    process.stderr.write(
      `ballast bench: ${runs} runs (${scenarios.map((s) => s.name).join(', ')}; ${strategies.length} strategies${haproxy === null ? '' : ` + HAProxy`}), ` +
        `each ${warmupS} s warm-up + ${durationS} s measured${repeat > 1 ? ` (${repeat} interleaved rounds)` : ''}: about ${minutes > 0 ? `${minutes} min ` : ''}${seconds % 60} s in all. Ctrl-C stops.\n`,
    );

    let report;
    try {
      report = await abortOnSignal(
        () => process.stderr.write('ballast bench: stopping (children are being stopped; Ctrl-C again to quit at once)\n'),
        (signal) => runBench(options, { signal, onProgress: (line) => process.stderr.write(`${line}\n`) }),
      );
    } catch (err) {
      // A process that would not start (its last output is in the message); children are stopped.
      if (err instanceof ChildError) {
        process.stderr.write(`ballast bench: ${err.message}\n`);
        return 1;
      }
      throw err;
    }

    if (values.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else process.stdout.write(formatBench(report));
    if (values.chart !== undefined) {
      const ran = report.scenarios.filter((s) => s.results.length > 0);
      for (const s of ran) {
        const path = chartPath(values.chart, s.scenario.name, ran.length > 1);
        writeFileSync(path, renderBenchChart(s));
        process.stderr.write(`chart written to ${path}\n`);
      }
    }
    return report.interrupted ? 130 : 0;
  },
};
