import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { signal } from '@preact/signals';
import { memo } from './memo';
import { searchApi, type SearchHit } from '../api';
import { focusMessage } from './Transcript';
import {
  agents, archivedList, cleanTitle, conversations, createConversation, current, defaultAgent, deleteWithUndo, filter,
  gatewaySessions, isOwner, loadArchived, me, offline, newChatAgent, renameConversation, setArchived, setPinned, sidebarOpen,
} from '../store';
import type { Conversation } from '../types';
import { Settings } from './Settings';
import { Icon } from './Icon';
import { longPressHandlers, swallowClick } from './press';
import { loadMembers, shareOpen } from '../share';

export function relTime(iso?: string): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (!t) return '';
  const d = (Date.now() - t) / 1000;
  if (d < 60) return 'now';
  if (d < 3600) return `${Math.floor(d / 60)} min`;
  if (d < 86400) return `${Math.floor(d / 3600)} h`;
  if (d < 7 * 86400) return `${Math.floor(d / 86400)} d`;
  return new Date(t).toLocaleDateString();
}

/** The date group of a conversation's last activity: Today, Yesterday, Previous 7 days, … */
export function dateGroup(iso: string | undefined, now = new Date()): string {
  const t = Date.parse(iso ?? '');
  if (!t) return 'Older';
  const start = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  if (t >= start) return 'Today';
  if (t >= start - 86400000) return 'Yesterday';
  if (t >= start - 7 * 86400000) return 'Previous 7 days';
  if (t >= start - 30 * 86400000) return 'Previous 30 days';
  return 'Older';
}

const byActivity = (a: Conversation, b: Conversation) =>
  (Date.parse(b.lastActivityAt || b.updatedAt || '') || 0) - (Date.parse(a.lastActivityAt || a.updatedAt || '') || 0);

/**
 * The conversation whose row menu is open: at (x, y), the ⋯ button's corner (right-aligned) or
 * the finger of a long press (the menu's first item under it); ret gets the focus back.
 */
const rowMenu = signal<{ c: Conversation; x: number; y: number; atFinger: boolean; ret: HTMLElement | null; rename: () => void } | null>(null);

function closeRowMenu(focus = true): void {
  const m = rowMenu.value;
  rowMenu.value = null;
  if (focus && m?.ret?.isConnected) m.ret.focus({ preventScroll: true });
}

