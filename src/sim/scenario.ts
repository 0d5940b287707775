/**
 * Simulation scenarios: the workload, the servers and what happens to them during a run.
 *
 * A scenario is plain JSON validated here (strict objects, so a typo in a scenario file or a
 * `--set` path is an error, not a silently ignored knob). The named scenarios are starting
 * points: `resolveScenario` merges, in order, the named one, a JSON file, and `--set
 * path=value` overrides, then validates the result. Times are milliseconds, rates per second.
 */
import { z } from 'zod';
import { formatIssues } from '../config/load.js';

const positive = z.number().positive();
const nonNegative = z.number().nonnegative();
const probability = z.number().min(0).max(1);

export const serviceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('fixed'), ms: nonNegative }),
  z.strictObject({ kind: z.literal('exponential'), mean: positive }),
  z.strictObject({ kind: z.literal('lognormal'), median: positive, sigma: nonNegative }),
  z.strictObject({ kind: z.literal('pareto'), scale: positive, alpha: positive, cap: positive.optional() }),
  z.strictObject({ kind: z.literal('bimodal'), fastMs: nonNegative, slowMs: nonNegative, slowShare: probability }),
]);

export const arrivalSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('poisson') }),
  z.strictObject({ kind: z.literal('bursty'), factor: z.number().min(1), burstMs: positive, share: z.number().min(0).max(0.99) }),
]);

const serverOverride = z.strictObject({
  server: z.number().int().nonnegative().describe('index of the server (0-based)'),
  factor: positive.optional().describe('service times multiplied by this (a slow server)'),
  slots: z.number().int().positive().optional().describe('worker slots of this server'),
  weight: positive.optional().describe('weight in the balancer config'),
});

const timelineEvent = z.strictObject({
  at: probability.describe('when, as a share of the run (requests / rate)'),
  action: z.enum(['die', 'revive', 'join', 'leave', 'slow']).describe(
    'die: refuse connections and reset in-flight; revive: come back with a cold cache; join: a new server (pool.add); leave: removed from the pool, in-flight finish; slow: set its factor',
  ),
  server: z.number().int().nonnegative().optional().describe('index of the server (die, revive, leave, slow)'),
  count: z.number().int().positive().default(1).describe('servers added (join)'),
  factor: positive.optional().describe('new service factor (slow)'),
  detectMs: nonNegative.default(2_000).describe('die/revive: time until the health checks mark it down/up'),
});

export const scenarioSchema = z.strictObject({
  name: z.string().default('custom'),
  description: z.string().default(''),
  requests: z.number().int().positive().default(100_000).describe('requests in the run'),
  rate: positive.describe('mean arrivals per second'),
  arrivals: arrivalSchema.default({ kind: 'poisson' }),
  servers: z.number().int().positive().max(1000).describe('servers at the start'),
  slots: z.number().int().positive().describe('worker slots per server (requests served at once; the rest wait in FIFO)'),
  service: serviceSchema.describe('service time of one request on a normal server'),
  overrides: z.array(serverOverride).default([]),
  stall: z
    .strictObject({ probability: probability.default(0), ms: nonNegative.default(0) })
    .prefault({})
    .describe('noisy neighbour: with this probability a request takes ms more'),
  pause: z
    .strictObject({ probability: probability.default(0), ms: nonNegative.default(0) })
    .prefault({})
    .describe('with this probability per request started, the whole server pauses for ms (GC, CPU steal)'),
  keys: z
    .strictObject({ count: z.number().int().positive().max(100_000_000), zipf: nonNegative })
    .nullable()
    .default(null)
    .describe('request keys: Zipf(s) over count keys, put in PickContext.key'),
  cache: z
    .strictObject({ capacity: z.number().int().nonnegative().max(10_000_000), missPenaltyMs: nonNegative })
    .nullable()
    .default(null)
    .describe('per-server LRU of capacity keys; a miss costs missPenaltyMs more'),
  events: z.array(timelineEvent).default([]),
  loadReports: z
    .enum(['off', 'text', 'json'])
    .default('text')
    .describe('servers report their load (ORCA: utilization, requests and errors per second over the last second) with every response; live, as an endpoint-load-metrics header in this form'),
  proxy: z
    .strictObject({
      idempotentShare: probability.default(1).describe('share of requests that are idempotent (may be retried and hedged)'),
      connectFailMs: nonNegative.default(1).describe('time for a refused connection to fail'),
      cancelQueued: z.boolean().default(true).describe('a cancelled attempt still waiting in a server queue is dropped there'),
    })
    .prefault({}),
  config: z
    .record(z.string(), z.unknown())
    .default({})
    .describe('Ballast config keys (retries, alpha1, beta1 ...) applied to every strategy; servers are generated'),
});

