/**
 * `ballast simulate`: run the strategies on a simulated workload (src/sim) and compare them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { renderChart } from '../../sim/chart.js';
import { describeScenario, formatReport } from '../../sim/report.js';
import { defaultStrategies, runSimulation, type SimulationReport } from '../../sim/run.js';
import { NAMED_SCENARIOS, resolveScenario } from '../../sim/scenario.js';
import { numberFlag, UsageError, type Command } from '../command.js';
import { chartPath, commaList, resolveScenarios, strategiesFlag } from '../scenario-flags.js';

const help = `Usage: ballast simulate [flags]

Runs the real strategy code on a discrete-event simulation (virtual clock, seeded random):
simulated servers with worker slots, FIFO queues, service-time distributions, stalls, caches,
failures; the proxy's own retry and hedging logic. Prints a table per scenario.

Flags:
  --scenario NAME[,NAME]  named scenario(s), or "all" (default homogeneous):
                          ${Object.keys(NAMED_SCENARIOS).join(', ')}
  --scenario-file FILE    JSON scenario merged over the named one (or complete on its own
                          when --scenario is not given)
  --strategies A,B        strategies to run (default: every registered one)
  --requests N            requests per strategy (default 100000, or the scenario's)
  --seed N                random seed; the same seed gives the same numbers (default 1)
  --rate R                mean arrivals per second
  --servers N             servers at the start
  --slots N               worker slots per server
  --set PATH=VALUE        any scenario field, e.g. --set cache.capacity=500
                          --set service='{"kind":"pareto","scale":5,"alpha":1.5}'
                          --set config.alpha1.maxHedgeRate=0.1 (repeatable)
  --json                  print JSON (scenario, results) instead of tables
  --chart FILE.svg        write an SVG chart of latency percentiles per strategy (with several
                          scenarios: FILE-<scenario>.svg)
  --list                  list the named scenarios and their parameters
  -h, --help              this help

Scenario fields: requests, rate, arrivals {kind: poisson | bursty, factor, burstMs, share},
servers, slots, service {kind: fixed ms | exponential mean | lognormal median sigma |
pareto scale alpha cap | bimodal fastMs slowMs slowShare}, overrides [{server, factor, slots,
weight}], stall {probability, ms}, pause {probability, ms}, keys {count, zipf}, cache
{capacity, missPenaltyMs}, events [{at, action: die|revive|join|leave|slow, server, count,
factor, detectMs}], proxy {idempotentShare, connectFailMs, cancelQueued},
config (Ballast config keys: retries, timeouts.responseHeadersMs, alpha1, beta1 ...).
`;

export const simulateCommand: Command = {
  name: 'simulate',
  help,
  async run(args: string[]): Promise<number> {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        scenario: { type: 'string' },
        'scenario-file': { type: 'string' },
        strategies: { type: 'string' },
        requests: { type: 'string' },
        seed: { type: 'string' },
        rate: { type: 'string' },
        servers: { type: 'string' },
        slots: { type: 'string' },
        set: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        chart: { type: 'string' },
        list: { type: 'boolean', default: false },
      },
    });

    if (values.list) {
      for (const name of Object.keys(NAMED_SCENARIOS)) {
        const s = resolveScenario(name);
        process.stdout.write(`${name}: ${s.description}\n  ${describeScenario(s)}\n`);
      }
      return 0;
    }

    let file: unknown;
    if (values['scenario-file'] !== undefined) {
      const path = values['scenario-file'];
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        throw new UsageError(`--scenario-file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      try {
        file = JSON.parse(text);
      } catch (err) {
        throw new UsageError(`--scenario-file: ${path} is not valid JSON: ${(err as Error).message}`);
      }
    }

    let names: (string | undefined)[];
    if (values.scenario === 'all') names = Object.keys(NAMED_SCENARIOS);
    else if (values.scenario !== undefined) names = commaList(values.scenario)!;
    else names = [file === undefined ? 'homogeneous' : undefined];

    const shorthand: Record<string, unknown> = {};
    const requests = numberFlag('requests', values.requests, { min: 1, max: 100_000_000, integer: true });
    const rate = numberFlag('rate', values.rate, { min: 0.000001 });
    const servers = numberFlag('servers', values.servers, { min: 1, max: 1000, integer: true });
    const slots = numberFlag('slots', values.slots, { min: 1, integer: true });
    if (requests !== undefined) shorthand.requests = requests;
    if (rate !== undefined) shorthand.rate = rate;
    if (servers !== undefined) shorthand.servers = servers;
    if (slots !== undefined) shorthand.slots = slots;
    const seed = numberFlag('seed', values.seed, { min: 0, max: 0xffffffff, integer: true }) ?? 1;

    const scenarios = resolveScenarios(names, { file, values: shorthand, settings: values.set ?? [] });

    const strategies = strategiesFlag(values.strategies, defaultStrategies());
    if (strategies.length === 0) throw new UsageError('--strategies: no strategy given');

    const reports: SimulationReport[] = [];
    let total = 0;
    let wall = 0;
    for (const scenario of scenarios) {
      const report = runSimulation(scenario, strategies, seed);
      reports.push(report);
      total += scenario.requests * strategies.length;
      wall += report.wallMs;
      if (!values.json) process.stdout.write(formatReport(report) + '\n\n');
      if (values.chart !== undefined) {
        const path = chartPath(values.chart, scenario.name, scenarios.length > 1);
        writeFileSync(path, renderChart(report));
        if (!values.json) process.stdout.write(`chart written to ${path}\n\n`);
      }
    }
    if (values.json) {
      const out = reports.map((r) => ({ scenario: r.scenario, seed: r.seed, results: r.results, wallMs: Math.round(r.wallMs) }));
      process.stdout.write(JSON.stringify(out.length === 1 ? out[0] : out, null, 2) + '\n');
    } else {
      process.stdout.write(`${total} simulated requests (${strategies.length} strategies) in ${(wall / 1000).toFixed(2)} s\n`);
    }
    return 0;
  },
};