function Item({ c }: { c: Conversation }) {
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(c.title);
  const more = useRef<HTMLButtonElement>(null);
  const touched = useRef(false);
  const active = current.value === c.id;
  const own = c.kind !== 'gateway';
  const name = cleanTitle(c.title) || 'New chat';
  const open = (x: number, y: number, atFinger: boolean) => {
    rowMenu.value = { c, x, y, atFinger, ret: more.current, rename: () => { setTitle(c.title); setEditing(true); } };
  };
  const openRef = useRef(open);
  openRef.current = open;
  // One menu per row: the ⋯ button, a long press on touch, or the context menu.
  const press = useMemo(() => longPressHandlers((x, y) => openRef.current(x, y, true), (t) => !!t.closest('button')), []);
  if (editing) {
    return (
      <li class="conv editing">
        <form onSubmit={(e) => { e.preventDefault(); setEditing(false); if (title.trim() && title !== c.title) renameConversation(c.id, title.trim()); }}>
          <input aria-label="Conversation title" value={title} maxLength={200} ref={(el) => el?.focus()}
            onInput={(e) => setTitle((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => { if (e.key === 'Escape') { setEditing(false); setTitle(c.title); } }}
            onBlur={() => setEditing(false)} />
        </form>
      </li>
    );
  }
  const menuOpen = rowMenu.value?.c.id === c.id;
  return (
    <li class={'conv' + (active ? ' active' : '') + (menuOpen ? ' menu-open' : '')}
      {...(own ? {
        ...press,
        onPointerDown: (e: PointerEvent) => { touched.current = e.pointerType !== 'mouse'; press.onPointerDown(e); },
        // A long press on touch opens our menu, not the browser's link menu; a right click keeps the browser's.
        onContextMenu: (e: MouseEvent) => { if (touched.current) e.preventDefault(); },
      } : {})}>
      <a href={`#/c/${encodeURIComponent(c.id)}`} aria-current={active ? 'page' : undefined} onClick={() => (sidebarOpen.value = false)}>
        <span class="title">{c.running && <span class="dot" aria-label="running" />}{name}</span>
        <span class="when">{relTime(c.lastActivityAt || c.updatedAt)}</span>
      </a>
      {own && (
        <button ref={more} class="icon row-more" aria-label={`More actions for ${name}`} title="More" aria-haspopup="menu" aria-expanded={menuOpen}
          onClick={(e) => { const r = (e.currentTarget as HTMLElement).getBoundingClientRect(); open(r.right, r.bottom, false); }}><Icon name="more" size={22} /></button>
      )}
    </li>
  );
}

/** The row menu: rename, pin or unpin, archive or unarchive, delete (with undo). */
function RowMenu() {
  const m = rowMenu.value;
  const ref = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!m || !el) return;
    const r = el.getBoundingClientRect();
    const left = m.atFinger ? m.x - 24 : m.x - r.width;
    const top = m.atFinger ? m.y - 16 : m.y + 4;
    el.style.left = Math.round(Math.max(8, Math.min(left, innerWidth - r.width - 8))) + 'px';
    el.style.top = Math.round(top + r.height > innerHeight - 8 ? Math.max(8, (m.atFinger ? m.y : m.y - 40) - r.height) : top) + 'px';
    el.querySelector<HTMLElement>('[role=menuitem]')?.focus({ preventScroll: true });
    const k = (e: KeyboardEvent) => {
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); closeRowMenu(); }
    };
    addEventListener('keydown', k, true);
    return () => removeEventListener('keydown', k, true);
  }, [m]);
  if (!m) return null;
  const { c } = m;
  const act = (f: () => void, focus = true) => () => { closeRowMenu(focus); f(); };
  const onKey = (e: KeyboardEvent) => {
    const items = Array.from(ref.current?.querySelectorAll<HTMLElement>('[role=menuitem]') ?? []);
    const i = items.indexOf(document.activeElement as HTMLElement);
    const go = (j: number) => { e.preventDefault(); items[(j + items.length) % items.length]?.focus(); };
    if (e.key === 'ArrowDown') go(i + 1);
    else if (e.key === 'ArrowUp') go(i - 1);
    else if (e.key === 'Home') go(0);
    else if (e.key === 'End') go(items.length - 1);
    else if (e.key === 'Tab') { e.preventDefault(); closeRowMenu(); }
  };
  return (
    <div class="row-scrim" onClickCapture={swallowClick} onClick={(e) => { if (e.target === e.currentTarget) closeRowMenu(); }}
      onContextMenu={(e) => e.preventDefault()}>
      <div class="row-menu" role="menu" aria-label={`Actions for ${cleanTitle(c.title) || 'New chat'}`} ref={ref} onKeyDown={onKey}>
        <button role="menuitem" onClick={act(m.rename, false)}><Icon name="edit" size={18} /> Rename</button>
        {!c.archived && (c.pinned
          ? <button role="menuitem" onClick={act(() => setPinned(c.id, false))}><Icon name="unpin" size={18} /> Unpin</button>
          : <button role="menuitem" onClick={act(() => setPinned(c.id, true))}><Icon name="pin" size={18} /> Pin</button>)}
        {c.archived
          ? <button role="menuitem" onClick={act(() => setArchived(c.id, false), false)}><Icon name="unarchive" size={18} /> Unarchive</button>
          : <button role="menuitem" onClick={act(() => setArchived(c.id, true), false)}><Icon name="archive" size={18} /> Archive</button>}
        {!c.id.startsWith('gw:') && !offline.value && <button role="menuitem" onClick={act(() => { shareOpen.value = c.id; loadMembers(c.id); }, false)}><Icon name="share" size={18} /> Share…</button>}
        <button role="menuitem" class="danger" onClick={act(() => deleteWithUndo(c.id), false)}><Icon name="trash" size={18} /> Delete</button>
      </div>
    </div>
  );
}

/** Message search on the server (the user's own conversations), shown under the title matches. */
function MessageHits({ q }: { q: string }) {
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setHits(null);
    if (q.replace(/[^\p{L}\p{N}]/gu, '').length < 2 || offline.value) return;
    let live = true;
    const t = setTimeout(() => {
      setBusy(true);
      searchApi(q).then((r) => { if (live) setHits(r.results); }, () => { if (live) setHits([]); }).finally(() => live && setBusy(false));
    }, 300);
    return () => { live = false; clearTimeout(t); };
  }, [q]);
  if (!hits && !busy) return null;
  return (<>
    <li class="date-group" aria-busy={busy}>In messages</li>
    {hits?.map((h) => (
      <li key={h.conversation + h.messageId} class="search-hit">
        <a href={`#/c/${encodeURIComponent(h.conversation)}`} onClick={() => { focusMessage.value = { conv: h.conversation, id: h.messageId, role: h.role, snippet: h.snippet }; sidebarOpen.value = false; }}>
          <span class="hit-title">{cleanTitle(h.title) || 'New chat'}{h.at ? ' · ' + relTime(h.at) : ''}</span>
          <span class="hit-snippet">{h.role === 'user' ? 'You: ' : ''}{h.snippet}</span>
        </a>
      </li>
    ))}
    {/* The Gateway's index matches whole words only (sessions.search quotes every word), so say so. */}
    {hits && !hits.length && <li class="empty">No messages with these whole words</li>}
  </>);
}

