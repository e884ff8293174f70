// The embedded chat (/embed?app=<id>), framed by a host app's page through clawchat-embed.js.
// It talks to the host only with postMessage, to and from the parent window, and only when the
// parent's origin is one the host app configured (the same list as the frame's CSP
// frame-ancestors). The host's token arrives by postMessage (never in a URL) and is exchanged for
// a session kept in memory only: no cookies, so third-party-cookie blocking does not matter.
import { render } from 'preact';
import './embed.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { renderMarkdown } from '../markdown';
import { Client, exchange, HttpError, Unauthorized, type ConversationView, type Grant, type PageContext, type SessionInfo } from './api';
import { parseSuggestions, type Suggestion } from './suggestions';

type Msg = { key: string; role: 'user' | 'assistant'; text: string; runId?: string; pending?: boolean; error?: string; sender?: string };

const app = new URLSearchParams(location.search).get('app') ?? '';
let hostOrigin = '';
let allowed: string[] = [];

// Host messages can arrive before the frame has rendered (the loader posts the token on the
// frame's load event); they wait here until the frame handles them.
type Handler = (e: MessageEvent) => void;
const inbox: MessageEvent[] = [];
let handler: Handler | null = null;
window.addEventListener('message', (e) => (handler ? handler(e) : inbox.push(e)));

function post(msg: Record<string, unknown>) {
  if (hostOrigin) window.parent.postMessage({ ...msg, type: `clawchat:${msg.type}` }, hostOrigin);
}

function Markdown({ text }: { text: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    ref.current.replaceChildren(renderMarkdown(text));
  }, [text]);
  return <div class="md" ref={ref} />;
}

function SuggestionCard({ s, canApply, onApply }: { s: Suggestion; canApply: boolean; onApply: () => void }) {
  const [state, setState] = useState<'open' | 'applied' | 'dismissed'>('open');
  if (state === 'dismissed') return null;
  return (
    <div class="suggestion" data-state={state}>
      <div class="suggestion-title">Suggested edit</div>
      {s.anchor ? <div class="suggestion-anchor"><span>Replace</span><pre>{s.anchor}</pre></div> : <div class="suggestion-anchor"><span>Insert at the cursor</span></div>}
      <div class="suggestion-text"><span>With</span><pre>{s.text}</pre></div>
      {state === 'applied' ? <div class="suggestion-done">Applied</div> : (
        <div class="suggestion-actions">
          <button type="button" class="apply" disabled={!canApply} onClick={() => { onApply(); setState('applied'); }}>Apply</button>
          <button type="button" class="dismiss" onClick={() => setState('dismissed')}>Dismiss</button>
        </div>
      )}
    </div>
  );
}

