// Application state (signals) and the actions that change it. Components read signals and call
// actions; nothing else talks to the network.
import { batch, computed, effect, signal } from '@preact/signals';
import { api } from './api';
import { RequestError, Socket, type ConnState } from './socket';
import { addPending, adoptIds, applyRunEvent, emptyConv, failPending, isRunEvent, loadHistory, prependHistory, type ConvState } from './reducer';
import { chime, foregroundNotify, syncPush } from './notify';
import type { Agent, AppConfig, Approval, Conversation, GatewayState, History, Limits, User, WireEvent } from './types';
import type { Attachment } from './attachments';
import { cacheHistory, cacheLists, cacheUser, clearOffline, type OfflineData } from './offline';

export const config = signal<AppConfig | null>(null);
export const me = signal<User | null>(null);
export const authState = signal<'unknown' | 'offline' | 'signed-out' | 'signed-in'>('unknown');
export const conn = signal<ConnState>('connecting');
export const gateway = signal<GatewayState>('connected');
export const limits = signal<Limits>({});
export const conversations = signal<Conversation[]>([]);
export const gatewaySessions = signal<Conversation[]>([]);
export const agents = signal<Agent[]>([]);
export const defaultAgent = signal<string>('main');
export const current = signal<string | null>(null);
export const convs = signal<Record<string, ConvState>>({});
export const reactions = signal<Record<string, Record<string, Record<string, string[]>>>>({});
export const approvals = signal<Approval[]>([]);
export const updateAvailable = signal(false);
export const toast = signal<string | null>(null);
/** An action offered in the toast (Undo). */
export const toastAction = signal<{ label: string; run(): void } | null>(null);
/** The agent picked in the sidebar for new chats ('' = the default). */
export const newChatAgent = signal('');
/** Text put into the composer by a message action (edit and resend); the composer takes it once. */
export const composerFill = signal<{ conv: string; text: string } | null>(null);
export const announce = signal(''); // aria-live text for new replies
export const sidebarOpen = signal(false);
export const filter = signal('');
/** True while the app runs from the offline cache: read-only until the socket is ready again. */
export const offline = signal(false);

export const currentConv = computed(() => (current.value ? convs.value[current.value] ?? emptyConv() : emptyConv()));
export const isOwner = computed(() => me.value?.role === 'owner');

export const prefs = {
  sound: signal(localStorage.getItem('cc.sound') === '1'),
  notify: signal(localStorage.getItem('cc.notify') === '1'),
  theme: signal<'system' | 'light' | 'dark'>((localStorage.getItem('cc.theme') as any) || 'system'),
};

export function setPref(k: 'sound' | 'notify', v: boolean): void {
  prefs[k].value = v;
  localStorage.setItem('cc.' + k, v ? '1' : '0');
}

export function setTheme(t: 'system' | 'light' | 'dark'): void {
  prefs.theme.value = t;
  localStorage.setItem('cc.theme', t);
  applyTheme();
}

export function applyTheme(): void {
  const t = prefs.theme.value;
  if (t === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
}

let toastTimer: ReturnType<typeof setTimeout> | undefined;
export function showToast(msg: string, action?: { label: string; run(): void }, ms = 6000): void {
  toast.value = msg;
  toastAction.value = action ?? null;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toast.value = null; toastAction.value = null; }, ms);
}

function setConv(id: string, f: (s: ConvState) => ConvState): void {
  const all = convs.value;
  convs.value = { ...all, [id]: f(all[id] ?? emptyConv()) };
}

// The conversation lists go to the offline cache whenever they change while online.
let listCacheTimer: ReturnType<typeof setTimeout> | undefined;
effect(() => {
  const c = conversations.value, g = gatewaySessions.value;
  if (authState.value !== 'signed-in' || offline.value) return;
  clearTimeout(listCacheTimer);
  listCacheTimer = setTimeout(() => { if (authState.value === 'signed-in' && !offline.value) cacheLists(c, g); }, 300);
});

// ---- socket ----

let socket: Socket | null = null;
let firstReady = true;
const unsent = new Map<string, { conversation: string; id: string; text: string; attachments?: Pick<Attachment, 'name' | 'mimeType' | 'content'>[] }>();

