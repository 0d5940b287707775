/**
 * The strategy selector and the panel of the running strategy's own figures.
 *
 * The panel renders whatever the strategy reports (per-server fields and `<name>_global`),
 * so a strategy added later shows up with no dashboard change. Fields it recognises get
 * charts: alpha1's p99 against its target, beta/gamma and hedge rate over time; beta1's cache
 * hit rate, redirects, warm-up and hot keys.
 */
import { ApiError, postJson } from '../api.js';
import { colorAt, Rolling, TimeChart } from '../charts.js';
import { byId, clear, h, setText } from '../dom.js';
import { fmtMs, fmtNum, fmtShortMs, fmtValue, label } from '../format.js';
import type { Snapshot, StrategyList } from '../types.js';

const BASE_FIELDS = new Set(['host', 'port', 'healthy', 'connections', 'failures']);

/** Ten minutes of strategy samples at one per second. */
const MAX_SAMPLES = 600;

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Rates and progress are percentages in the API (the original's `cache_hit_rate` was). */
function fmtField(key: string, v: unknown): string {
  if (typeof v === 'number' && Number.isFinite(v)) {
    if (key.endsWith('_rate') || key === 'warmup_progress') return `${v.toFixed(v >= 10 ? 1 : 2)}%`;
    if (key.endsWith('_ms')) return fmtMs(v);
    if (key.endsWith('_sec')) return `${fmtNum(v)} s`;
  }
  return fmtValue(v);
}

export class StrategyPanel {
  private summaries: Record<string, string> = {};
  private shown = '';
  private panelFor = '';
  private readonly samples = new Rolling(MAX_SAMPLES);
  private p99Chart: TimeChart | null = null;
  private weightsChart: TimeChart | null = null;
  private ratesChart: TimeChart | null = null;
  private busy = false;

  constructor(private readonly onSwitched: () => void) {
    byId('strategy-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.switchTo(byId<HTMLSelectElement>('strategy-select').value);
    });
    byId('strategy-select').addEventListener('change', () => {
      this.describe(byId<HTMLSelectElement>('strategy-select').value);
    });
  }

  setList(list: StrategyList): void {
    this.summaries = list.summaries ?? {};
    const select = byId<HTMLSelectElement>('strategy-select');
    clear(select);
    const names = list.strategies.includes(list.strategy) ? list.strategies : [list.strategy, ...list.strategies];
    for (const n of names) select.append(h('option', { value: n }, n));
    select.value = list.strategy;
    this.shown = list.strategy;
    this.describe(list.strategy);
  }

  private describe(name: string): void {
    setText(byId('strategy-summary'), this.summaries[name] ?? '');
  }

  private async switchTo(name: string): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const msg = byId('strategy-msg');
    const button = byId<HTMLButtonElement>('strategy-apply');
    button.disabled = true;
    msg.className = 'msg';
    setText(msg, `Switching to ${name}…`);
    try {
      const r = await postJson<{ strategy: string; previous: string }>('/api/strategy', { strategy: name });
      msg.className = 'msg ok';
      setText(msg, r.previous === r.strategy ? `${r.strategy} is already running.` : `Switched from ${r.previous} to ${r.strategy}.`);
      this.onSwitched();
    } catch (err) {
      msg.className = 'msg error';
      setText(msg, err instanceof ApiError ? err.message : String(err));
    } finally {
      button.disabled = false;
      this.busy = false;
    }
  }

  update(s: Snapshot): void {
    const name = s.status.strategy;
    const select = byId<HTMLSelectElement>('strategy-select');
    if (name !== this.shown) {
      // The strategy changed (here, from another tab, or by a reload): follow it.
      if (![...select.options].some((o) => o.value === name)) select.append(h('option', { value: name }, name));
      if (document.activeElement !== select) {
        select.value = name;
        this.describe(name);
      }
      this.shown = name;
    }
    this.renderPanel(s);
  }

  private renderPanel(s: Snapshot): void {
    const el = byId('strategy-panel');
    const name = s.algorithm.strategy;
    const g = s.algorithm.global;
    if (name !== this.panelFor) {
      this.panelFor = name;
      this.samples.clear();
      this.p99Chart = null;
      this.weightsChart = null;
      this.ratesChart = null;
      clear(el);
      el.append(
        h('h3', {}, `${name} figures`),
        h('div', { class: 'highlights' }),
        h('div', { class: 'strategy-charts' }),
        h('div', { class: 'kv global-kv' }),
        h('div', { class: 'hot-keys' }),
        h('div', { class: 'table-wrap' }, h('table', { class: 'per-server' })),
      );
    }
    const highlights = el.querySelector('.highlights')!;
    const charts = el.querySelector<HTMLElement>('.strategy-charts')!;

    if (g !== null) {
      const t = s.timestamp;
      this.samples.push(t, {
        current_p99_ms: num(g.current_p99_ms),
        target_p99_ms: num(g.target_p99_ms),
        beta: num(g.beta),
        gamma: num(g.gamma),
        hedge_rate: num(g.hedge_rate),
        cache_hit_rate: num(g.cache_hit_rate),
        affinity_rate: num(g.affinity_rate),
        redirect_rate: num(g.redirect_rate),
      });
      this.renderHighlights(highlights, g);
      this.renderCharts(charts, g);
      this.renderGlobal(el.querySelector('.global-kv')!, g);
      this.renderHotKeys(el.querySelector('.hot-keys')!, g.hot_keys);
    } else {
      clear(highlights);
      clear(el.querySelector('.global-kv')!);
    }
    this.renderPerServer(el.querySelector('.per-server')!, s);
  }

  private renderHighlights(el: Element, g: Record<string, unknown>): void {
    const picks: [string, string][] = [];
    const add = (key: string, title: string) => {
      if (key in g) picks.push([title, fmtField(key, g[key])]);
    };
    add('current_p99_ms', 'p99 now');
    add('target_p99_ms', 'p99 target');
    add('hedge_rate', 'hedge rate');
    add('cache_hit_rate', 'cache hit rate');
    add('affinity_rate', 'affinity');
    add('redirect_rate', 'redirect rate');
    add('bounded_load_redirects', 'bounded-load redirects');
    add('servers_in_warmup', 'warming up');
    const key = picks.map((p) => p[0]).join();
    if ((el as HTMLElement).dataset.key !== key) {
      clear(el);
      (el as HTMLElement).dataset.key = key;
      for (const [title] of picks) el.append(h('div', { class: 'tile small-tile' }, h('span', { class: 'tile-label' }, title), h('span', { class: 'tile-value' })));
    }
    const values = el.querySelectorAll('.tile-value');
    picks.forEach(([, v], i) => setText(values[i]!, v));
  }

  /** Charts for the figures a strategy has: alpha1's p99 and weights, beta1's rates. */
  private renderCharts(el: HTMLElement, g: Record<string, unknown>): void {
    const hasP99 = num(g.current_p99_ms) !== null || num(g.target_p99_ms) !== null;
    const hasWeights = num(g.beta) !== null || num(g.gamma) !== null || num(g.hedge_rate) !== null;
    const hasRates = num(g.cache_hit_rate) !== null || num(g.affinity_rate) !== null;
    if (hasRates && this.ratesChart === null) {
      const box = h('div', { class: 'chart' });
      el.append(h('h4', {}, 'cache hit, affinity and redirect rates (%)'), box);
      this.ratesChart = new TimeChart(box, { height: 160, format: (v) => `${+v.toFixed(1)}%` });
    }
    if (hasP99 && this.p99Chart === null) {
      const box = h('div', { class: 'chart' });
      el.append(h('h4', {}, 'p99 against target'), box);
      this.p99Chart = new TimeChart(box, { height: 160, format: fmtShortMs });
    }
    if (hasWeights && this.weightsChart === null) {
      const box = h('div', { class: 'chart' });
      el.append(h('h4', {}, 'beta, gamma and hedge rate (%)'), box);
      this.weightsChart = new TimeChart(box, { height: 160, format: (v) => fmtNum(v, 2) });
    }
    const t = this.samples.t;
    this.p99Chart?.update(
      [
        { label: 'p99', color: colorAt(0), width: 2 },
        { label: 'target', color: '#dc2626', dash: [6, 4], width: 1.5 },
      ],
      t,
      [this.samples.series('current_p99_ms'), this.samples.series('target_p99_ms')],
    );
    this.ratesChart?.update(
      [
        { label: 'cache hit', color: colorAt(2), width: 2 },
        { label: 'affinity', color: colorAt(0), width: 1.5 },
        { label: 'redirects', color: colorAt(1), width: 1.5, dash: [4, 3] },
      ],
      t,
      [this.samples.series('cache_hit_rate'), this.samples.series('affinity_rate'), this.samples.series('redirect_rate')],
    );
    this.weightsChart?.update(
      [
        { label: 'beta', color: colorAt(2), width: 2 },
        { label: 'gamma', color: colorAt(3), width: 2 },
        { label: 'hedge %', color: colorAt(1), width: 1.5, dash: [4, 3] },
      ],
      t,
      [this.samples.series('beta'), this.samples.series('gamma'), this.samples.series('hedge_rate')],
    );
  }

  private renderGlobal(el: Element, g: Record<string, unknown>): void {
    const entries = Object.entries(g).filter(([k]) => k !== 'hot_keys');
    const key = entries.map(([k]) => k).join();
    if ((el as HTMLElement).dataset.key !== key) {
      clear(el);
      (el as HTMLElement).dataset.key = key;
      for (const [k] of entries) el.append(h('div', { class: 'kv-row' }, h('span', { class: 'kv-k' }, label(k)), h('span', { class: 'kv-v num' })));
    }
    const vals = el.querySelectorAll('.kv-v');
    entries.forEach(([k, v], i) => setText(vals[i]!, fmtField(k, v)));
  }

  private renderHotKeys(el: Element, hot: unknown): void {
    if (!Array.isArray(hot) || hot.length === 0) {
      clear(el);
      return;
    }
    const items = hot.slice(0, 10).map((x) => {
      if (typeof x === 'object' && x !== null) {
        const o = x as Record<string, unknown>;
        const share = num(o.share);
        const detail = share !== null ? `${share.toFixed(1)}%` : num(o.count) !== null ? `${o.count}` : '';
        return `${String(o.key ?? JSON.stringify(o))}${detail ? ` (${detail})` : ''}`;
      }
      return String(x);
    });
    const text = items.join(', ');
    if ((el as HTMLElement).dataset.text === text) return;
    (el as HTMLElement).dataset.text = text;
    clear(el);
    el.append(h('h4', {}, 'hot keys'), h('ul', { class: 'hot-list' }, ...items.map((i) => h('li', {}, i))));
  }

  private renderPerServer(table: HTMLTableElement, s: Snapshot): void {
    const rows = s.algorithm.servers;
    const cols: string[] = [];
    for (const r of rows) for (const k of Object.keys(r)) if (!BASE_FIELDS.has(k) && !cols.includes(k)) cols.push(k);
    if (cols.length === 0) {
      const msg = `${s.algorithm.strategy} keeps no per-backend figures of its own; the backend cards above show load, latency and failures.`;
      if (table.dataset.key !== msg) {
        table.dataset.key = msg;
        clear(table);
        table.append(h('caption', { class: 'muted' }, msg));
      }
      return;
    }
    const key = cols.join() + '|' + rows.map((r) => `${r.host}:${r.port}`).join();
    if (table.dataset.key !== key) {
      table.dataset.key = key;
      clear(table);
      table.append(
        h('thead', {}, h('tr', {}, h('th', {}, 'backend'), ...cols.map((c) => h('th', { class: 'num' }, label(c))))),
        h('tbody', {}, ...rows.map((r) => h('tr', {}, h('td', {}, `${r.host}:${r.port}`), ...cols.map(() => h('td', { class: 'num' }))))),
      );
    }
    const trs = table.querySelectorAll('tbody tr');
    rows.forEach((r, i) => {
      const tds = trs[i]!.querySelectorAll('td');
      cols.forEach((c, j) => setText(tds[j + 1]!, fmtField(c, r[c])));
    });
  }
}
