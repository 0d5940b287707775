/**
 * The API's view of a backend's reported load (`reported_load` in /api/status and
 * /api/servers): null before the first report, else the figures of the last one and its age.
 */
import { round3 } from '../stats/stats.js';
import type { ReportedLoad } from './reported-load.js';

const orNull = (v: number): number | null => (v < 0 ? null : round3(v));

export function reportedLoadView(load: ReportedLoad, now: number) {
  if (load.at === -Infinity && load.invalid === 0 && load.ignored === 0) return null;
  const r = load.latest;
  const seen = load.at !== -Infinity;
  return {
    cpu_utilization: seen ? orNull(r.cpuUtilization) : null,
    application_utilization: seen ? orNull(r.applicationUtilization) : null,
    mem_utilization: seen ? orNull(r.memUtilization) : null,
    rps_fractional: seen ? orNull(r.rpsFractional) : null,
    eps: seen ? orNull(r.eps) : null,
    named_metrics: seen ? Object.fromEntries([...r.named].map(([k, v]) => [k, round3(v)])) : {},
    age_ms: seen ? Math.max(0, Math.round(now - load.at)) : null,
    reports: load.received,
    ignored: load.ignored,
    invalid: load.invalid,
    last_error: load.lastError === '' ? null : load.lastError,
  };
}