export function startSocket(): void {
  socket = new Socket({
    onState: (s) => { conn.value = s; if (s === 'unauthorized') signOutLocal(); },
    onHello: (h) => batch(() => {
      const before = me.value?.role;
      me.value = h.user ?? me.value;
      if (before && me.value && me.value.role !== before) {
        // The role changed while connected (the server closed with 4012): drop what the old role
        // could see, and load what the new one may.
        if (me.value.role !== 'owner') { approvals.value = []; gatewaySessions.value = []; } else loadApprovals();
      }
      if (h.user) cacheUser(h.user);
      gateway.value = h.gateway?.state ?? 'connected';
      limits.value = h.limits ?? {};
    }),
    onReady: (reload0) => {
      // Back from an offline start: everything shown came from the cache, so reload it all.
      const reload = reload0 || offline.value;
      if (offline.value && !config.value) api.config().then((c) => (config.value = c)).catch(() => {});
      offline.value = false;
      refreshList();
      if (firstReady) {
        loadAgents();
        if (isOwner.value) loadApprovals();
        const vapid = config.value?.push?.vapidPublicKey;
        if (vapid) syncPush(vapid).catch(() => {});
      }
      if ((firstReady || reload) && current.value) loadConversation(current.value, true);
      if (reload) {
        // other conversations' cached state is stale: drop it so it reloads on open
        const cur = current.value;
        convs.value = cur && convs.value[cur] ? { [cur]: convs.value[cur] } : {};
      }
      firstReady = false;
      for (const m of unsent.values()) trySend(m);
    },
    onEvent: handleEvent,
    checkAuth: async () => {
      try { await api.me(); return false; } catch (e: any) { return e?.status === 401; }
    },
  });
  socket.start();
}

export function stopSocket(): void { socket?.stop(); socket = null; }

/**
 * Change the signed-in user's password. The server ends every session of the user, this one
 * included, and gives this browser a new one: the socket opened with the old session would be
 * closed as signed out (4401), so it is stopped first and opened again with the new cookie.
 */
export async function changePassword(current: string, next: string): Promise<void> {
  stopSocket();
  try {
    await api.changePassword(current, next);
  } finally {
    startSocket();
  }
}

export function rpc<T = unknown>(method: string, params: unknown = {}): Promise<T> {
  if (!socket) return Promise.reject(new RequestError('disconnected', 'not connected', true));
  return socket.request<T>(method, params);
}

// listRev counts local changes to the conversation lists, so that a conversations.list answer
// requested before a change (a create, a rename event) does not overwrite it with a stale list.
let listRev = 0;

function upsertConversation(c: Conversation): void {
  listRev++;
  const list = c.kind === 'gateway' ? gatewaySessions : conversations;
  const i = list.value.findIndex((x) => x.id === c.id);
  const next = list.value.slice();
  if (i >= 0) next[i] = { ...next[i], ...c }; else next.unshift(c);
  list.value = next;
}

function touch(id: string, patch: Partial<Conversation>): void {
  for (const list of [conversations, gatewaySessions]) {
    const i = list.value.findIndex((x) => x.id === id);
    if (i >= 0) { const n = list.value.slice(); n[i] = { ...n[i], ...patch }; list.value = n; }
  }
}

function titleOf(id: string): string {
  return cleanTitle([...conversations.value, ...gatewaySessions.value].find((c) => c.id === id)?.title) || 'clawchat';
}

/**
 * A title for display: Markdown markers, links' targets, control characters and bracketed
 * control markers (⟦…⟧, [[…]]) removed, white space collapsed.
 */
