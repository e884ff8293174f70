import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { memo } from './memo';
import { signal } from '@preact/signals';
import { composerFill, currentConv, current, loadOlder, me, offline, reactions, send, showToast, toggleReaction } from '../store';
import { SenderLine } from './Share';
import type { Message, MessageAttachment, ToolCall } from '../types';
import { fmtBytes } from '../attachments';
import { Markdown, onMarkdownClick, TableView } from './Markdown';
import { Icon } from './Icon';
import { swallowClick, swallowRelease } from './press';

const EMOJI = ['👍', '👎', '❤️', '😂', '🎉'];

/** A message to scroll to once its conversation shows it (a search result). */
export const focusMessage = signal<{ conv: string; id: string; role?: string; snippet?: string } | null>(null);

/**
 * The message a search result points at: by its transcript id, else (a message sent in this
 * session still has its client id) the last one of the same role whose text holds the snippet.
 */
function findFocus(box: HTMLElement, messages: Message[], f: { id: string; role?: string; snippet?: string }): HTMLElement | null {
  const byId = box.querySelector<HTMLElement>(`[data-mid="${CSS.escape(f.id)}"]`);
  if (byId || !f.snippet) return byId;
  const part = f.snippet.split(/…|\.\.\./).map((x) => x.trim()).sort((a, b) => b.length - a.length)[0];
  if (!part) return null;
  const m = [...messages].reverse().find((x) => x.role === f.role && x.text.includes(part));
  return m ? box.querySelector<HTMLElement>(`[data-mid="${CSS.escape(m.id)}"]`) : null;
}

/** The message whose action menu is open (null: closed). */
const menu = signal<{ m: Message; at: number } | null>(null);

function openMenu(m: Message): void {
  if (m.streaming || m.pending) return;
  menu.value = { m, at: Date.now() };
}

/** What a run is doing, in words; internal phase names never reach the screen. */
const PHASES: Record<string, string> = {
  queued: 'Waiting for the assistant…',
  provisioning_environment: 'Getting ready…',
  preparing_context: 'Getting ready…',
  memory_flushing: 'Tidying up its memory…',
  starting_model: 'Thinking…',
  retrying: 'Retrying…',
  compacting: 'Summarising earlier messages…',
  recovering: 'Resuming after a restart…',
};
export function phaseText(phase?: string): string {
  return (phase && PHASES[phase]) || 'Thinking…';
}