export type ScenarioInput = z.input<typeof scenarioSchema>;
export type Scenario = z.output<typeof scenarioSchema>;

/** The named scenarios. Load figures assume the lognormal mean median x exp(sigma^2 / 2). */
export const NAMED_SCENARIOS: Record<string, ScenarioInput> = {
  homogeneous: {
    name: 'homogeneous',
    description: 'four equal servers, lognormal service times, Poisson arrivals at about 60% utilisation',
    rate: 420,
    servers: 4,
    slots: 4,
    service: { kind: 'lognormal', median: 20, sigma: 0.5 },
  },
  'slow-server': {
    name: 'slow-server',
    description: 'five servers, one three times slower than the others',
    rate: 250,
    servers: 5,
    slots: 4,
    service: { kind: 'lognormal', median: 20, sigma: 0.5 },
    overrides: [{ server: 0, factor: 3 }],
  },
  stragglers: {
    name: 'stragglers',
    description: 'noisy neighbours: 2% of requests stall 150 ms, and servers pause 100 ms now and then',
    rate: 400,
    servers: 4,
    slots: 4,
    service: { kind: 'lognormal', median: 20, sigma: 0.3 },
    stall: { probability: 0.02, ms: 150 },
    pause: { probability: 0.0005, ms: 100 },
  },
  'heavy-tail': {
    name: 'heavy-tail',
    description: 'Pareto service times (alpha 1.6, capped at 2 s): a few requests are very long',
    rate: 400,
    servers: 4,
    slots: 4,
    service: { kind: 'pareto', scale: 8, alpha: 1.6, cap: 2_000 },
  },
  cache: {
    name: 'cache',
    description: 'eight servers with a 1000-key LRU cache each; Zipf(0.7) over 20000 keys; a miss costs 30 ms',
    rate: 600,
    servers: 8,
    slots: 4,
    service: { kind: 'lognormal', median: 5, sigma: 0.3 },
    keys: { count: 20_000, zipf: 0.7 },
    cache: { capacity: 1_000, missPenaltyMs: 30 },
  },
  'scale-out': {
    name: 'scale-out',
    description: 'three busy servers with caches (about 80% utilisation); two more join at 30% of the run',
    rate: 480,
    servers: 3,
    slots: 4,
    service: { kind: 'lognormal', median: 15, sigma: 0.4 },
    keys: { count: 20_000, zipf: 0.9 },
    cache: { capacity: 2_000, missPenaltyMs: 10 },
    events: [{ at: 0.3, action: 'join', count: 2 }],
  },
  churn: {
    name: 'churn',
    description: 'keyed load over five servers with caches; s1 leaves at 40% of the run (its in-flight requests finish), a new server joins at 60%',
    rate: 600,
    servers: 5,
    slots: 4,
    service: { kind: 'lognormal', median: 5, sigma: 0.3 },
    keys: { count: 20_000, zipf: 0.9 },
    cache: { capacity: 1_000, missPenaltyMs: 20 },
    events: [
      { at: 0.4, action: 'leave', server: 1 },
      { at: 0.6, action: 'join', count: 1 },
    ],
  },
  failure: {
    name: 'failure',
    description: 'five servers; one dies at 30% and comes back at 60%, another dies for good at 80%',
    rate: 600,
    servers: 5,
    slots: 4,
    service: { kind: 'lognormal', median: 10, sigma: 0.5 },
    events: [
      { at: 0.3, action: 'die', server: 1, detectMs: 2_000 },
      { at: 0.6, action: 'revive', server: 1, detectMs: 2_000 },
      { at: 0.8, action: 'die', server: 3, detectMs: 2_000 },
    ],
  },
};