export function cleanTitle(t?: string | null): string {
  return (t ?? '')
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .replace(/⟦[^⟧]*⟧|\[\[[^\]]*\]\]/g, ' ')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/(^|\s)#{1,6}\s+/g, '$1')
    .replace(/[*_`~>|]+/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Archived conversations, once the user opened that section (null: not loaded). */
export const archivedList = signal<Conversation[] | null>(null);

export async function loadArchived(): Promise<void> {
  try {
    const r = await rpc<{ conversations: Conversation[] }>('conversations.list', { archived: true });
    archivedList.value = r.conversations ?? [];
  } catch (e: any) { showToast(e?.message ?? 'Could not load archived chats'); }
}

/** Archive or unarchive; archiving offers Undo. */
export async function setArchived(id: string, archived: boolean): Promise<void> {
  try {
    const c = await rpc<Conversation>('conversations.update', { id, archived });
    upsertConversation(c);
    const a = archivedList.value;
    if (a) archivedList.value = archived ? [c, ...a.filter((x) => x.id !== id)] : a.filter((x) => x.id !== id);
    if (archived) showToast(`Archived “${cleanTitle(c.title) || 'New chat'}”`, { label: 'Undo', run: () => setArchived(id, false) });
  } catch (e: any) { showToast(e?.message ?? 'Could not archive'); }
}

export async function setPinned(id: string, pinned: boolean): Promise<void> {
  try { upsertConversation(await rpc<Conversation>('conversations.update', { id, pinned })); } catch (e: any) { showToast(e?.message ?? (pinned ? 'Could not pin' : 'Could not unpin')); }
}

/** Handle one server event. payload is typed by name (wire.ts, generated from the server's types). */
export function handleEvent(name: string, payload: unknown): void {
  const ev = { name, p: payload ?? {} } as WireEvent;
  switch (ev.name) {
    case 'conversation.created':
    case 'conversation.updated':
      upsertConversation(ev.p);
      return;
    case 'conversation.deleted': {
      const id = ev.p.id;
      listRev++;
      conversations.value = conversations.value.filter((c) => c.id !== id);
      if (current.value === id) location.hash = '#/';
      return;
    }
    case 'gateway.status':
      gateway.value = ev.p.state;
      return;
    case 'resync':
      refreshList();
      if (current.value) loadConversation(current.value, true);
      return;
    case 'approval.requested': {
      const a = ev.p;
      approvals.value = [...approvals.value.filter((x) => x.id !== a.id), a];
      return;
    }
    case 'approval.resolved': {
      const id = ev.p.id;
      approvals.value = approvals.value.filter((a) => a.id !== id);
      return;
    }
    case 'reaction': {
      const p = ev.p;
      reactions.value = { ...reactions.value, [p.conversation]: { ...(reactions.value[p.conversation] ?? {}), [p.messageId]: p.reactions ?? {} } };
      return;
    }
    case 'error':
      showToast(ev.p.message || ev.p.code || 'Something went wrong');
      return;
    case 'policy.drift':
      showToast(`${ev.p.user}'s conversation was refused: its permission settings were changed outside clawchat.`);
      return;
    case 'server.restart':
      return;
  }
  if (!isRunEvent(ev) || !ev.p.conversation) return;
  const id = ev.p.conversation;
  setConv(id, (s) => applyRunEvent(s, ev));
  switch (ev.name) {
    case 'run.started':
      touch(id, { running: true, runId: ev.p.runId, lastActivityAt: ev.p.at ?? new Date().toISOString() });
      return;
    case 'run.final':
    case 'run.aborted':
    case 'run.error':
      touch(id, { running: false, runId: null, lastActivityAt: new Date().toISOString() });
      cacheHistory(id, convs.value[id]?.messages ?? []);
      if (ev.name !== 'run.error' && id === current.value && !id.startsWith('gw:')) syncIds(id);
      if (ev.name === 'run.final') onReplyFinished(id, ev.p.text ?? '');
      if (ev.name === 'run.error' && id === current.value) announce.value = 'Error: ' + (ev.p.message ?? '');
  }
}

function onReplyFinished(id: string, text: string): void {
  if (id === current.value) announce.value = 'New reply: ' + text.slice(0, 200);
  if (document.visibilityState === 'hidden' || id !== current.value) {
    if (prefs.notify.value) foregroundNotify(titleOf(id), text, id);
    if (prefs.sound.value && document.visibilityState === 'hidden') chime();
  }
}

// ---- actions ----

export async function refreshList(attempt = 0): Promise<void> {
  try {
    const rev = listRev;
    const r = await rpc<{ conversations: Conversation[]; gateway?: Conversation[] }>('conversations.list', {});
    if (rev !== listRev && attempt < 3) return refreshList(attempt + 1); // changed meanwhile: ask again
    batch(() => { conversations.value = r.conversations ?? []; gatewaySessions.value = r.gateway ?? []; });
  } catch { /* reconnect will retry */ }
}

async function loadAgents(): Promise<void> {
  try {
    const r = await rpc<{ agents: Agent[]; default?: string }>('agents.list', {});
    agents.value = r.agents ?? [];
    if (r.default) defaultAgent.value = r.default;
  } catch { /* optional */ }
}

async function loadApprovals(): Promise<void> {
  try {
    const r = await rpc<{ approvals: Approval[] }>('approvals.list', {});
    approvals.value = r.approvals ?? [];
  } catch { /* optional */ }
}

