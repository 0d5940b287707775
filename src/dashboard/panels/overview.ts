/** The top bar (running, strategy, healthy/total, uptime) and the performance tiles. */
import { byId, setText } from '../dom.js';
import { fmtInt, fmtMs, fmtPct, fmtRate, fmtUptime } from '../format.js';
import type { Snapshot } from '../types.js';

export function renderOverview(s: Snapshot): void {
  const st = s.status;
  const run = byId('run-state');
  // Several workers: the figures below are the whole balancer's; the pill says how many loops run.
  const w = st.workers;
  const several = w !== undefined && w.count > 1;
  setText(run, !st.running ? 'stopped' : several ? `running · ${w.up}/${w.count} workers` : 'running');
  run.className = `pill ${st.running && (!several || w.up === w.count) ? 'pill-up' : 'pill-down'}`;
  run.title = w === undefined ? '' : `${w.count} event loop${w.count === 1 ? '' : 's'}, ${w.up} up, ${w.restarts} restarted since start`;
  setText(byId('st-strategy'), st.strategy);
  const healthy = byId('st-healthy');
  setText(healthy, `${st.available_servers}/${st.total_servers}`);
  healthy.className = st.available_servers === st.total_servers ? '' : st.available_servers === 0 ? 'bad' : 'warn';
  healthy.title = `${st.healthy_servers} pass their health checks, ${st.available_servers} take traffic`;
  setText(byId('st-uptime'), fmtUptime(st.uptime_seconds));

  const p = s.performance;
  setText(byId('pf-total'), fmtInt(p.total_requests));
  setText(byId('pf-active'), fmtInt(p.active_connections));
  const success = byId('pf-success');
  setText(success, p.total_requests === 0 ? '–' : fmtPct(p.success_rate, p.success_rate >= 99.95 || p.success_rate === 0 ? 0 : 2));
  success.className = `tile-value ${p.total_requests === 0 ? '' : p.success_rate >= 99 ? 'good' : p.success_rate >= 95 ? 'warn' : 'bad'}`;
  setText(byId('pf-rps'), fmtRate(p.requests_per_second));
  const ms = (v: number) => (p.total_requests === 0 ? '–' : fmtMs(v));
  setText(byId('pf-avg'), ms(p.avg_response_time_ms));
  setText(byId('pf-p50'), ms(p.p50_ms));
  setText(byId('pf-p99'), ms(p.p99_ms));
  const rejected = Object.values(p.rejected ?? {}).reduce((a, b) => a + b, 0);
  setText(
    byId('pf-extra'),
    `${fmtInt(p.requests_per_minute)} req/min · p90 ${ms(p.p90_ms)} · failed ${fmtInt(p.failed_requests)} · ` +
      `failovers ${fmtInt(p.failovers)} · retries ${fmtInt(p.retries)} · hedges won ${fmtInt(p.hedges_won)} of ${fmtInt(p.hedges_sent)} · rejected ${fmtInt(rejected)}`,
  );
}
