/**
 * The load and stress test form. A run is one POST that answers when the test is done; while
 * it runs the panel polls the progress endpoint. The result shows the original project's
 * fields and a latency histogram from the buckets the load tester reports.
 */
import { ApiError, getJson, postJson } from '../api.js';
import { byId, clear, h, setText } from '../dom.js';
import { fmtInt, fmtMs, fmtNum, fmtShortMs, fmtValue, label } from '../format.js';

interface Bucket {
  le: number | null;
  count: number;
}

/** Units of the original result fields (times in ms, durations in s). */
const KNOWN: Record<string, (v: unknown) => string> = {
  avg_response_time: (v) => fmtMs(v as number),
  min_response_time: (v) => fmtMs(v as number),
  max_response_time: (v) => fmtMs(v as number),
  p50_response_time: (v) => fmtMs(v as number),
  p90_response_time: (v) => fmtMs(v as number),
  p99_response_time: (v) => fmtMs(v as number),
  p999_response_time: (v) => fmtMs(v as number),
  duration: (v) => `${fmtNum(v as number, 2)} s`,
  requests_per_second: (v) => fmtNum(v as number, 1),
  success_rate: (v) => `${fmtNum(v as number, 2)}%`,
};

/** The first array of latency buckets (`{leMs|le_ms|le, count}`) found in the reply, if any. */
export function findBuckets(x: unknown, depth = 0): Bucket[] | null {
  if (depth > 4 || x === null || typeof x !== 'object') return null;
  if (Array.isArray(x)) {
    if (x.length > 0 && x.every((b) => b && typeof b === 'object' && typeof (b as Record<string, unknown>).count === 'number')) {
      const first = x[0] as Record<string, unknown>;
      const key = ['leMs', 'le_ms', 'le', 'upper_ms'].find((k) => k in first);
      if (key !== undefined) return x.map((b) => ({ le: (b as Record<string, unknown>)[key] as number | null, count: (b as Record<string, number>).count! }));
    }
    return null;
  }
  const o = x as Record<string, unknown>;
  for (const k of ['latencyBuckets', 'latency_buckets', 'histogram', 'latency_histogram']) {
    const found = findBuckets(o[k], depth + 1);
    if (found) return found;
  }
  for (const v of Object.values(o)) {
    if (v && typeof v === 'object') {
      const found = findBuckets(v, depth + 1);
      if (found) return found;
    }
  }
  return null;
}

/** A 0..1 fraction and a line of text from whatever the progress endpoint reports. */
function describeProgress(p: Record<string, unknown>): { running: boolean; fraction: number | null; text: string } {
  const flat: Record<string, unknown> = {};
  const walk = (o: unknown, depth: number) => {
    if (!o || typeof o !== 'object' || depth > 3) return;
    for (const [k, v] of Object.entries(o)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v, depth + 1);
      else if (!(k in flat)) flat[k] = v;
    }
  };
  walk(p, 0);
  const running = flat.running !== false;
  let fraction = typeof flat.fraction === 'number' ? flat.fraction : null;
  const done = typeof flat.done === 'number' ? flat.done : typeof flat.completed === 'number' ? flat.completed : null;
  const total = typeof flat.total === 'number' ? flat.total : null;
  if (fraction === null && done !== null && total) fraction = done / total;
  const parts: string[] = [];
  if (done !== null) parts.push(total ? `${fmtInt(done)} / ${fmtInt(total)} requests` : `${fmtInt(done)} requests`);
  if (typeof flat.failed === 'number' && flat.failed > 0) parts.push(`${fmtInt(flat.failed)} failed`);
  if (typeof flat.level === 'number') parts.push(`level ${fmtInt(flat.level)}`);
  const elapsed = typeof flat.elapsedS === 'number' ? flat.elapsedS : typeof flat.elapsed_s === 'number' ? flat.elapsed_s : null;
  if (elapsed !== null) parts.push(`${elapsed.toFixed(1)} s`);
  return { running, fraction, text: parts.join(' · ') };
}

export class LoadTestPanel {
  private running = false;

