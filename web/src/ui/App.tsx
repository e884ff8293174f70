import { warmMarkdown } from '../markdown';
import { useEffect, useState } from 'preact/hooks';
import {
  abort, announce, approvals, authState, cleanTitle, conn, conversations, current, currentConv, gateway,
  gatewaySessions, isOwner, loadConversation, newChatAgent, offline, resolveApproval, sidebarOpen, toast, toastAction,
  updateAvailable,
} from '../store';
import { Login } from './Login';
import { Sidebar } from './Sidebar';
import { ImageViewer, Transcript } from './Transcript';
import { ConvInfo } from './ConvInfo';
import { Composer } from './Composer';
import { applyUpdate } from '../update';
import { Icon } from './Icon';
import { ShareButton, ShareSheet, TypingLine, Viewers } from './Share';
import { joinFromLink, viewing } from '../store';
import { members } from '../share';

function Status() {
  const c = conn.value;
  const g = gateway.value;
  let text = '';
  let cls = 'ok';
  if (offline.value && c !== 'open') { text = 'Offline — retrying'; cls = 'warn'; }
  else if (c === 'connecting') { text = 'Connecting…'; cls = 'warn'; }
  else if (c === 'reconnecting') { text = 'Reconnecting…'; cls = 'warn'; }
  else if (g === 'pairing_required') { text = 'The assistant gateway needs pairing approval by the owner.'; cls = 'err'; }
  else if (g === 'down') { text = 'The assistant is unavailable right now.'; cls = 'err'; }
  else if (g === 'reconnecting') { text = 'Reconnecting to the assistant…'; cls = 'warn'; }
  return (
    <div class={'status ' + cls} role="status" aria-live="polite">
      {text ? <span class="conn-dot" aria-hidden="true" /> : <span class="conn-dot" role="img" aria-label="Connected" title="Connected" />}
      {text && <span>{text}</span>}
    </div>
  );
}

function TimeLeft({ at }: { at: number }) {
  const left = Math.max(0, Math.round((at - Date.now()) / 1000));
  const [, tick] = useState(0);
  useEffect(() => { const t = setInterval(() => tick((n) => n + 1), 1000); return () => clearInterval(t); }, []);
  return <span>{left >= 60 ? `${Math.floor(left / 60)} min ${left % 60} s left` : `${left} s left`}</span>;
}

function Approvals() {
  if (!isOwner.value || !approvals.value.length) return null;
  return (
    <section class="approvals" aria-label="Approval requests">
      {approvals.value.map((a) => {
        const cmd = a.command ?? a.request?.command ?? a.request?.commandArgv?.join(' ') ?? '(command)';
        return (
          <div class="approval" key={a.id} role="alertdialog" aria-label="Exec approval requested">
            <div><strong>Run command?</strong> {a.host ?? a.request?.host ? <small>on {a.host ?? a.request?.host}</small> : null}</div>
            <small class="approval-who">
              {a.requestedBy ? <>Asked by <b>{a.requestedBy}</b></> : 'Asked from a Gateway session'}
              {a.conversationTitle ? <> in “{a.conversationTitle}”</> : null}
              {a.agentId ? <> · agent {a.agentId}</> : null}
              {a.expiresAtMs ? <> · <TimeLeft at={a.expiresAtMs} /></> : null}
            </small>
            <pre>{cmd}</pre>
            {(a.cwd ?? a.request?.cwd) && <small>in {a.cwd ?? a.request?.cwd}</small>}
            {(a.warningText ?? a.request?.warningText) && <p class="error">{a.warningText ?? a.request?.warningText}</p>}
            {/* Nothing is highlighted or focused by default: allowing is the destructive choice. */}
            <div class="approval-actions">
              <button onClick={() => resolveApproval(a.id, 'deny')}>Deny</button>
              <button class="danger" onClick={() => resolveApproval(a.id, 'allow-once')}>Allow once</button>
              <button class="danger" onClick={() => resolveApproval(a.id, 'allow-always')}>Always allow</button>
            </div>
          </div>
        );
      })}
    </section>
  );
}

