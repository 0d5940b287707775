/**
 * Traffic over time: requests/s and p50/p99 latency per backend (history from /api/history,
 * then one point per event), the share of requests per backend, and the latest requests.
 */
import { colorAt, TimeChart, type LineSpec } from '../charts.js';
import { byId, clear, h, setText } from '../dom.js';
import { fmtInt, fmtMs, fmtPct, fmtShortMs, fmtTime } from '../format.js';
import type { History, Snapshot } from '../types.js';

/** Five minutes of per-second points. */
const MAX_POINTS = 300;

interface Line {
  rps: number[];
  p50: (number | null)[];
  p99: (number | null)[];
}

export class TrafficPanel {
  private t: number[] = [];
  private lines = new Map<string, Line>();
  private order: string[] = [];
  private readonly rpsChart: TimeChart;
  private readonly latChart: TimeChart;

  constructor() {
    const small = window.matchMedia('(max-width: 640px)').matches;
    this.rpsChart = new TimeChart(byId('chart-rps'), { height: small ? 180 : 230, format: (v) => (v === 0 ? '0' : v >= 10 ? v.toFixed(0) : String(+v.toFixed(1))) });
    this.latChart = new TimeChart(byId('chart-lat'), { height: small ? 180 : 230, format: fmtShortMs });
  }

  /** Replaces all points with the server's history (page load, reconnect). */
  loadHistory(hist: History, order: string[]): void {
    this.t = hist.t.slice(-MAX_POINTS);
    const n = this.t.length;
    this.lines = new Map();
    for (const [addr, s] of Object.entries(hist.servers)) {
      this.lines.set(addr, { rps: s.rps.slice(-n), p50: s.p50.slice(-n), p99: s.p99.slice(-n) });
    }
    this.order = order.length > 0 ? order : Object.keys(hist.servers);
    this.draw();
  }

  update(s: Snapshot): void {
    const order = s.servers.map((x) => x.address);
    if (order.join() !== this.order.join()) this.order = order;
    const pt = s.point;
    if (pt.t !== null && (this.t.length === 0 || pt.t > this.t[this.t.length - 1]!)) {
      this.t.push(pt.t);
      const n = this.t.length;
      for (const addr of this.order) {
        let line = this.lines.get(addr);
        if (line === undefined) {
          line = { rps: new Array(n - 1).fill(0), p50: new Array(n - 1).fill(null), p99: new Array(n - 1).fill(null) };
          this.lines.set(addr, line);
        }
        const p = pt.servers[addr];
        line.rps.push(p?.rps ?? 0);
        line.p50.push(p?.p50 ?? null);
        line.p99.push(p?.p99 ?? null);
      }
      if (this.t.length > MAX_POINTS) {
        const drop = this.t.length - MAX_POINTS;
        this.t.splice(0, drop);
        for (const l of this.lines.values()) {
          l.rps.splice(0, drop);
          l.p50.splice(0, drop);
          l.p99.splice(0, drop);
        }
      }
      this.draw();
    }
    this.renderDistribution(s);
    this.renderRecent(s);
  }

  private draw(): void {
    const names = this.order;
    const n = this.t.length;
    const line = (a: string): Line => this.lines.get(a) ?? { rps: new Array(n).fill(0), p50: new Array(n).fill(null), p99: new Array(n).fill(null) };
    const rpsSpecs: LineSpec[] = names.map((a, i) => ({ label: a, color: colorAt(i), width: 2 }));
    this.rpsChart.update(rpsSpecs, this.t, names.map((a) => line(a).rps));
    const latSpecs: LineSpec[] = [];
    const latData: (number | null)[][] = [];
    names.forEach((a, i) => {
      latSpecs.push({ label: `${a} p50`, color: colorAt(i), width: 2 });
      latData.push(line(a).p50);
      latSpecs.push({ label: `${a} p99`, color: colorAt(i), dash: [6, 4], width: 1.5 });
      latData.push(line(a).p99);
    });
    this.latChart.update(latSpecs, this.t, latData);
  }

  private renderDistribution(s: Snapshot): void {
    const el = byId('distribution');
    const counts = s.performance.server_request_counts;
    const total = s.servers.reduce((a, x) => a + (counts[x.address] ?? 0), 0);
    const key = s.servers.map((x) => x.address).join();
    if (el.dataset.key !== key) {
      clear(el);
      el.dataset.key = key;
      s.servers.forEach((srv, i) => {
        el.append(
          h(
            'div',
            { class: 'dist-row', 'data-address': srv.address },
            h('span', { class: 'dist-name' }, h('span', { class: 'swatch', style: `background:${colorAt(i)}` }), srv.name),
            h('div', { class: 'dist-bar' }, h('div', { class: 'dist-fill', style: `background:${colorAt(i)}` })),
            h('span', { class: 'dist-val num' }),
          ),
        );
      });
    }
    s.servers.forEach((srv) => {
      const row = el.querySelector<HTMLElement>(`.dist-row[data-address="${CSS.escape(srv.address)}"]`);
      if (row === null) return;
      const n = counts[srv.address] ?? 0;
      const share = total === 0 ? 0 : (n / total) * 100;
      (row.querySelector('.dist-fill') as HTMLElement).style.width = `${share}%`;
      setText(row.querySelector('.dist-val')!, `${fmtInt(n)} · ${fmtPct(share, 0)}`);
    });
  }

  private renderRecent(s: Snapshot): void {
    const body = byId('recent').querySelector('tbody')!;
    const rows = s.performance.recent_requests.slice(-12).reverse();
    const key = rows.map((r) => `${r.timestamp}${r.server}${r.status}`).join('|');
    if (body.dataset.key === key) return;
    body.dataset.key = key;
    clear(body);
    if (rows.length === 0) {
      body.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No requests yet. Send some through the balancer, or run a load test below.')));
      return;
    }
    for (const r of rows) {
      body.append(
        h(
          'tr',
          { class: r.success ? '' : 'row-bad' },
          h('td', {}, fmtTime(r.timestamp)),
          h('td', {}, r.server ?? '(none)'),
          h('td', {}, r.status === 0 ? (r.success ? 'ok' : 'error') : String(r.status)),
          h('td', { class: 'num' }, fmtMs(r.duration_ms)),
          h('td', { class: 'clip' }, r.client),
        ),
      );
    }
  }
}
