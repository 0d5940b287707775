/**
 * Writing load reports as `endpoint-load-metrics` values (the demo backend emits them; the
 * tests round-trip them through the parser). Only the fields that are set (not -1) are written.
 */
import type { LoadReport } from './report.js';

export type ReportForm = 'text' | 'json';

/** The header the reports travel in (lower case, as the proxy compares names). */
export const LOAD_REPORT_HEADER = 'endpoint-load-metrics';

/** Numbers as short as they can be while staying exact enough for a weight (6 significant digits). */
function num(v: number): string {
  return String(Number(v.toPrecision(6)));
}

const FIELDS = [
  ['cpu_utilization', (r: LoadReport) => r.cpuUtilization],
  ['application_utilization', (r: LoadReport) => r.applicationUtilization],
  ['mem_utilization', (r: LoadReport) => r.memUtilization],
  ['rps_fractional', (r: LoadReport) => r.rpsFractional],
  ['eps', (r: LoadReport) => r.eps],
] as const;

export function formatLoadReport(r: LoadReport, form: ReportForm): string {
  if (form === 'json') {
    const doc: Record<string, unknown> = {};
    for (const [name, get] of FIELDS) if (get(r) >= 0) doc[name] = Number(num(get(r)));
    if (r.named.size > 0) doc.named_metrics = Object.fromEntries([...r.named].map(([k, v]) => [k, Number(num(v))]));
    return `JSON ${JSON.stringify(doc)}`;
  }
  const parts: string[] = [];
  for (const [name, get] of FIELDS) if (get(r) >= 0) parts.push(`${name}=${num(get(r))}`);
  for (const [k, v] of r.named) parts.push(`named_metrics.${k}=${num(v)}`);
  return `TEXT ${parts.join(', ')}`;
}
