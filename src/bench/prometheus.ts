/**
 * Reading Ballast's GET /metrics (Prometheus text exposition) for the counters the benchmark
 * reports: requests, hedges sent, retries and failovers. Only the sample lines are parsed
 * (`name{labels} value`); that subset of the format is all prom-client writes for counters.
 */

export interface BallastCounters {
  requests: number;
  hedgesSent: number;
  hedgesWon: number;
  retries: number;
  failovers: number;
}

/** Samples by metric name, each with its labels. */
export function parsePrometheus(text: string): Map<string, Array<{ labels: Record<string, string>; value: number }>> {
  const out = new Map<string, Array<{ labels: Record<string, string>; value: number }>>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    if (m[3] !== undefined) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, '$1');
    }
    const value = Number(m[4]);
    if (!Number.isFinite(value)) continue;
    let list = out.get(m[1]!);
    if (list === undefined) out.set(m[1]!, (list = []));
    list.push({ labels, value });
  }
  return out;
}

export function ballastCounters(text: string): BallastCounters {
  const samples = parsePrometheus(text);
  const sum = (name: string, filter?: (l: Record<string, string>) => boolean): number =>
    (samples.get(name) ?? []).reduce((n, s) => (filter === undefined || filter(s.labels) ? n + s.value : n), 0);
  return {
    requests: sum('ballast_requests_total'),
    hedgesSent: sum('ballast_hedges_sent_total'),
    hedgesWon: sum('ballast_hedges_won_total'),
    retries: sum('ballast_retries_total', (l) => l.kind === 'retry'),
    failovers: sum('ballast_retries_total', (l) => l.kind === 'failover'),
  };
}