  constructor() {
    const form = byId<HTMLFormElement>('lt-form');
    form.addEventListener('change', () => this.syncKind());
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.run();
    });
    this.syncKind();
  }

  private kind(): 'load_test' | 'stress_test' {
    const checked = byId<HTMLFormElement>('lt-form').querySelector<HTMLInputElement>('input[name="kind"]:checked');
    return checked?.value === 'stress_test' ? 'stress_test' : 'load_test';
  }

  private syncKind(): void {
    const stress = this.kind() === 'stress_test';
    for (const el of document.querySelectorAll<HTMLElement>('.load-only')) el.hidden = stress;
    for (const el of document.querySelectorAll<HTMLElement>('.stress-only')) el.hidden = !stress;
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const kind = this.kind();
    const int = (id: string) => Math.max(1, Math.floor(Number(byId<HTMLInputElement>(id).value) || 1));
    const body = kind === 'load_test' ? { requests: int('lt-requests'), concurrent: int('lt-concurrent') } : { duration: int('lt-duration'), concurrent: int('lt-concurrent') };
    const button = byId<HTMLButtonElement>('lt-run');
    const error = byId('lt-error');
    const progress = byId('lt-progress');
    button.disabled = true;
    setText(button, 'Running…');
    error.hidden = true;
    progress.hidden = false;
    byId('lt-bar').style.width = '0%';
    setText(byId('lt-progress-text'), 'starting…');
    let polling = true;
    const poll = async () => {
      while (polling) {
        await new Promise((r) => setTimeout(r, 400));
        if (!polling) break;
        try {
          const p = describeProgress(await getJson<Record<string, unknown>>('/api/load-test/progress'));
          if (!polling) break;
          if (p.fraction !== null) byId('lt-bar').style.width = `${Math.round(Math.min(1, p.fraction) * 100)}%`;
          if (p.text) setText(byId('lt-progress-text'), p.text);
        } catch {
          // Progress is best effort; the result comes with the POST's answer.
        }
      }
    };
    const poller = poll();
    try {
      const result = await postJson<Record<string, unknown>>(kind === 'load_test' ? '/api/load-test' : '/api/stress-test', body);
      byId('lt-bar').style.width = '100%';
      this.showResult(result);
    } catch (err) {
      error.hidden = false;
      setText(error, err instanceof ApiError ? `${err.message} (HTTP ${err.status})` : String(err));
    } finally {
      // The poller sees the flag at its next wake-up and stops; the form is usable at once.
      polling = false;
      void poller;
      progress.hidden = true;
      button.disabled = false;
      setText(button, 'Run');
      this.running = false;
    }
  }

  private showResult(r: Record<string, unknown>): void {
    const box = byId('lt-result');
    box.hidden = false;
    const summary = byId('lt-summary');
    clear(summary);
    for (const [k, v] of Object.entries(r)) {
      let text: string;
      if (v !== null && typeof v === 'object') {
        // Small maps of counts (status codes, requests per backend) read well on one line.
        const entries = Array.isArray(v) ? [] : Object.entries(v as Record<string, unknown>).filter(([, x]) => typeof x === 'number');
        if (entries.length === 0 || entries.length > 8) continue;
        text = entries.map(([name, x]) => `${name}: ${fmtInt(x as number)}`).join(' · ');
      } else {
        text = (KNOWN[k] ?? fmtValue)(v);
      }
      summary.append(h('div', { class: 'kv-row' }, h('span', { class: 'kv-k' }, label(k)), h('span', { class: 'kv-v num', 'data-field': k }, text)));
    }
    const hist = byId('lt-hist');
    clear(hist);
    const buckets = findBuckets(r);
    if (buckets === null) {
      hist.append(h('p', { class: 'muted' }, 'The load tester reported no latency buckets.'));
      return;
    }
    // Trim empty buckets at both ends so the bars use the width.
    let lo = 0;
    let hi = buckets.length - 1;
    while (lo < hi && buckets[lo]!.count === 0) lo++;
    while (hi > lo && buckets[hi]!.count === 0) hi--;
    const shown = buckets.slice(lo, hi + 1);
    const max = Math.max(1, ...shown.map((b) => b.count));
    const total = shown.reduce((a, b) => a + b.count, 0);
    const bars = h('div', { class: 'hist-bars', role: 'img', 'aria-label': `latency histogram of ${total} requests` });
    for (const b of shown) {
      const le = b.le === null ? '∞' : fmtShortMs(b.le);
      bars.append(
        h(
          'div',
          { class: 'hist-col', title: `≤ ${le}: ${b.count} requests` },
          h('span', { class: 'hist-count' }, b.count > 0 ? fmtInt(b.count) : ''),
          h('div', { class: 'hist-bar', style: `height:${Math.max(b.count > 0 ? 2 : 0, (b.count / max) * 100)}%` }),
          h('span', { class: 'hist-le' }, `≤${le}`),
        ),
      );
    }
    hist.append(bars);
  }
}
