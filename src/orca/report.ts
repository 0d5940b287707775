/**
 * One ORCA load report (Open Request Cost Aggregation, the xDS `OrcaLoadReport` message) as a
 * backend sends it in the `endpoint-load-metrics` response header, and its parser.
 *
 * Forms (the prefix says which, as Envoy's ORCA parser reads them):
 *   TEXT cpu_utilization=0.3, rps_fractional=10, named_metrics.foo=2
 *   JSON {"cpu_utilization":0.3,"rps_fractional":10,"named_metrics":{"foo":2}}
 *   BIN <base64 of the protobuf>      recognised and ignored: no protobuf decoder on this path
 * JSON takes the proto3 JSON names too (cpuUtilization, rpsFractional, namedMetrics...).
 *
 * The parser runs on the response path for every response that carries the header, so it fills
 * a caller-owned record (no allocation but the named metrics' keys) and the TEXT form is read
 * with indexOf, not split(). A malformed report is refused whole: a half
 * read report could move weights on a field the backend never meant to send.
 */

/** Named metrics kept per report; more are refused (memory per backend is bounded). */
export const MAX_NAMED_METRICS = 16;
/** Longest header value parsed; a longer one is refused without being read. */
export const MAX_REPORT_LENGTH = 2048;
/** Longest named-metric name kept. */
const MAX_NAME_LENGTH = 64;

/** What the proxy passes on when a response carried more than one report header. */
export const DUPLICATE_REPORTS = 'duplicate';

/** A report; a field the backend did not send is -1 (every ORCA figure is non-negative). */
export class LoadReport {
  /** CPU used over what the backend counts as available; may exceed 1 (ORCA allows it). */
  cpuUtilization = -1;
  /** The application's own utilization; preferred over cpu_utilization when sent (gRPC does so). */
  applicationUtilization = -1;
  /** Memory, 0..1. */
  memUtilization = -1;
  /** Queries per second the backend served. */
  rpsFractional = -1;
  /** Errors per second. */
  eps = -1;
  /** Application metrics, `named_metrics.NAME` (at most MAX_NAMED_METRICS). */
  readonly named = new Map<string, number>();

  reset(): void {
    this.cpuUtilization = -1;
    this.applicationUtilization = -1;
    this.memUtilization = -1;
    this.rpsFractional = -1;
    this.eps = -1;
    this.named.clear();
  }

  copyFrom(r: LoadReport): void {
    this.cpuUtilization = r.cpuUtilization;
    this.applicationUtilization = r.applicationUtilization;
    this.memUtilization = r.memUtilization;
    this.rpsFractional = r.rpsFractional;
    this.eps = r.eps;
    this.named.clear();
    for (const [k, v] of r.named) this.named.set(k, v);
  }

  /** The utilization a weight divides by: application's when sent, else CPU's, else -1. */
  get utilization(): number {
    return this.applicationUtilization > 0 ? this.applicationUtilization : this.cpuUtilization;
  }
}

/** What became of a header value: read, recognised but not read (BIN), or refused with a reason. */
export type ParseOutcome = { ok: true; ignored: boolean } | { ok: false; error: string };

const OK: ParseOutcome = { ok: true, ignored: false };
const IGNORED: ParseOutcome = { ok: true, ignored: true };
const fail = (error: string): ParseOutcome => ({ ok: false, error });

/** Sets one field by its ORCA name; an error text, or '' when set. */
function setField(into: LoadReport, name: string, value: number): string {
  if (!Number.isFinite(value)) return `${name}: not a finite number`;
  if (name.startsWith('named_metrics.')) {
    const key = name.slice(14);
    return setNamed(into, key, value);
  }
  if (value < 0) return `${name}: negative`;
  switch (name) {
    case 'cpu_utilization':
    case 'cpuUtilization':
      into.cpuUtilization = value;
      return '';
    case 'application_utilization':
    case 'applicationUtilization':
      into.applicationUtilization = value;
      return '';
    case 'mem_utilization':
    case 'memUtilization':
      if (value > 1) return `${name}: above 1`;
      into.memUtilization = value;
      return '';
    case 'rps_fractional':
    case 'rpsFractional':
      into.rpsFractional = value;
      return '';
    case 'eps':
      into.eps = value;
      return '';
    default:
      // Fields of the message Ballast does not use (request_cost, utilization maps, the
      // deprecated integer rps) are skipped, as a proto reader skips unknown fields.
      return '';
  }
}

