// The offline cache: what the app needs to open read-only without the server. It keeps the
// signed-in user, the conversation lists and the newest history page of the few conversations
// opened last, in localStorage under "cc.off.". Only finished messages are kept (no pending or
// streaming state, no attachment contents). Signing out, or a 401 at start, clears it all.
import type { Conversation, Message, User } from './types';

const P = 'cc.off.';
const MAX_HISTORIES = 8;
const MAX_MESSAGES = 50;

export interface OfflineData {
  user: User;
  conversations: Conversation[];
  gateway: Conversation[];
  histories: Record<string, Message[]>;
}

function get<T>(k: string): T | null {
  try { const v = localStorage.getItem(P + k); return v ? (JSON.parse(v) as T) : null; } catch { return null; }
}

function put(k: string, v: unknown): void {
  try { localStorage.setItem(P + k, JSON.stringify(v)); } catch { /* full or unavailable: the cache is best-effort */ }
}

/** Remember who is signed in (the cache belongs to this user only). */
export function cacheUser(u: User): void {
  const prev = get<User>('user');
  if (prev && prev.id !== u.id) clearOffline();
  put('user', u);
}

export function cacheLists(conversations: Conversation[], gateway: Conversation[]): void {
  const strip = (c: Conversation) => ({ ...c, running: false, runId: null });
  put('list', { conversations: conversations.map(strip), gateway: gateway.map(strip) });
}

/** Keep the newest finished messages of one conversation; the least recently saved drop out. */
export function cacheHistory(id: string, messages: Message[]): void {
  const keep = messages.filter((m) => !m.pending && !m.streaming && !m.error)
    .slice(-MAX_MESSAGES)
    .map(({ rev, textRev, queuedPosition, phase, ...m }) => m);
  const order = (get<string[]>('order') ?? []).filter((x) => x !== id);
  order.push(id);
  while (order.length > MAX_HISTORIES) {
    const old = order.shift()!;
    try { localStorage.removeItem(P + 'h.' + old); } catch { /* ignore */ }
  }
  put('h.' + id, keep);
  put('order', order);
}

/** Everything cached, or null when nobody was signed in on this device. */
export function readOffline(): OfflineData | null {
  const user = get<User>('user');
  if (!user?.id) return null;
  const list = get<{ conversations: Conversation[]; gateway: Conversation[] }>('list');
  const histories: Record<string, Message[]> = {};
  for (const id of get<string[]>('order') ?? []) {
    const h = get<Message[]>('h.' + id);
    if (Array.isArray(h)) histories[id] = h;
  }
  return { user, conversations: list?.conversations ?? [], gateway: list?.gateway ?? [], histories };
}

export function clearOffline(): void {
  try {
    for (let i = localStorage.length - 1; i >= 0; i--) {
      const k = localStorage.key(i);
      if (k?.startsWith(P)) localStorage.removeItem(k);
    }
  } catch { /* ignore */ }
}