function Frame() {
  const [info, setInfo] = useState<SessionInfo | null>(null);
  const [problem, setProblem] = useState('');
  const [contextId, setContextId] = useState('');
  const [conv, setConv] = useState<ConversationView | null>(null);
  const [msgs, setMsgs] = useState<Msg[]>([]);
  const [draft, setDraft] = useState('');
  const [busy, setBusy] = useState<string>(''); // run phase while the agent works
  const [gateway, setGateway] = useState('connected');
  const [contexts, setContexts] = useState<{ messageId: string; context: string }[] | null>(null);
  const client = useRef<Client | null>(null);
  const page = useRef<PageContext | null>(null);
  const convRef = useRef<ConversationView | null>(null);
  convRef.current = conv;
  const infoRef = useRef<SessionInfo | null>(null);
  infoRef.current = info;
  const ctxRef = useRef('');
  ctxRef.current = contextId;

  const grant: Grant | undefined = info?.contexts.find((g) => g.id === contextId);
  // A viewer in a shared context's conversation reads along (a read-only participant).
  const gatewayDown = gateway !== 'connected';
  const readOnly = gatewayDown || conv?.role === 'read-only';

  // Host messages.
  useEffect(() => {
    const onMessage = (e: MessageEvent) => {
      if (e.source !== window.parent || !allowed.includes(e.origin)) return;
      const d = e.data as { type?: string; token?: string; context?: PageContext & { id?: string }; conversation?: string } | null;
      if (!d || typeof d.type !== 'string' || !d.type.startsWith('clawchat:')) return;
      hostOrigin = e.origin;
      switch (d.type) {
        case 'clawchat:token':
          if (typeof d.token === 'string') void signIn(d.token);
          break;
        case 'clawchat:setContext': {
          const { id, ...rest } = d.context ?? {};
          page.current = rest;
          if (typeof id === 'string' && id) setContextId(id);
          break;
        }
        case 'clawchat:open':
          if (typeof d.conversation === 'string') void openConversation(d.conversation);
          break;
      }
    };
    handler = onMessage;
    for (const e of inbox.splice(0)) onMessage(e);
    return () => { handler = null; };
  }, []);

  async function signIn(token: string) {
    try {
      const s = await exchange(token);
      client.current = new Client(s.session);
      setProblem('');
      setInfo(s);
      setContextId((c) => c || s.contexts[0]?.id || '');
      post({ type: 'ready', user: s.user, app: s.app, contexts: s.contexts });
    } catch (err) {
      unauthorized(err);
    }
  }

  function unauthorized(err: unknown) {
    if (err instanceof Unauthorized) {
      client.current = null;
      setInfo(null);
      setProblem(err.message);
      post({ type: 'unauthorized', code: err.code, message: err.message });
      return true;
    }
    setProblem(err instanceof Error ? err.message : String(err));
    return false;
  }

  async function loadHistory(c: ConversationView) {
    const h = await client.current!.history(c.id);
    if (convRef.current && convRef.current.id !== c.id) return; // another conversation meanwhile
    const me = infoRef.current?.user.id;
    const hist: Msg[] = h.messages.filter((m) => m.role === 'user' || m.role === 'assistant').map((m) => ({
      key: m.id, role: m.role as 'user' | 'assistant', text: m.text, runId: m.runId,
      sender: m.role === 'user' && m.sender && m.sender.userId !== me ? m.sender.name : undefined,
    }));
    // The history may be older than what arrived live while it loaded (a run that started
    // meanwhile, a message being sent): those stay after it.
    setMsgs((prev) => [...hist, ...prev.filter((m) =>
      (m.runId ? h.running && m.runId === h.runId : m.key.startsWith('u-'))
      && !hist.some((x) => x.role === m.role && (m.role === 'assistant' ? x.runId === m.runId : x.text === m.text)))]);
    setBusy(h.running ? 'thinking' : '');
  }

  async function openConversation(id: string) {
    const ctxId = ctxRef.current;
    if (!client.current || !ctxId) return;
    try {
      const list = await client.current.conversations(ctxId);
      const c = list.conversations.find((x) => x.id === id);
      if (!c) throw new HttpError(404, 'not_found', 'conversation not found');
      setConv(c);
      await loadHistory(c);
    } catch (err) { unauthorized(err); }
  }

  // The context's latest conversation, when the context or session changes.
  useEffect(() => {
    if (!info || !contextId || !client.current) return;
    let live = true;
    setConv(null); setMsgs([]); setContexts(null);
    client.current.conversations(contextId).then(async (r) => {
      if (!live) return;
      const c = r.conversations[0] ?? null;
      setConv(c);
      if (c) await loadHistory(c);
    }).catch((err) => { if (live) unauthorized(err); });
    return () => { live = false; };
  }, [info, contextId]);

  // Events.
  useEffect(() => {
    if (!info || !client.current) return;
    const ctl = new AbortController();
    const lastId = { v: '' };
    const c = client.current;
    const onEvent = (name: string, data: unknown) => {
      const d = data as Record<string, unknown>;
      if (name === 'gateway.status') { setGateway(String(d.state)); return; }
      const cur = convRef.current;
      if (name === 'resync') { if (cur) void loadHistory(cur).catch(() => {}); return; }
      if (!cur || d.conversation !== cur.id) return;
      const runId = String(d.runId ?? '');
      switch (name) {
        case 'run.started': {
          setBusy('thinking');
          // In a shared context's conversation, another participant's message (this frame
          // shows its own as it sends it).
          const sender = d.sender as { userId?: string; name?: string } | undefined;
          if (typeof d.text === 'string' && sender?.userId && sender.userId !== infoRef.current?.user.id) {
            const text = d.text;
            setMsgs((ms) => ms.some((m) => m.role === 'user' && m.runId === runId) ? ms
              : [...ms, { key: 'u-' + runId, role: 'user', text, runId, sender: sender.name }]);
          }
          break;
        }
        case 'run.status':
          setBusy(String(d.phase || 'working'));
          break;
        case 'run.snapshot':
          if (d.state !== 'running') { void loadHistory(cur).catch(() => {}); break; }
          setBusy('typing');
          setMsgs((ms) => {
            const m: Msg = { key: 'a-' + runId, role: 'assistant', text: String(d.text ?? ''), runId, pending: true };
            const i = ms.findIndex((x) => x.role === 'assistant' && x.runId === runId);
            if (i < 0) return [...ms, m];
            const next = [...ms];
            next[i] = m;
            return next;
          });
          break;
        case 'run.delta':
          setBusy('typing');
          setMsgs((ms) => {
            const i = ms.findIndex((m) => m.role === 'assistant' && m.runId === runId);
            const inc = String(d.text ?? '');
            if (i < 0) return [...ms, { key: 'a-' + runId, role: 'assistant', text: inc, runId, pending: true }];
            const m = ms[i];
            const next = [...ms];
            next[i] = { ...m, text: d.replace ? inc : m.text + inc };
            return next;
          });
          break;
        case 'run.final':
        case 'run.aborted':
        case 'run.error':
          setBusy('');
          setMsgs((ms) => {
            const text = String(d.text ?? '');
            const error = name === 'run.error' ? String(d.message ?? 'the reply failed') : undefined;
            const i = ms.findIndex((m) => m.role === 'assistant' && m.runId === runId);
            const m: Msg = { key: 'a-' + runId, role: 'assistant', text, runId, error };
            if (i < 0) return [...ms, m];
            const next = [...ms];
            next[i] = m;
            return next;
          });
          break;
      }
    };
    (async () => {
      while (!ctl.signal.aborted) {
        try {
          await c.events(onEvent, ctl.signal, lastId);
        } catch (err) {
          if (ctl.signal.aborted) return;
          if (err instanceof Unauthorized) { unauthorized(err); return; }
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    })();
    c.health().then((h) => setGateway(h.gateway)).catch(() => setGateway('down'));
    return () => ctl.abort();
  }, [info]);

  async function send(e: Event) {
    e.preventDefault();
    const text = draft.trim();
    if (!text || !client.current || !contextId || readOnly) return;
    const clientId = 'e' + Math.random().toString(36).slice(2) + Date.now().toString(36);
    try {
      let c = conv;
      if (!c) {
        c = (await client.current.create(contextId)).conversation;
        setConv(c);
      }
      setDraft('');
      setMsgs((ms) => [...ms, { key: 'u-' + clientId, role: 'user', text }]);
      setBusy('thinking');
      const r = await client.current.send(c.id, text, clientId, page.current);
      setMsgs((ms) => ms.map((m) => (m.key === 'u-' + clientId ? { ...m, runId: r.runId } : m)));
    } catch (err) {
      setBusy('');
      if (!unauthorized(err) && err instanceof HttpError && err.status === 503) setGateway('down');
    }
  }

  async function showContexts() {
    if (!client.current || !conv) return;
    if (contexts) { setContexts(null); return; }
    try { setContexts((await client.current.contexts(conv.id)).contexts); } catch (err) { unauthorized(err); }
  }

  if (!info) {
    return <div class="embed-empty" data-state="signed-out">{problem ? <p class="problem" role="alert">{problem}</p> : <p>Connecting…</p>}</div>;
  }
  const canApply = grant?.role === 'editor';
  return (
    <div class="embed" data-state={readOnly ? 'read-only' : 'ready'}>
      <header>
        <span class="who">{info.user.name}</span>
        <span class="ctx" title={contextId}>{grant?.title || contextId}</span>
        {conv && <button type="button" class="show-contexts" onClick={showContexts}>Context sent</button>}
      </header>
      {gatewayDown && <div class="banner" role="status">The assistant is not reachable right now. Read-only until it is back.</div>}
      {problem && <div class="problem" role="alert">{problem}</div>}
      {contexts && (
        <div class="contexts">
          {contexts.length === 0 ? <p>No page context was sent yet.</p> : contexts.map((c) => <pre key={c.messageId} data-message={c.messageId}>{c.context}</pre>)}
        </div>
      )}
      <div class="transcript" aria-live="polite">
        {msgs.length === 0 && !busy && grant && !problem && (
          <div class="transcript-empty">
            <p class="title">{readOnly ? 'Nothing here yet' : `Ask about ${grant?.title || 'this document'}`}</p>
            <p>With each message the assistant also gets what this page shares about the document, such as its title, outline, the section you are in and your selection.</p>
            {grant?.shared && <p>Everyone this document is shared with sees this conversation.</p>}
            {!readOnly && (canApply ? <p>It can propose edits; nothing changes until you press Apply.</p> : <p>You can view this document, so it proposes no edits.</p>)}
          </div>
        )}
        {msgs.map((m) => {
          if (m.role === 'user') return <div key={m.key} class={m.sender ? 'msg user other' : 'msg user'} data-run={m.runId}>{m.sender && <div class="sender">{m.sender}</div>}<div class="text">{m.text}</div></div>;
          const p = parseSuggestions(m.text);
          return (
            <div key={m.key} class="msg assistant" data-run={m.runId}>
              <Markdown text={p.markdown} />
              {!m.pending && p.suggestions.map((s, i) => (
                <SuggestionCard key={i} s={s} canApply={canApply && !readOnly} onApply={() => post({ type: 'suggestion', anchor: s.anchor, text: s.text, conversation: conv?.id, runId: m.runId, context: contextId })} />
              ))}
              {m.error && <div class="msg-error">{m.error}</div>}
            </div>
          );
        })}
        {busy && <div class="typing" role="status">Assistant is {busy === 'typing' ? 'typing' : busy}…</div>}
      </div>
      <form class="composer" onSubmit={send}>
        <textarea aria-label="Message" value={draft} disabled={readOnly} placeholder={readOnly ? 'Read-only' : 'Ask about this document'}
          onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); void send(e); } }} />
        <button type="submit" disabled={readOnly || !draft.trim()}>Send</button>
      </form>
    </div>
  );
}

async function start() {
  try {
    const r = await fetch(`/embed/config?app=${encodeURIComponent(app)}`, { credentials: 'omit' });
    if (r.ok) allowed = ((await r.json()) as { origins: string[] }).origins;
  } catch { /* no origins: nothing is accepted */ }
  render(<Frame />, document.getElementById('app')!);
}
void start();