function setNamed(into: LoadReport, key: string, value: number): string {
  if (key === '' || key.length > MAX_NAME_LENGTH) return `named metric name empty or longer than ${MAX_NAME_LENGTH}`;
  if (!into.named.has(key) && into.named.size >= MAX_NAMED_METRICS) return `more than ${MAX_NAMED_METRICS} named metrics`;
  into.named.set(key, value);
  return '';
}

/** `TEXT k=v, k=v`: the body after the prefix, from index `start`. */
function parseText(s: string, start: number, into: LoadReport): ParseOutcome {
  let i = start;
  const n = s.length;
  let fields = 0;
  while (i < n) {
    const comma = s.indexOf(',', i);
    const end = comma < 0 ? n : comma;
    const eq = s.indexOf('=', i);
    if (eq < 0 || eq > end) {
      if (s.slice(i, end).trim() === '') return fail('empty entry');
      return fail(`"${s.slice(i, end).trim()}": expected name=value`);
    }
    const name = s.slice(i, eq).trim();
    const raw = s.slice(eq + 1, end).trim();
    if (name === '') return fail('empty metric name');
    // Number('') is 0 and Number('0x10') is 16: refuse what is not a plain decimal.
    if (raw === '' || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) return fail(`${name}: "${raw}" is not a number`);
    const err = setField(into, name, Number(raw));
    if (err !== '') return fail(err);
    fields++;
    i = end + 1;
  }
  return fields === 0 ? fail('no metrics') : OK;
}

function parseJson(s: string, start: number, into: LoadReport): ParseOutcome {
  let doc: unknown;
  try {
    doc = JSON.parse(s.slice(start));
  } catch {
    return fail('JSON does not parse');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return fail('JSON: expected an object');
  for (const [name, value] of Object.entries(doc as Record<string, unknown>)) {
    if (name === 'named_metrics' || name === 'namedMetrics') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail(`${name}: expected an object`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'number') return fail(`${name}.${k}: not a number`);
        const err = setNamed(into, k, v);
        if (err !== '') return fail(err);
      }
      continue;
    }
    if (typeof value !== 'number') {
      // Maps and the like Ballast does not read (request_cost, utilization) are skipped.
      if (typeof value === 'object') continue;
      return fail(`${name}: not a number`);
    }
    const err = setField(into, name, value);
    if (err !== '') return fail(err);
  }
  return OK;
}

/**
 * Parses an `endpoint-load-metrics` value into `into` (reset first). On a refusal `into` holds
 * whatever was read before the problem: the caller must not use it.
 */
export function parseLoadReport(value: string, into: LoadReport): ParseOutcome {
  into.reset();
  if (value === DUPLICATE_REPORTS) return fail('more than one endpoint-load-metrics header (Envoy refuses these too)');
  if (value.length > MAX_REPORT_LENGTH) return fail(`longer than ${MAX_REPORT_LENGTH} characters`);
  let i = 0;
  while (i < value.length && (value.charCodeAt(i) === 32 || value.charCodeAt(i) === 9)) i++;
  if (value.startsWith('TEXT ', i)) return parseText(value, i + 5, into);
  if (value.startsWith('JSON ', i)) return parseJson(value, i + 5, into);
  if (value.startsWith('BIN ', i)) return IGNORED;
  return fail('expected a TEXT, JSON or BIN prefix');
}