export async function loadConversation(id: string, force = false): Promise<void> {
  if (!force && convs.value[id]?.loaded) return;
  try {
    const since = convs.value[id]?.rev ?? 0;
    const h = await rpc<History>('history', { conversation: id, limit: 50 });
    setConv(id, (s) => loadHistory(s, h, since));
    cacheHistory(id, convs.value[id]?.messages ?? []);
  } catch (e: any) {
    if (e?.code === 'not_found') setConv(id, (s) => ({ ...s, loaded: true }));
    else if (!e?.disconnected) showToast(e?.message ?? 'Could not load history');
  }
  if (!id.startsWith('gw:')) {
    api.reactions(id).then((r) => (reactions.value = { ...reactions.value, [id]: r.reactions ?? {} })).catch(() => {});
  }
}

/** Fetch the newest page only to learn the stored ids of the messages just finished. */
async function syncIds(id: string, attempt = 0): Promise<void> {
  try {
    const h = await rpc<History>('history', { conversation: id, limit: 10 });
    setConv(id, (s) => adoptIds(s, h));
  } catch { return; /* ids stay local until the next history load */ }
  // The transcript may be written a moment after the run ends: try again a few times.
  const local = convs.value[id]?.messages.some((m) => m.id.startsWith('run:') && !m.streaming);
  if (local && attempt < 3) setTimeout(() => syncIds(id, attempt + 1), 1000 * (attempt + 1));
}

export async function loadOlder(id: string): Promise<void> {
  const s = convs.value[id];
  if (!s?.hasMore || !s.cursor) return;
  try {
    const h = await rpc<History>('history', { conversation: id, limit: 50, before: s.cursor });
    setConv(id, (st) => prependHistory(st, h));
  } catch (e: any) { showToast(e?.message ?? 'Could not load older messages'); }
}

