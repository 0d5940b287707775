/**
 * Ballast's dashboard: one page on the admin port, no internet needed (bundled by
 * scripts/build-dashboard.mjs with esbuild; charts are uPlot).
 *
 * Data flow: on load it reads /api/strategy (the selector) and /api/history (five minutes of
 * per-second points for the charts), then follows /api/events, one snapshot a second, which
 * drives every panel. If the stream drops, EventSource reconnects by itself and the history
 * is read again to fill the gap.
 */
import 'uplot/dist/uPlot.min.css';
import { ApiError, getJson, postJson } from './api.js';
import { byId, setText } from './dom.js';
import { LoadTestPanel } from './panels/loadtest.js';
import { renderOverview } from './panels/overview.js';
import { renderServers, type ToggleHandler } from './panels/servers.js';
import { StrategyPanel } from './panels/strategy.js';
import { TrafficPanel } from './panels/traffic.js';
import type { History, Snapshot, StrategyList } from './types.js';

let toastTimer: number | undefined;
function toast(text: string, bad = false): void {
  const el = byId('toast');
  el.className = `toast${bad ? ' toast-bad' : ''}`;
  setText(el, text);
  el.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (el.hidden = true), 4000);
}

function setLive(state: 'live' | 'reconnecting' | 'offline'): void {
  const el = byId('live');
  setText(el, state);
  el.className = `live live-${state}`;
}

function main(): void {
  const traffic = new TrafficPanel();
  const strategy = new StrategyPanel(() => {});
  new LoadTestPanel();
  let last: Snapshot | null = null;

  const render = (s: Snapshot) => {
    last = s;
    renderOverview(s);
    renderServers(s, onToggle);
    traffic.update(s);
    strategy.update(s);
  };

  const onToggle: ToggleHandler = async (srv, button) => {
    button.disabled = true;
    setText(button, srv.manually_disabled ? 'Enabling…' : 'Disabling…');
    try {
      const r = await postJson<{ action: 'stopped' | 'started'; server: string }>('/api/servers/toggle', { host: srv.host, port: srv.port });
      toast(`${r.server} ${r.action === 'stopped' ? 'disabled' : 'enabled'}`);
      // Show the change now rather than at the next event.
      if (last !== null) {
        const stopped = r.action === 'stopped';
        const servers = last.servers.map((x) =>
          x.address === srv.address ? { ...x, manually_disabled: stopped, status: stopped ? 'disabled' : 'up', state: stopped ? ('disabled' as const) : ('up' as const) } : x,
        );
        last = { ...last, servers };
        button.disabled = false;
        renderServers(last, onToggle);
      }
    } catch (err) {
      toast(err instanceof ApiError ? err.message : String(err), true);
    } finally {
      button.disabled = false;
      setText(button, (last?.servers.find((x) => x.address === srv.address)?.manually_disabled ?? srv.manually_disabled) ? 'Enable' : 'Disable');
    }
  };

  const loadHistory = async () => {
    try {
      const hist = await getJson<History>('/api/history?seconds=300');
      traffic.loadHistory(hist, Object.keys(hist.servers));
    } catch (err) {
      toast(`could not load the chart history: ${String(err)}`, true);
    }
  };

  // The selector, the chart history and the live stream load in parallel; a snapshot that
  // arrives before the history only adds a point the history then covers.
  getJson<StrategyList>('/api/strategy').then(
    (list) => strategy.setList(list),
    (err: unknown) => toast(`could not list strategies: ${String(err)}`, true),
  );
  void loadHistory();
  {
    let dropped = false;
    const es = new EventSource('/api/events');
    es.onopen = () => {
      setLive('live');
      if (dropped) {
        dropped = false;
        void loadHistory();
      }
    };
    es.onmessage = (ev: MessageEvent<string>) => {
      try {
        render(JSON.parse(ev.data) as Snapshot);
      } catch (err) {
        toast(`bad event: ${String(err)}`, true);
      }
    };
    es.onerror = () => {
      dropped = true;
      setLive(es.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting');
    };
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
else main();
