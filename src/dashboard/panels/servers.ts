/**
 * A card per backend: state (up, down, ejected, warming, disabled), in-flight, rate, latency,
 * failures, the last health check, and the enable/disable switch. Cards are keyed by address
 * and updated in place, so a button keeps focus across the once-a-second refresh.
 */
import { colorAt } from '../charts.js';
import { byId, clear, h, setText } from '../dom.js';
import { fmtInt, fmtMs, fmtRate } from '../format.js';
import type { Server, Snapshot } from '../types.js';

export type ToggleHandler = (server: Server, button: HTMLButtonElement) => void;

const STATE_TEXT: Record<string, string> = {
  up: 'up',
  down: 'down',
  ejected: 'ejected',
  disabled: 'disabled',
  warming: 'warming',
  removed: 'removed',
};

function figure(name: string, cls: string) {
  return h('div', { class: 'fig' }, h('dt', {}, name), h('dd', { class: `num ${cls}` }, '–'));
}

function buildCard(s: Server, i: number, onToggle: ToggleHandler): HTMLElement {
  const button = h('button', { type: 'button', class: 'toggle' });
  button.addEventListener('click', () => onToggle(current.get(s.address) ?? s, button));
  return h(
    'article',
    { class: 'server', 'data-address': s.address },
    h(
      'header',
      { class: 'server-head' },
      h('span', { class: 'swatch', style: `background:${colorAt(i)}` }),
      h('strong', { class: 'server-name' }, s.name),
      h('span', { class: 'badge' }),
    ),
    h('div', { class: 'server-addr muted' }),
    h(
      'dl',
      { class: 'figs' },
      figure('in flight', 'f-inflight'),
      figure('req/s', 'f-rps'),
      figure('p50', 'f-p50'),
      figure('p99', 'f-p99'),
      figure('requests', 'f-req'),
      figure('failures', 'f-fail'),
    ),
    h('div', { class: 'warm', hidden: true }, h('div', { class: 'bar' }, h('div', { class: 'bar-fill' })), h('span', { class: 'warm-text muted small' })),
    h('div', { class: 'server-note muted small' }),
    button,
  );
}

const current = new Map<string, Server>();

function warmupOf(s: Snapshot, srv: Server): number | null {
  const m = s.algorithm.servers.find((x) => x.host === srv.host && x.port === srv.port);
  if (m === undefined || m.is_warming_up !== true) return null;
  // A percentage in the API, like the original's.
  const p = m.warmup_progress;
  return typeof p === 'number' ? Math.min(1, Math.max(0, p / 100)) : 0;
}

function note(srv: Server): string {
  if (srv.state === 'ejected' && srv.ejected_for_ms > 0) return `ejected by outlier detection for ${Math.ceil(srv.ejected_for_ms / 1000)} s more`;
  const hc = srv.health as { lastResult?: string | null; lastError?: string | null; lastDurationMs?: number | null } | undefined;
  if (hc && hc.lastResult) {
    const dur = typeof hc.lastDurationMs === 'number' ? ` in ${fmtMs(hc.lastDurationMs)}` : '';
    return hc.lastResult === 'pass' ? `last check passed${dur}` : `last check failed${hc.lastError ? `: ${hc.lastError}` : ''}`;
  }
  if (srv.manually_disabled) return 'disabled by an operator: drains, takes no new requests';
  return '';
}

export function renderServers(s: Snapshot, onToggle: ToggleHandler): void {
  const el = byId('servers');
  const key = s.servers.map((x) => x.address).join();
  if (el.dataset.key !== key) {
    clear(el);
    el.dataset.key = key;
    s.servers.forEach((srv, i) => el.append(buildCard(srv, i, onToggle)));
  }
  current.clear();
  for (const srv of s.servers) {
    current.set(srv.address, srv);
    const card = el.querySelector<HTMLElement>(`.server[data-address="${CSS.escape(srv.address)}"]`);
    if (card === null) continue;
    const cls = `server state-${srv.state}`;
    if (card.className !== cls) card.className = cls;
    const q = (sel: string) => card.querySelector(sel)!;
    setText(q('.badge'), STATE_TEXT[srv.state] ?? srv.state);
    setText(q('.server-addr'), srv.name !== srv.address ? `${srv.address} · weight ${srv.weight}` : `weight ${srv.weight}`);
    setText(q('.f-inflight'), fmtInt(srv.inflight));
    setText(q('.f-rps'), fmtRate(srv.requests_per_second));
    setText(q('.f-p50'), srv.requests === 0 ? '–' : fmtMs(srv.p50_ms));
    setText(q('.f-p99'), srv.requests === 0 ? '–' : fmtMs(srv.p99_ms));
    setText(q('.f-req'), fmtInt(srv.requests));
    setText(q('.f-fail'), fmtInt(srv.failures));
    q('.f-fail').classList.toggle('bad', srv.failures > 0);
    const warm = warmupOf(s, srv);
    const warmEl = q('.warm') as HTMLElement;
    warmEl.hidden = warm === null;
    if (warm !== null) {
      (q('.warm .bar-fill') as HTMLElement).style.width = `${Math.round(warm * 100)}%`;
      setText(q('.warm-text'), `warm-up ${Math.round(warm * 100)}%`);
    }
    setText(q('.server-note'), note(srv));
    const button = q('.toggle') as HTMLButtonElement;
    if (!button.disabled) setText(button, srv.manually_disabled ? 'Enable' : 'Disable');
    button.classList.toggle('secondary', !srv.manually_disabled);
    button.setAttribute('aria-label', `${srv.manually_disabled ? 'Enable' : 'Disable'} ${srv.address}`);
  }
}
