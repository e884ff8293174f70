// Shared conversations (docs/api.md "Shared conversations"): participants, invitations, typing
// and presence. State lives in signals; the REST routes manage membership, the socket carries
// typing and presence.
import { signal } from '@preact/signals';
import { ApiError } from './api';
import type { MemberView, Sender, WireEvent } from './types';

export type { MemberView, Sender };

export interface Members { conversation: string; role: string; members: MemberView[] }

/** Participants per conversation id, once loaded or announced (conversation.members). */
export const members = signal<Record<string, Members>>({});
/** Who is typing, per conversation: user id → name and until when (ms). */
export const typing = signal<Record<string, Record<string, { name: string; until: number }>>>({});
/** Who has the conversation open now (presence). */
export const viewers = signal<Record<string, Sender[]>>({});
/** The share sheet is open for this conversation id. */
export const shareOpen = signal<string | null>(null);

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
    const err = (data as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(res.status, err?.code ?? 'http_' + res.status, err?.message ?? res.statusText);
  }
  return data as T;
}

const base = (id: string) => `/api/sessions/${encodeURIComponent(id)}`;

export const shareApi = {
  members: (id: string) => call<Members>('GET', base(id) + '/members'),
  add: (id: string, username: string, role: string) => call<MemberView>('POST', base(id) + '/members', { username, role }),
  remove: (id: string, userId: string) => call<void>('DELETE', base(id) + '/members/' + encodeURIComponent(userId)),
  setRole: (id: string, userId: string, role: string) => call<void>('PATCH', base(id) + '/members/' + encodeURIComponent(userId), { role }),
  transfer: (id: string, userId: string) => call<void>('POST', base(id) + '/owner', { userId }),
  mute: (id: string, muted: boolean) => call<void>('PUT', base(id) + '/mute', { muted }),
  invite: (id: string, role: string) => call<{ invite: { id: string; token: string; expiresAt: string }; link: string }>('POST', base(id) + '/invites', { role }),
  redeem: (token: string) => call<{ id: string; title: string }>('POST', '/api/invites/redeem', { token }),
};

export async function loadMembers(id: string): Promise<void> {
  try {
    const m = await shareApi.members(id);
    members.value = { ...members.value, [id]: m };
  } catch { /* not shared with us (404), or offline */ }
}

/** Applies a share event; returns whether ev was one. */
export function handleShareEvent(ev: WireEvent): boolean {
  switch (ev.name) {
    case 'conversation.members':
      members.value = { ...members.value, [ev.p.conversation]: { conversation: ev.p.conversation, role: ev.p.role, members: ev.p.members ?? [] } };
      return true;
    case 'typing': {
      const p = ev.p;
      const cur = { ...(typing.value[p.conversation] ?? {}) };
      if (p.typing) cur[p.userId] = { name: p.name, until: Date.now() + 6000 };
      else delete cur[p.userId];
      typing.value = { ...typing.value, [p.conversation]: cur };
      if (p.typing) setTimeout(expireTyping, 6100);
      return true;
    }
    case 'presence':
      viewers.value = { ...viewers.value, [ev.p.conversation]: ev.p.viewers ?? [] };
      return true;
    case 'conversation.deleted': {
      // Removed from (or left) a shared conversation: forget what we knew of it.
      const id = ev.p.id;
      const { [id]: _m, ...restM } = members.value;
      const { [id]: _v, ...restV } = viewers.value;
      members.value = restM;
      viewers.value = restV;
      if (shareOpen.value === id) shareOpen.value = null;
      return false; // the conversation list handles it too
    }
  }
  return false;
}

function expireTyping(): void {
  const now = Date.now();
  let changed = false;
  const next: typeof typing.value = {};
  for (const [conv, who] of Object.entries(typing.value)) {
    const keep: Record<string, { name: string; until: number }> = {};
    for (const [u, t] of Object.entries(who)) { if (t.until > now) keep[u] = t; else changed = true; }
    next[conv] = keep;
  }
  if (changed) typing.value = next;
}

/** Names typing in conversation id, other than me. */
export function typingNames(id: string, me?: string): string[] {
  return Object.entries(typing.value[id] ?? {}).filter(([u, t]) => u !== me && t.until > Date.now()).map(([, t]) => t.name);
}

/** Text for the typing indicator. */
export function typingText(names: string[]): string {
  if (!names.length) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

/** Initials for an avatar: first letters of the first two words. */
export function initials(name: string): string {
  const w = name.trim().split(/\s+/).filter(Boolean);
  return ((w[0]?.[0] ?? '?') + (w[1]?.[0] ?? '')).toUpperCase();
}

/** A stable hue for a name's avatar. */
export function hue(name: string): number {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)!) % 360;
  return h;
}

/** The #join=<token> of an invitation link, removed from the address once read. */
export function takeJoinToken(): string | null {
  const m = /^#join=([A-Za-z0-9_-]{43})$/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, '', location.pathname + location.search);
  return m[1];
}