/** The conversation list; memoised: it re-renders on its own signals, not with the app. */
export const Sidebar = memo(function Sidebar() {
  const agent = newChatAgent.value;
  const setAgent = (a: string) => (newChatAgent.value = a);
  const q = filter.value.trim().toLowerCase();
  const match = (c: Conversation) => !q || (c.title || '').toLowerCase().includes(q) || c.id.includes(q);
  const all = conversations.value.filter((c) => !c.archived && !c.context && match(c)).sort(byActivity);
  // Pinned conversations first, in their own group; then the rest by date.
  const list = [...all.filter((c) => c.pinned), ...all.filter((c) => !c.pinned)];
  const groupOf = (c: Conversation) => (c.pinned ? 'Pinned' : dateGroup(c.lastActivityAt || c.updatedAt));
  // Conversations of host app contexts (embedding) are grouped by context, apart from the others.
  const inContext = new Map<string, Conversation[]>();
  for (const c of conversations.value.filter((c) => !c.archived && c.context && match(c)).sort(byActivity)) {
    const k = `${c.context!.app} · ${c.context!.id}`;
    inContext.set(k, [...(inContext.get(k) ?? []), c]);
  }
  const gw = gatewaySessions.value.filter(match).sort(byActivity);
  const manyAgents = agents.value.length > 1;
  return (
    <nav class={'sidebar' + (sidebarOpen.value ? ' open' : '')} aria-label="Conversations">
      <div class="side-head">
        <button class="primary new" onClick={() => createConversation(manyAgents ? (agent || defaultAgent.value) : undefined)} title="New chat (Ctrl+Shift+O)"><Icon name="plus" size={18} /> New chat</button>
        {manyAgents && (
          <select aria-label="Agent for new chats" value={agent || defaultAgent.value} onChange={(e) => setAgent((e.target as HTMLSelectElement).value)}>
            {agents.value.map((a) => <option value={a.id} key={a.id}>{a.emoji ? a.emoji + ' ' : ''}{a.name || a.id}</option>)}
          </select>
        )}
        <input id="search" type="search" placeholder="Search chats and messages" title="Search chats and messages (Ctrl+K)" aria-label="Search conversations and messages" value={filter.value}
          onInput={(e) => (filter.value = (e.target as HTMLInputElement).value)} />
      </div>
      <ul class="convs">
        {list.map((c, i) => {
          const g = groupOf(c);
          const head = i === 0 || groupOf(list[i - 1]) !== g;
          return head ? [<li key={'g-' + g} class="date-group">{g}</li>, <Item key={c.id} c={c} />] : <Item key={c.id} c={c} />;
        })}
        {!list.length && <li class="empty">{q ? 'No matching chats' : 'No chats yet'}</li>}
        {q && <MessageHits q={filter.value.trim()} />}
      </ul>
      <button class="archived-toggle" aria-expanded={archivedList.value !== null}
        onClick={() => { if (archivedList.value === null) loadArchived(); else archivedList.value = null; }}>
        {archivedList.value === null ? 'Archived chats' : 'Hide archived chats'}
      </button>
      {archivedList.value !== null && (
        <ul class="convs archived" aria-label="Archived chats">
          {archivedList.value.filter(match).map((c) => <Item key={c.id} c={c} />)}
          {!archivedList.value.length && <li class="empty">No archived chats</li>}
        </ul>
      )}
      {[...inContext].map(([k, cs]) => (
        <section key={'ctx-' + k} class="context-group" aria-label={k}>
          <h2 class="group">{k}</h2>
          <ul class="convs">{cs.map((c) => <Item key={c.id} c={c} />)}</ul>
        </section>
      ))}
      {isOwner.value && gw.length > 0 && (<>
        <h2 class="group">Gateway sessions</h2>
        <ul class="convs">{gw.map((c) => <Item key={c.id} c={c} />)}</ul>
      </>)}
      <RowMenu />
      <div class="side-foot">
        <span class="who">{me.value?.name}</span>
        <Settings />
      </div>
    </nav>
  );
});