export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Deep merge of JSON values: objects merge key by key; arrays and scalars replace. An object with
 * a different `kind` replaces the old one (switching `service` from lognormal to pareto must not
 * keep `median`).
 */
export function mergeScenario(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override;
  if ('kind' in override && 'kind' in base && override.kind !== base.kind) return override;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) out[k] = k in base ? mergeScenario(base[k], v) : v;
  return out;
}

/** `{a: {b: value}}` from `a.b=value`; the value is JSON when it parses, else a string. */
export function parseSetting(setting: string): Record<string, unknown> {
  const eq = setting.indexOf('=');
  if (eq <= 0) throw new ScenarioError(`--set ${setting}: expected path=value, e.g. cache.capacity=500`);
  const path = setting.slice(0, eq).split('.');
  const text = setting.slice(eq + 1);
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch {
    value = text;
  }
  if (path.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) {
    throw new ScenarioError(`--set ${setting}: bad path`);
  }
  let obj: Record<string, unknown> = {};
  const root = obj;
  for (let i = 0; i < path.length - 1; i++) {
    const next: Record<string, unknown> = {};
    obj[path[i]!] = next;
    obj = next;
  }
  obj[path[path.length - 1]!] = value;
  return root;
}

/** Validates a merged scenario, with one line per problem naming the field. */
export function parseScenario(raw: unknown, source = 'scenario'): Scenario {
  const result = scenarioSchema.safeParse(raw);
  if (!result.success) throw new ScenarioError(formatIssues(source, result.error.issues).replace(/^invalid config/, 'invalid scenario'));
  const s = result.data;
  const problems: string[] = [];
  if (s.cache !== null && s.keys === null) problems.push('cache: needs keys (a cache is keyed by the request key)');
  if ('servers' in s.config) problems.push('config.servers: the simulator generates the servers; use servers/overrides');
  s.overrides.forEach((o, i) => {
    if (o.server >= s.servers) problems.push(`overrides[${i}].server: ${o.server} but there are ${s.servers} servers`);
  });
  s.events.forEach((e, i) => {
    if (e.action !== 'join' && e.server === undefined) problems.push(`events[${i}].server: required for ${e.action}`);
    if (e.action === 'slow' && e.factor === undefined) problems.push(`events[${i}].factor: required for slow`);
  });
  if (problems.length > 0) throw new ScenarioError(`invalid ${source}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return s;
}

export interface ScenarioOverrides {
  /** Parsed JSON of a scenario file, merged over the named scenario. */
  file?: unknown;
  /** `path=value` settings, applied last. */
  settings?: readonly string[];
  /** Shorthand flags (`--requests`, `--rate` ...), applied before the settings. */
  values?: Record<string, unknown>;
}

/** The named scenario (or none: the file must then be complete) with overrides, validated. */
export function resolveScenario(name: string | undefined, overrides: ScenarioOverrides = {}): Scenario {
  let raw: unknown = {};
  if (name !== undefined) {
    const named = NAMED_SCENARIOS[name];
    if (named === undefined) {
      throw new ScenarioError(`unknown scenario "${name}"; one of: ${Object.keys(NAMED_SCENARIOS).join(', ')}`);
    }
    raw = structuredClone(named);
  }
  if (overrides.file !== undefined) {
    if (!isPlainObject(overrides.file)) throw new ScenarioError('scenario file: expected a JSON object');
    raw = mergeScenario(raw, overrides.file);
  }
  if (overrides.values !== undefined) raw = mergeScenario(raw, overrides.values);
  for (const s of overrides.settings ?? []) raw = mergeScenario(raw, parseSetting(s));
  return parseScenario(raw, name === undefined ? 'scenario' : `scenario "${name}"`);
}