/** "Today", "Yesterday", a weekday within the week, else the date. */
export function dayLabel(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const day = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = Math.round((day(now) - day(d)) / 86400000);
  if (diff === 0) return 'Today';
  if (diff === 1) return 'Yesterday';
  if (diff > 1 && diff < 7) return d.toLocaleDateString([], { weekday: 'long' });
  return d.toLocaleDateString([], { day: 'numeric', month: 'long', year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' });
}

function Tool({ t }: { t: ToolCall }) {
  const st = t.status ?? (t.error ? 'error' : 'done');
  return (
    <details class={'tool ' + st}>
      <summary>
        <span class="tool-name">Tool: <code>{t.name}</code></span>
        <span class="tool-status">{st === 'running' ? 'running…' : st === 'error' ? 'failed' : 'done'}{t.durationMs !== undefined ? ` · ${fmtMs(t.durationMs)}` : ''}</span>
      </summary>
      {t.args && <pre class="tool-args">{t.args}</pre>}
      {t.result && <pre class="tool-result">{t.result}</pre>}
    </details>
  );
}

const fmtMs = (ms: number) => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

export function usageText(m: Message): string {
  const u = m.usage;
  if (!u || (!u.input && !u.output && !u.cost)) return ''; // none, or all zero (an injected note)
  const parts = [];
  if (u.input !== undefined) parts.push(`${u.input} tokens in`);
  if (u.output !== undefined) parts.push(`${u.output} out`);
  if (u.cost) parts.push(`$${u.cost.toFixed(4)}`);
  return parts.join(' · ');
}

const realMessage = (conv: string, m: Message) => !!m.id && !m.id.startsWith('run:') && !m.pending && !conv.startsWith('gw:');

/** Reactions someone gave, as small chips; adding one is in the action menu. */
function Reactions({ conv, m }: { conv: string; m: Message }) {
  if (!realMessage(conv, m)) return null;
  const given = Object.entries(reactions.value[conv]?.[m.id] ?? {}).filter(([, who]) => who.length);
  if (!given.length) return null;
  return (
    <div class="reactions">
      {given.map(([e, who]) => (
        <button key={e} class="reaction on" title={who.join(', ')} aria-label={`${e} ${who.length}, toggle`} onClick={() => toggleReaction(conv, m.id, e)}>{e} {who.length}</button>
      ))}
    </div>
  );
}

/** One message; memoised, so that a change to another message (or above) does not re-render it. */
const MessageView = memo(function MessageView({ conv, m }: { conv: string; m: Message }) {
  const press = useRef<{ t: ReturnType<typeof setTimeout>; x: number; y: number } | null>(null);
  if (m.kind === 'compaction') return <div class="divider" role="separator">Earlier messages were compacted</div>;
  if (m.role === 'tool') return <div class="msg tool-msg">{(m.tools ?? []).map((t) => <Tool key={t.id} t={t} />)}{m.text && <pre class="tool-result">{m.text}</pre>}</div>;
  const user = m.role === 'user';
  const cancel = () => { if (press.current) { clearTimeout(press.current.t); press.current = null; } };
  // Long-press on touch opens the action menu; so does the context menu (right click).
  const onDown = (e: PointerEvent) => {
    if (e.pointerType === 'mouse' || (e.target as HTMLElement).closest('button, a, summary, .tablescroll')) return;
    cancel();
    press.current = { t: setTimeout(() => { press.current = null; openMenu(m); swallowRelease(); }, 450), x: e.clientX, y: e.clientY };
  };
  const onMove = (e: PointerEvent) => {
    if (press.current && Math.hypot(e.clientX - press.current.x, e.clientY - press.current.y) > 10) cancel();
  };
  const streamingText = m.streaming && !!m.text;
  return (
    <article data-mid={m.id} class={'msg ' + (user ? 'user' : 'assistant') + (user && m.sender && m.sender.userId !== me.value?.id ? ' other' : '') + (m.pending ? ' pending' : '') + (m.error ? ' failed' : '') + (m.streaming ? ' streaming' : '')}
      aria-label={user ? (m.sender && m.sender.userId !== me.value?.id ? m.sender.name : 'You') : 'Assistant'} aria-busy={m.streaming ? 'true' : undefined}
      onPointerDown={onDown} onPointerMove={onMove} onPointerUp={cancel} onPointerCancel={cancel}
      onContextMenu={(e) => { if (m.streaming || m.pending || (e.target as HTMLElement).closest('a')) return; e.preventDefault(); cancel(); openMenu(m); }}>
      {m.reasoning && (
        <details class="reasoning"><summary>Reasoning</summary><div class="reasoning-text">{m.reasoning}</div></details>
      )}
      {m.tools && m.tools.length > 0 && <div class="tools">{m.tools.map((t) => <Tool key={t.id} t={t} />)}</div>}
      {user && <SenderLine sender={m.sender} />}
      {user ? <div class="bubble plain">{m.text}</div> : (m.text || !m.streaming ? <Markdown text={m.text} class="bubble" streaming={m.streaming} /> : null)}
      {m.attachments && m.attachments.length > 0 && (
        <div class="atts">{m.attachments.map((a, i) => <AttachmentView key={i} conv={conv} a={a} />)}</div>
      )}
      {m.streaming && !streamingText && <div class="typing" role="status"><span /><span /><span /><em>{phaseText(m.phase)}</em></div>}
      <Reactions conv={conv} m={m} />
      <footer class="meta">
        {m.pending && <span>sending…</span>}
        {m.queuedPosition !== undefined && <span>queued #{m.queuedPosition}</span>}
        {m.aborted && <span class="badge">stopped</span>}
        {m.error && <span class="badge err" role="status">⚠ {m.error}</span>}
        {m.approval && <span class={m.approval === 'deny' || m.approval === 'expired' ? 'badge err' : 'badge'} role="status">{approvalText(m.approval)}</span>}
        {m.at && <time dateTime={m.at}>{new Date(m.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</time>}
        {!m.streaming && !m.pending && (
          <button class="icon msg-more" aria-label={user ? 'Actions for your message' : 'Actions for this reply'} title="More" onClick={() => openMenu(m)}><Icon name="more" size={18} /></button>
        )}
      </footer>
    </article>
  );
});

/** Where a message's file is: its local preview while sending, else the server's media route. */
function attachmentURL(conv: string, a: MessageAttachment): string | undefined {
  if (a.url) return a.url;
  if (a.source) return `/api/sessions/${encodeURIComponent(conv)}/media?source=${encodeURIComponent(a.source)}`;
  return undefined;
}

/** The image shown full-size over everything (null: none). */
const fullImage = signal<{ src: string; name: string } | null>(null);

const INLINE_IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif']);

/**
 * An image as a thumbnail that opens full-size; audio (a voice memo) as a player; any other file,
 * or one the browser cannot show or play, as a card that downloads it.
 */
function AttachmentView({ conv, a }: { conv: string; a: MessageAttachment }) {
  const src = attachmentURL(conv, a);
  const [broken, setBroken] = useState(false);
  if (src && !broken && INLINE_IMAGES.has(a.mimeType)) {
    return (
      <button type="button" class="att-thumb" aria-label={`Open image ${a.name}`} title={a.name}
        onClick={() => { fullImage.value = { src, name: a.name }; }}>
        <img src={src} alt={a.name} loading="lazy" decoding="async" onError={() => setBroken(true)} />
      </button>
    );
  }
  if (src && !broken && (a.mimeType.startsWith('audio/') || a.kind === 'audio')) {
    return (
      <div class="att-audio" title={a.name}>
        <audio controls preload="metadata" src={src} aria-label={`Voice memo ${a.name}`} onError={() => setBroken(true)} />
      </div>
    );
  }
  const body = (
    <>
      <Icon name="file" size={20} />
      <span class="att-name">{a.name}</span>
      <span class="att-info">{[fileKind(a), a.size ? fmtBytes(a.size) : ''].filter(Boolean).join(' · ')}</span>
    </>
  );
  return src ? <a class="att-card" href={src} download={a.name}>{body}</a> : <span class="att-card">{body}</span>;
}

/** A short type for a file card: the name's extension (TXT, PDF), else the MIME subtype. */
function fileKind(a: MessageAttachment): string {
  const ext = /\.([A-Za-z0-9]{1,8})$/.exec(a.name)?.[1];
  return (ext ?? a.mimeType.split('/')[1]?.replace(/^x-/, '').split(/[+;.]/)[0] ?? '').toUpperCase();
}

/** The full-size image view: closes on Esc, on the close button and on a tap outside the image. */
export function ImageViewer() {
  const v = fullImage.value;
  useEffect(() => {
    if (!v) return;
    const onKey = (e: KeyboardEvent) => { if (e.key === 'Escape') fullImage.value = null; };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [v]);
  if (!v) return null;
  return (
    <div class="lightbox" role="dialog" aria-modal="true" aria-label={v.name} onClick={(e) => { if (e.target === e.currentTarget) fullImage.value = null; }}>
      <img src={v.src} alt={v.name} />
      <button type="button" class="icon lightbox-close" aria-label="Close image" onClick={() => { fullImage.value = null; }}><Icon name="close" /></button>
    </div>
  );
}

function approvalText(state: string): string {
  switch (state) {
    case 'waiting': return "⏳ Waiting for an owner's approval to run a command";
    case 'allow-once': case 'allow-always': return 'An owner approved the command';
    case 'deny': return 'An owner denied the command';
    default: return 'No owner answered in time; the command did not run';
  }
}

/** The one action menu: a bottom sheet on phones, a small dialog on wide screens. */
function ActionMenu({ conv, messages, running }: { conv: string; messages: Message[]; running: boolean }) {
  const open = menu.value;
  const ref = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    if (!open) return;
    ref.current?.querySelector<HTMLElement>('button')?.focus({ preventScroll: true });
    const k = (e: KeyboardEvent) => { if (e.key === 'Escape') { e.preventDefault(); menu.value = null; } };
    addEventListener('keydown', k, true);
    return () => removeEventListener('keydown', k, true);
  }, [open]);
  if (!open) return null;
  const m = messages.find((x) => x.id === open.m.id) ??
    messages.find((x) => !!open.m.runId && x.runId === open.m.runId && x.role === open.m.role) ?? open.m;
  const close = () => (menu.value = null);
  const lastUser = [...messages].reverse().find((x) => x.role === 'user');
  const last = messages[messages.length - 1];
  const isLastReply = m.role === 'assistant' && last?.id === m.id && !running;
  const prevUser = isLastReply ? [...messages.slice(0, -1)].reverse().find((x) => x.role === 'user') : undefined;
  const canWrite = !offline.value;
  const r = reactions.value[conv]?.[m.id] ?? {};
  const usage = usageText(m);
  const act = (f: () => void) => () => { close(); f(); };
  return (
    <div class="sheet-scrim" onClickCapture={swallowClick} onClick={(e) => { if (e.target === e.currentTarget && Date.now() - open.at > 500) close(); }}>
      <div class="sheet" role="dialog" aria-label="Message actions" ref={ref}>
        {realMessage(conv, m) && !offline.value && (
          <div class="sheet-reactions" role="group" aria-label="React">
            {EMOJI.map((e) => (
              <button key={e} class={'reaction' + (r[e]?.length ? ' on' : '')} aria-pressed={!!r[e]?.length} aria-label={`React ${e}`} onClick={act(() => toggleReaction(conv, m.id, e))}>{e}</button>
            ))}
          </div>
        )}
        <button class="sheet-item" onClick={act(() => {
          navigator.clipboard?.writeText(m.text).then(() => showToast('Copied'), () => showToast('Copy failed'));
        })}><Icon name="copy" size={18} /> Copy</button>
        {canWrite && m.role === 'user' && lastUser?.id === m.id && !running && (
          <button class="sheet-item" onClick={act(() => { composerFill.value = { conv, text: m.text }; })}><Icon name="edit" size={18} /> Edit and resend</button>
        )}
        {canWrite && isLastReply && prevUser && (
          <button class="sheet-item" onClick={act(() => send(conv, prevUser.text, []))}><Icon name="redo" size={18} /> Regenerate</button>
        )}
        {canWrite && isLastReply && m.aborted && (
          <button class="sheet-item" onClick={act(() => send(conv, 'Continue', []))}><Icon name="play" size={18} /> Continue</button>
        )}
        {(usage || m.at) && (
          <p class="sheet-info">{m.at && new Date(m.at).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}{usage && m.at ? ' · ' : ''}{usage}</p>
        )}
        <button class="sheet-item sheet-cancel" onClick={close}>Cancel</button>
      </div>
    </div>
  );
}

/** The open conversation's messages; memoised: it re-renders on its own signals, not with the app. */
export const Transcript = memo(function Transcript() {
  const conv = current.value!;
  const s = currentConv.value;
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const [atBottom, setAtBottom] = useState(true);
  const [unseen, setUnseen] = useState(false);
  const seen = useRef('');
  const focused = useRef(false);
  const focus = focusMessage.value; // read while rendering: a new search result re-renders
  const onScroll = () => {
    const el = box.current!;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (stick.current !== atBottom) setAtBottom(stick.current);
    if (stick.current && unseen) setUnseen(false);
    if (el.scrollTop < 40 && s.hasMore) loadOlder(conv);
  };
  const last = s.messages[s.messages.length - 1];
  // What counts as new content: not a message getting its stored id after the run (adoptIds),
  // which showed "New messages" under a reader who had scrolled up in a finished reply.
  const sig = `${s.messages.length}:${last?.runId ?? last?.id}:${last?.text.length}:${last?.tools?.length ?? 0}`;
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const f = focus;
    const target = f && f.conv === conv ? findFocus(el, s.messages, f) : null;
    if (target) {
      focusMessage.value = null;
      focused.current = true;
      stick.current = false;
      target.scrollIntoView({ block: 'center' });
      target.classList.add('found');
      setTimeout(() => target.classList.remove('found'), 4000);
      seen.current = sig;
      return;
    }
    if (stick.current) el.scrollTop = el.scrollHeight;
    else if (seen.current && sig !== seen.current) setUnseen(true);
    seen.current = sig;
  });
  useEffect(() => {
    menu.value = null;
    if (focused.current) { focused.current = false; setAtBottom(false); return; } // a search result is in view
    stick.current = true; setAtBottom(true); setUnseen(false); seen.current = '';
  }, [conv]);
  const toLatest = () => {
    const el = box.current!;
    stick.current = true;
    el.scrollTo({ top: el.scrollHeight, behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
    setAtBottom(true); setUnseen(false);
  };
  let day = '';
  // A reply keeps its key when it gets its stored id after the run (adoptIds): no re-mount, so
  // its Markdown is not rendered again from scratch.
  const keys = new Set<string>();
  const keyOf = (m: Message) => {
    const k = m.role === 'assistant' && m.runId ? 'run:' + m.runId : m.id;
    if (keys.has(k)) return m.id;
    keys.add(k);
    return k;
  };
  return (
    <div class="tx-wrap">
      <div class="transcript" ref={box} onScroll={onScroll} onClick={onMarkdownClick as any}>
        {s.hasMore && <button class="older" onClick={() => loadOlder(conv)}>Load older messages</button>}
        {!s.loaded && <p class="hint">Loading…</p>}
        {s.loaded && s.messages.length === 0 && <p class="hint">Start the conversation below.</p>}
        {s.messages.map((m) => {
          const d = m.at ? new Date(m.at).toDateString() : day;
          const divider = d && d !== day ? <div class="day" role="separator" key={'day-' + d}><span>{dayLabel(m.at!)}</span></div> : null;
          day = d;
          const view = <MessageView key={keyOf(m)} conv={conv} m={m} />;
          return divider ? [divider, view] : view;
        })}
      </div>
      {!atBottom && (
        <button class={'to-latest' + (unseen ? ' unseen' : '')} onClick={toLatest} aria-label={unseen ? 'New messages below, scroll to latest' : 'Scroll to latest'}>
          <Icon name="down" size={18} />{unseen && <span>New messages</span>}
        </button>
      )}
      <ActionMenu conv={conv} messages={s.messages} running={s.running} />
      <TableView />
    </div>
  );
});