function routeFromHash(): void {
  if (location.hash.startsWith('#join=')) { joinFromLink(); return; }
  const m = /^#\/c\/([^/?#]+)/.exec(location.hash);
  const id = m ? decodeURIComponent(m[1]) : null;
  current.value = id;
  if (id) loadConversation(id);
  viewing(id ?? '');
}

export function App() {
  useEffect(() => {
    warmMarkdown();
    routeFromHash();
    addEventListener('hashchange', routeFromHash);
    const keys = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      if (mod && !e.shiftKey && e.key.toLowerCase() === 'k') {
        e.preventDefault(); sidebarOpen.value = true;
        (document.getElementById('search') as HTMLInputElement | null)?.focus();
      } else if (mod && e.shiftKey && e.key.toLowerCase() === 'o') {
        e.preventDefault(); location.hash = '#/';
      } else if (e.key === 'Escape') {
        if (e.defaultPrevented) return; // a menu or dialog closed itself
        if (sidebarOpen.value) sidebarOpen.value = false;
        else if (current.value && currentConv.value.running) { e.preventDefault(); abort(current.value); }
      }
    };
    addEventListener('keydown', keys);
    return () => { removeEventListener('hashchange', routeFromHash); removeEventListener('keydown', keys); };
  }, []);

  if (authState.value === 'unknown') return <div class="splash" aria-busy="true" />;
  if (authState.value === 'offline') {
    return <div class="splash offline-start" role="status"><img src="/icon.svg" alt="" width={48} height={48} /><p>Offline — retrying</p></div>;
  }
  if (authState.value === 'signed-out') return <Login />;

  const id = current.value;
  const c = [...conversations.value, ...gatewaySessions.value].find((x) => x.id === id);
  return (
    <div class="app">
      <a class="skip" href="#composer-input">Skip to message box</a>
      {updateAvailable.value && (
        <div class="update" role="alert">New version available — <button onClick={applyUpdate}>Reload</button></div>
      )}
      <Sidebar />
      {sidebarOpen.value && <div class="scrim" onClick={() => (sidebarOpen.value = false)} />}
      <main class="chat">
        <header class="topbar">
          <button class="icon menu" aria-label="Conversations" aria-expanded={sidebarOpen.value} onClick={() => (sidebarOpen.value = !sidebarOpen.value)}><Icon name="menu" /></button>
          <div class="title-wrap">
            <div class="title-line">
              <h1 class="conv-title">{cleanTitle(c?.title) || (id ? 'New chat' : 'clawchat')}</h1>
              <Status />
            </div>
            {id && <ConvInfo id={id} />}
          </div>
          {c?.memberPolicy && isOwner.value && <span class="policy-badge" title="A member takes part: replies run under the member policy (the most restrictive of the people here)">Member policy</span>}
          {id && !id.startsWith('gw:') && <Viewers conv={id} />}
          {id && !id.startsWith('gw:') && !offline.value && <ShareButton conv={id} />}
          {id && !offline.value && (
            <button class="icon new-top" aria-label="New chat" title="New chat" onClick={() => { location.hash = '#/'; sidebarOpen.value = false; }}><Icon name="newchat" /></button>
          )}
        </header>
        <Approvals />
        {id ? (<>
          <Transcript />
          <TypingLine conv={id} />
          {offline.value ? <p class="offline-note" role="status">Offline — read-only until the connection is back.</p>
            : members.value[id]?.role === 'read-only' ? <p class="offline-note" role="status">Read-only: you can follow this conversation but not write in it.</p>
            : <Composer conv={id} />}
        </>) : (<>
          <div class="welcome">
            <img src="/icon.svg" alt="" width={44} height={44} />
            <h2>What can I help with?</h2>
          </div>
          {offline.value ? <p class="offline-note" role="status">Offline — read-only until the connection is back.</p> : <Composer conv="" agent={newChatAgent.value || undefined} />}
        </>)}
        <ShareSheet />
        <ImageViewer />
        <div class="sr-only" aria-live="polite" aria-atomic="true">{announce.value}</div>
        {toast.value && (
          <div class="toast" role="alert">{toast.value}
            {toastAction.value && <button onClick={() => { const a = toastAction.value; toast.value = null; toastAction.value = null; a?.run(); }}>{toastAction.value.label}</button>}
          </div>
        )}
      </main>
    </div>
  );
}