export function newId(): string {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return 'c' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export async function send(conversation: string, text: string, atts: Attachment[]): Promise<void> {
  const id = newId();
  const attachments = atts.length ? atts.map(({ name, mimeType, content }) => ({ name, mimeType, content })) : undefined;
  setConv(conversation, (s) => addPending(s, {
    id, role: 'user', text, at: new Date().toISOString(),
    attachments: atts.map(({ name, mimeType, size, preview }) => ({ name, mimeType, size, url: preview })),
  }));
  await trySend({ conversation, id, text, attachments });
}

async function trySend(m: { conversation: string; id: string; text: string; attachments?: Pick<Attachment, 'name' | 'mimeType' | 'content'>[] }): Promise<void> {
  unsent.set(m.id, m);
  try {
    const r = await rpc<{ runId: string; status: string }>('send', m);
    unsent.delete(m.id);
    if (r.status === 'duplicate') return;
  } catch (e: any) {
    // Disconnected: it stays in `unsent` and is re-sent with the same id (the server dedupes).
    if (e?.disconnected) return;
    unsent.delete(m.id);
    setConv(m.conversation, (s) => failPending(s, m.id, e?.message ?? 'not sent'));
    showToast(e?.message ?? 'Message not sent');
  }
}

export async function abort(conversation: string): Promise<void> {
  const s = convs.value[conversation];
  try { await rpc('abort', { conversation, runId: s?.runId ?? undefined }); } catch (e: any) { showToast(e?.message ?? 'Could not stop'); }
}

export async function createConversation(agentId?: string): Promise<void> {
  try {
    const c = await rpc<Conversation>('conversations.create', agentId ? { agentId } : {});
    upsertConversation(c);
    location.hash = `#/c/${encodeURIComponent(c.id)}`;
    sidebarOpen.value = false;
  } catch (e: any) { showToast(e?.message ?? 'Could not create a conversation'); }
}

/**
 * The landing view's first message: create the conversation (with the agent picked for new
 * chats), open it and send. Returns false, keeping the text in the composer, when the create fails.
 */
export async function startChat(text: string, atts: Attachment[], agentId?: string): Promise<boolean> {
  let c: Conversation;
  try {
    c = await rpc<Conversation>('conversations.create', agentId ? { agentId } : {});
  } catch (e: any) { showToast(e?.message ?? 'Could not create a conversation'); return false; }
  upsertConversation(c);
  setConv(c.id, (s) => ({ ...s, loaded: true }));
  location.hash = `#/c/${encodeURIComponent(c.id)}`;
  current.value = c.id;
  await send(c.id, text, atts);
  return true;
}

export async function renameConversation(id: string, title: string): Promise<void> {
  try { upsertConversation(await rpc<Conversation>('conversations.update', { id, title })); } catch (e: any) { showToast(e?.message ?? 'Rename failed'); }
}

/**
 * Delete with undo: the conversation leaves the list at once and is deleted on the server only
 * when the undo window (6 s) has passed without Undo.
 */
export function deleteWithUndo(id: string): void {
  const list = conversations.value;
  const c = list.find((x) => x.id === id);
  if (!c) return;
  listRev++;
  conversations.value = list.filter((x) => x.id !== id);
  if (current.value === id) location.hash = '#/';
  const timer = setTimeout(() => { pendingDeletes.delete(id); deleteConversation(id); }, 6000);
  pendingDeletes.set(id, timer);
  showToast(`Deleted “${c.title || 'New chat'}”`, {
    label: 'Undo',
    run: () => { clearTimeout(timer); pendingDeletes.delete(id); upsertConversation(c); },
  }, 6000);
}

// Deletes still inside their undo window are sent when the page goes away.
const pendingDeletes = new Map<string, ReturnType<typeof setTimeout>>();
addEventListener('pagehide', () => {
  for (const [id, timer] of pendingDeletes) { clearTimeout(timer); deleteConversation(id); }
  pendingDeletes.clear();
});

export async function deleteConversation(id: string): Promise<void> {
  try {
    await rpc('conversations.delete', { id });
    listRev++;
    conversations.value = conversations.value.filter((c) => c.id !== id);
    if (current.value === id) location.hash = '#/';
  } catch (e: any) { showToast(e?.message ?? 'Delete failed'); }
}

export async function resolveApproval(id: string, decision: 'allow-once' | 'allow-always' | 'deny'): Promise<void> {
  try {
    await rpc('approvals.resolve', { id, decision });
    approvals.value = approvals.value.filter((a) => a.id !== id);
  } catch (e: any) { showToast(e?.message ?? 'Could not resolve'); }
}

export async function toggleReaction(conv: string, messageId: string, emoji: string): Promise<void> {
  try {
    const r = await api.toggleReaction(conv, messageId, emoji);
    reactions.value = { ...reactions.value, [conv]: { ...(reactions.value[conv] ?? {}), [messageId]: r.reactions ?? {} } };
  } catch (e: any) { showToast(e?.message ?? 'Reaction failed'); }
}

export async function signOut(): Promise<void> {
  let redirect: string | undefined;
  try { redirect = (await api.logout()).redirect; } catch { /* already signed out */ }
  signOutLocal();
  if (redirect && /^https?:\/\//i.test(redirect)) location.assign(redirect);
}

/** End every session of this user (all devices), then sign out here. */
export async function signOutEverywhere(): Promise<void> {
  try { await api.logoutAll(); } catch (e: any) {
    if (e?.status !== 401) { showToast(e?.message ?? 'Sign-out failed'); return; }
  }
  signOutLocal();
}

/** The browser's deferred install prompt (beforeinstallprompt), when it offers one. */
export const installPrompt = signal<(Event & { prompt(): Promise<void> }) | null>(null);
addEventListener('beforeinstallprompt', (e) => { e.preventDefault(); installPrompt.value = e as any; });
addEventListener('appinstalled', () => { installPrompt.value = null; });

function signOutLocal(): void {
  stopSocket();
  clearOffline();
  batch(() => {
    authState.value = 'signed-out';
    me.value = null;
    conversations.value = [];
    gatewaySessions.value = [];
    convs.value = {};
    approvals.value = [];
    offline.value = false;
  });
  firstReady = true;
}

export function signedIn(u: User): void {
  cacheUser(u);
  me.value = u;
  authState.value = 'signed-in';
  startSocket();
}

/**
 * Open the app from the offline cache (the server could not be reached, which is not a
 * sign-out): the lists and the cached histories, read-only. The socket keeps retrying; its
 * first ready reloads everything, and a 401 on the way signs out as usual.
 */
export function startOffline(d: OfflineData): void {
  batch(() => {
    me.value = d.user;
    conversations.value = d.conversations;
    gatewaySessions.value = d.gateway;
    const all: Record<string, ConvState> = {};
    for (const [id, messages] of Object.entries(d.histories)) all[id] = { ...emptyConv(), messages, loaded: true };
    convs.value = all;
    offline.value = true;
    authState.value = 'signed-in';
  });
  startSocket();
}

// ---- drafts ----
export const draftKey = (id: string) => 'cc.draft.' + id;
export function loadDraft(id: string): string { return localStorage.getItem(draftKey(id)) ?? ''; }
export function saveDraft(id: string, text: string): void {
  if (text) localStorage.setItem(draftKey(id), text); else localStorage.removeItem(draftKey(id));
}
