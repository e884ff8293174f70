// REST helpers (docs/api.md). Same-origin fetches with the session cookie; errors are thrown as
// ApiError carrying the server's stable code.
import type { AppConfig, User } from './types';

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public retryAfter?: number) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
  }
  const res = await fetch(path, init);
  if (res.status === 204) return undefined as T;
  let data: unknown = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const ra = Number(res.headers.get('Retry-After') ?? '') || undefined;
    const err = (data as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(res.status, err?.code ?? 'http_' + res.status, err?.message ?? res.statusText, ra);
  }
  return data as T;
}

export const api = {
  config: () => call<AppConfig>('GET', '/api/config'),
  me: () => call<{ user: User }>('GET', '/api/me'),
  login: (username: string, password: string) => call<{ ok: boolean; user: User }>('POST', '/login', { username, password }),
  logout: () => call<{ ok: boolean; redirect?: string }>('POST', '/logout', {}),
  changePassword: (current: string, next: string) => call<{ ok: boolean }>('POST', '/api/account/password', { current, new: next }),
  logoutAll: () => call<{ ok: boolean }>('POST', '/api/account/logout-all', {}),
  reactions: (conv: string) => call<{ reactions: Record<string, Record<string, string[]>> }>('GET', `/api/reactions/${encodeURIComponent(conv)}`),
  toggleReaction: (conv: string, messageId: string, emoji: string) =>
    call<{ reactions: Record<string, string[]> }>('POST', `/api/messages/${encodeURIComponent(messageId)}/reactions`, { session: conv, emoji }),
  pushSubscribe: (sub: PushSubscriptionJSON) => call<unknown>('POST', '/api/push/subscriptions', sub),
  pushUnsubscribe: (endpoint: string) => call<unknown>('DELETE', '/api/push/subscriptions', { endpoint }),
};

/** A conversation's model, thinking level and permission mode (GET/PATCH /api/sessions/{key}/settings). */
export interface ConvSettings {
  agentId: string;
  model: string;
  thinkingLevel: string;
  permissionMode: string;
  models: { id: string; name: string; thinkingLevels: string[]; thinkingDefault?: string }[];
  canChange: boolean;
}

export const settingsApi = {
  get: (conv: string) => call<ConvSettings>('GET', `/api/sessions/${encodeURIComponent(conv)}/settings`),
  update: (conv: string, p: { model?: string; thinkingLevel?: string }) =>
    call<ConvSettings>('PATCH', `/api/sessions/${encodeURIComponent(conv)}/settings`, p),
};

/** A message of one of the user's conversations that matches a search (GET /api/search). */
export interface SearchHit { conversation: string; title: string; messageId: string; role: string; at?: string; snippet: string }

export const searchApi = (q: string) => call<{ results: SearchHit[] }>('GET', `/api/search?q=${encodeURIComponent(q)}`);
