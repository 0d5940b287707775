/**
 * Calls to the admin API. Mutating calls carry the admin token when one is known; the first
 * 401 asks for it (a small dialog), keeps it in sessionStorage for the tab's life, and
 * retries once. Reads need no token.
 */
import { byId } from './dom.js';

const TOKEN_KEY = 'ballast.adminToken';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage disabled: the token lives only for this call.
  }
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, errorText(body, res.status));
  return body as T;
}

function errorText(body: unknown, status: number): string {
  const e = (body as { error?: unknown } | null)?.error;
  return typeof e === 'string' ? e : `HTTP ${status}`;
}

let pendingAsk: Promise<string | null> | null = null;

/** Shows the token dialog; resolves with the token, or null when cancelled. One at a time. */
function askToken(wrong: boolean): Promise<string | null> {
  if (pendingAsk !== null) return pendingAsk;
  const dialog = byId<HTMLDialogElement>('token-dialog');
  const input = byId<HTMLInputElement>('token-input');
  const hint = byId('token-hint');
  hint.textContent = wrong ? 'That token was refused. Try again.' : 'This balancer requires its admin token for changes.';
  input.value = '';
  pendingAsk = new Promise<string | null>((resolve) => {
    const done = () => {
      dialog.removeEventListener('close', done);
      pendingAsk = null;
      const v = dialog.returnValue === 'ok' ? input.value.trim() : '';
      resolve(v === '' ? null : v);
    };
    dialog.addEventListener('close', done);
    dialog.showModal();
    input.focus();
  });
  return pendingAsk;
}

/** POST with JSON; on 401 asks for the token once and retries. Throws ApiError on failure. */
export async function postJson<T>(path: string, body: unknown): Promise<T> {
  let wrong = false;
  for (let attempt = 0; attempt < 3; attempt++) {
    const token = storedToken();
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (token !== null) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body), cache: 'no-store' });
    const parsed = await res.json().catch(() => ({}));
    if (res.status === 401) {
      if (token !== null) {
        storeToken(null);
        wrong = true;
      }
      const given = await askToken(wrong);
      if (given === null) throw new ApiError(401, 'admin token required');
      storeToken(given);
      continue;
    }
    if (!res.ok) throw new ApiError(res.status, errorText(parsed, res.status));
    return parsed as T;
  }
  throw new ApiError(401, 'admin token refused');
}
