import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import { currentConv, current, loadOlder, reactions, toggleReaction } from '../store';
import type { Message, ToolCall } from '../types';
import { Markdown, onMarkdownClick } from './Markdown';

const EMOJI = ['👍', '👎', '❤️', '😂', '🎉'];

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

function UsageLine({ m }: { m: Message }) {
  const u = m.usage;
  if (!u || (!u.input && !u.output && !u.cost)) return null; // none, or all zero (an injected note)
  const parts = [];
  if (u.input !== undefined) parts.push(`${u.input} in`);
  if (u.output !== undefined) parts.push(`${u.output} out`);
  if (u.cost) parts.push(`$${u.cost.toFixed(4)}`);
  return <span class="usage" title="Tokens and cost">{parts.join(' · ')}</span>;
}

function Reactions({ conv, m }: { conv: string; m: Message }) {
  const real = m.id && !m.id.startsWith('run:') && !m.pending && !conv.startsWith('gw:');
  if (!real) return null;
  const r = reactions.value[conv]?.[m.id] ?? {};
  return (
    <div class="reactions">
      {Object.entries(r).filter(([, who]) => who.length).map(([e, who]) => (
        <button key={e} class="reaction on" title={who.join(', ')} aria-label={`${e} ${who.length}, toggle`} onClick={() => toggleReaction(conv, m.id, e)}>{e} {who.length}</button>
      ))}
      <span class="react-add">
        {EMOJI.filter((e) => !r[e]?.length).map((e) => (
          <button key={e} class="reaction" aria-label={`React ${e}`} onClick={() => toggleReaction(conv, m.id, e)}>{e}</button>
        ))}
      </span>
    </div>
  );
}

function MessageView({ conv, m }: { conv: string; m: Message }) {
  if (m.kind === 'compaction') return <div class="divider" role="separator">Earlier messages were compacted</div>;
  if (m.role === 'tool') return <div class="msg tool-msg">{(m.tools ?? []).map((t) => <Tool key={t.id} t={t} />)}{m.text && <pre class="tool-result">{m.text}</pre>}</div>;
  const user = m.role === 'user';
  return (
    <article class={'msg ' + (user ? 'user' : 'assistant') + (m.pending ? ' pending' : '') + (m.error ? ' failed' : '')} aria-label={user ? 'You' : 'Assistant'}>
      {m.reasoning && (
        <details class="reasoning"><summary>Reasoning</summary><div class="reasoning-text">{m.reasoning}</div></details>
      )}
      {m.tools && m.tools.length > 0 && <div class="tools">{m.tools.map((t) => <Tool key={t.id} t={t} />)}</div>}
      {user ? <div class="bubble plain">{m.text}</div> : (m.text || !m.streaming ? <Markdown text={m.text} class="bubble" /> : null)}
      {m.attachments && m.attachments.length > 0 && (
        <div class="atts">{m.attachments.map((a, i) => <span key={i} class="att-chip">📎 {a.name}</span>)}</div>
      )}
      {m.streaming && <div class="typing" aria-hidden="true"><span /><span /><span />{m.phase && <em>{m.phase}</em>}</div>}
      <footer class="meta">
        {m.pending && <span>sending…</span>}
        {m.queuedPosition !== undefined && <span>queued #{m.queuedPosition}</span>}
        {m.aborted && <span class="badge">stopped</span>}
        {m.error && <span class="badge err" role="status">⚠ {m.error}</span>}
        {m.approval && <span class={m.approval === 'deny' || m.approval === 'expired' ? 'badge err' : 'badge'} role="status">{approvalText(m.approval)}</span>}
        {m.at && <time dateTime={m.at}>{new Date(m.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</time>}
        <UsageLine m={m} />
      </footer>
      <Reactions conv={conv} m={m} />
    </article>
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

export function Transcript() {
  const conv = current.value!;
  const s = currentConv.value;
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const onScroll = () => {
    const el = box.current!;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (el.scrollTop < 40 && s.hasMore) loadOlder(conv);
  };
  useLayoutEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });
  useEffect(() => { stick.current = true; }, [conv]);
  return (
    <div class="transcript" ref={box} onScroll={onScroll} onClick={onMarkdownClick as any}>
      {s.hasMore && <button class="older" onClick={() => loadOlder(conv)}>Load older messages</button>}
      {!s.loaded && <p class="hint">Loading…</p>}
      {s.loaded && s.messages.length === 0 && <p class="hint">Start the conversation below.</p>}
      {s.messages.map((m) => <MessageView key={m.id} conv={conv} m={m} />)}
    </div>
  );
}
