/**
 * Live time-series charts on uPlot (canvas, ~50 KB, bundled so the page works offline).
 * A chart owns its series list; when the set of lines changes (a backend added by a reload,
 * another strategy) it is rebuilt, otherwise only its data is replaced once a second.
 */
import uPlot from 'uplot';

/** Backend colours, in pool order; distinguishable for the common colour-vision deficiencies. */
export const PALETTE = ['#2563eb', '#ea580c', '#059669', '#c026d3', '#ca8a04', '#0891b2', '#dc2626', '#4f46e5', '#65a30d', '#9f1239'];

export function colorAt(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

export interface LineSpec {
  label: string;
  color: string;
  dash?: number[];
  width?: number;
}

export interface ChartOptions {
  height: number;
  format: (v: number) => string;
  /** The y range starts at 0 unless false (beta/gamma charts may not). */
  fromZero?: boolean;
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v === '' ? fallback : v;
}

function lastValue(a: ArrayLike<number | null | undefined> | undefined): number | null {
  if (!a) return null;
  for (let i = a.length - 1; i >= 0; i--) {
    const v = a[i];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return null;
}

function clockLabel(ts: number): string {
  const d = new Date(ts * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return d.getSeconds() === 0 ? `${two(d.getHours())}:${two(d.getMinutes())}` : `:${two(d.getSeconds())}`;
}

export class TimeChart {
  private plot: uPlot | null = null;
  private specs: LineSpec[] = [];
  private key = '';
  private readonly resize: ResizeObserver;

  constructor(
    private readonly container: HTMLElement,
    private readonly options: ChartOptions,
  ) {
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(container);
  }

  private width(): number {
    return Math.max(200, Math.floor(this.container.clientWidth));
  }

  private fit(): void {
    if (this.plot === null) return;
    const w = this.width();
    if (w !== this.plot.width) this.plot.setSize({ width: w, height: this.options.height });
  }

  /** Replaces the lines (rebuilding the chart only when they differ) and the data. */
  update(specs: LineSpec[], t: number[], ys: (number | null)[][]): void {
    const key = specs.map((s) => `${s.label}|${s.color}|${s.dash ?? ''}`).join(';');
    const data = [t, ...ys] as uPlot.AlignedData;
    if (this.plot === null || key !== this.key) {
      this.specs = specs;
      this.key = key;
      this.build(data);
      return;
    }
    this.plot.setData(data);
  }

  private build(data: uPlot.AlignedData): void {
    this.plot?.destroy();
    const axis = cssVar('--muted', '#6b7280');
    const grid = cssVar('--grid', '#e5e7eb');
    const fmt = this.options.format;
    const fromZero = this.options.fromZero !== false;
    const opts: uPlot.Options = {
      width: this.width(),
      height: this.options.height,
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      legend: { live: true },
      scales: {
        x: { time: true },
        y: {
          range: (_u, min, max) => {
            const lo = fromZero ? 0 : Number.isFinite(min) ? min : 0;
            const hi = Number.isFinite(max) && max > lo ? max : lo + 1;
            return [lo, lo + (hi - lo) * 1.15];
          },
        },
      },
      axes: [
        {
          stroke: axis,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          space: 55,
          // Whole seconds at least: the data has one point per second.
          incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
          // One row of labels: whole minutes as HH:MM, other ticks as :SS.
          values: (_u, splits) => splits.map((ts) => clockLabel(ts)),
        },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, size: 62, values: (_u, vals) => vals.map((v) => fmt(v)) },
      ],
      series: [
        {
          label: 'time',
          value: (u: uPlot, v: number | null, _si: number, idx: number | null) => {
            const t = idx === null ? lastValue(u.data[0] as (number | null)[]) : v;
            return t === null ? '–' : new Date(t * 1000).toLocaleTimeString('en-GB', { hour12: false });
          },
        },
        ...this.specs.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.width ?? 1.5,
          dash: s.dash,
          spanGaps: false,
          points: { show: false },
          // Away from the cursor the legend shows the latest value instead of a dash.
          value: (u: uPlot, v: number | null, si: number, idx: number | null) => {
            const x = idx === null ? lastValue(u.data[si] as (number | null)[]) : v;
            return x === null ? '–' : fmt(x);
          },
        })),
      ],
    };
    this.container.textContent = '';
    this.plot = new uPlot(opts, data, this.container);
  }
}

/**
 * A rolling window of points for charts fed by the event stream (strategy figures have no
 * server-side history): appends, drops points older than `maxPoints`.
 */
export class Rolling {
  readonly t: number[] = [];
  readonly values: Map<string, (number | null)[]> = new Map();
  constructor(private readonly maxPoints: number) {}

  push(t: number, sample: Record<string, number | null>): void {
    if (this.t.length > 0 && t <= this.t[this.t.length - 1]!) return;
    const n = this.t.length;
    this.t.push(t);
    for (const [k, v] of Object.entries(sample)) {
      let arr = this.values.get(k);
      if (arr === undefined) {
        arr = new Array<number | null>(n).fill(null);
        this.values.set(k, arr);
      }
      arr.push(v);
    }
    for (const [k, arr] of this.values) if (!(k in sample)) arr.push(null);
    if (this.t.length > this.maxPoints) {
      const drop = this.t.length - this.maxPoints;
      this.t.splice(0, drop);
      for (const arr of this.values.values()) arr.splice(0, drop);
    }
  }

  series(key: string): (number | null)[] {
    return this.values.get(key) ?? new Array<number | null>(this.t.length).fill(null);
  }

  clear(): void {
    this.t.length = 0;
    this.values.clear();
  }
}
