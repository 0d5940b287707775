/** Number formatting for the page: short, unit-aware, never "NaN". */

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function fmtInt(x: number | null | undefined): string {
  return typeof x === 'number' && Number.isFinite(x) ? intFmt.format(x) : '–';
}

export function fmtNum(x: unknown, digits = 2): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '–';
  if (Number.isInteger(x)) return intFmt.format(x);
  const abs = Math.abs(x);
  const d = abs >= 100 ? 0 : abs >= 10 ? Math.min(1, digits) : digits;
  return x.toFixed(d);
}

export function fmtMs(x: number | null | undefined): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '–';
  if (x >= 10_000) return `${(x / 1000).toFixed(1)} s`;
  if (x >= 100) return `${x.toFixed(0)} ms`;
  if (x >= 10) return `${x.toFixed(1)} ms`;
  return `${x.toFixed(2)} ms`;
}

export function fmtRate(x: number | null | undefined): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '–';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function fmtPct(x: number | null | undefined, digits = 1): string {
  return typeof x === 'number' && Number.isFinite(x) ? `${x.toFixed(digits)}%` : '–';
}

export function fmtUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  if (d > 0) return `${d}d ${hh}h ${String(mm).padStart(2, '0')}m`;
  if (hh > 0) return `${hh}h ${String(mm).padStart(2, '0')}m ${String(ss).padStart(2, '0')}s`;
  if (mm > 0) return `${mm}m ${String(ss).padStart(2, '0')}s`;
  return `${ss}s`;
}

export function fmtTime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return d.toLocaleTimeString('en-GB', { hour12: false });
}

/** Any value from a strategy's metrics, readable: numbers rounded, booleans yes/no. */
export function fmtValue(v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return fmtNum(v, 3);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.length === 0 ? '–' : v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ');
  return JSON.stringify(v);
}

/** `work_queue_ewma` -> `work queue ewma`. */
export function label(key: string): string {
  return key.replace(/_/g, ' ');
}

/** Axis and bucket labels: `0`, `250ms`, `1.5s`. */
export function fmtShortMs(x: number): string {
  if (x === 0) return '0';
  if (x >= 1000) return `${+(x / 1000).toFixed(2)}s`;
  return `${+x.toFixed(x >= 10 ? 0 : 2)}ms`;
}
