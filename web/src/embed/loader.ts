// clawchat-embed.js: loaded by the host page (<script src="https://chat.example.com/clawchat-embed.js">).
//
//   const chat = ClawchatEmbed.mount({
//     url: 'https://chat.example.com', app: 'compose', container: document.getElementById('sidebar'),
//     getToken: async () => (await fetch('/clawchat-token', { method: 'POST' })).text(),
//   });
//   chat.setContext({ id: 'doc:abc123', title, outline, section, selection, cursor });
//   chat.open(conversationId);
//   chat.on('ready' | 'suggestion' | 'unauthorized', (detail) => …);
//
// The token goes to the frame by postMessage (never in a URL), only to clawchat's origin; the
// frame's messages are accepted only from that frame and origin. On 'unauthorized' (token
// refused or session expired) the loader asks getToken for a new one, at most once every 5 s.

type Listener = (detail: Record<string, unknown>) => void;
interface Options {
  url: string;
  app: string;
  container: HTMLElement;
  getToken: () => Promise<string>;
  title?: string;
}

function mount(o: Options) {
  const origin = new URL(o.url).origin;
  const frame = document.createElement('iframe');
  frame.src = `${origin}/embed?app=${encodeURIComponent(o.app)}`;
  frame.title = o.title ?? 'Assistant';
  frame.setAttribute('allow', 'clipboard-write');
  frame.style.cssText = 'border:0;width:100%;height:100%;display:block';
  const listeners: Record<string, Listener[]> = {};
  let loaded = false;
  let context: Record<string, unknown> | null = null;
  const queue: Record<string, unknown>[] = [];
  let lastToken = 0;

  const send = (m: Record<string, unknown>) => {
    if (!loaded) { queue.push(m); return; }
    frame.contentWindow?.postMessage(m, origin);
  };
  const emit = (name: string, detail: Record<string, unknown>) => {
    for (const l of listeners[name] ?? []) { try { l(detail); } catch (e) { console.error(e); } }
  };
  const token = async () => {
    const now = Date.now();
    if (now - lastToken < 5000) return;
    lastToken = now;
    try { send({ type: 'clawchat:token', token: await o.getToken() }); } catch (e) { console.error('clawchat: getToken failed', e); }
  };
  const onMessage = (e: MessageEvent) => {
    if (e.source !== frame.contentWindow || e.origin !== origin) return;
    const d = e.data as Record<string, unknown> | null;
    if (!d || typeof d.type !== 'string' || !d.type.startsWith('clawchat:')) return;
    const name = d.type.slice(9);
    if (name === 'ready' && context) send({ type: 'clawchat:setContext', context });
    emit(name, d);
    if (name === 'unauthorized') void token();
  };
  window.addEventListener('message', onMessage);
  frame.addEventListener('load', () => {
    loaded = true;
    for (const m of queue.splice(0)) send(m);
    void token();
  });
  o.container.appendChild(frame);
  return {
    frame,
    setContext(c: Record<string, unknown>) { context = c; send({ type: 'clawchat:setContext', context: c }); },
    open(conversation: string) { send({ type: 'clawchat:open', conversation }); },
    on(name: string, fn: Listener) { (listeners[name] ??= []).push(fn); return this; },
    destroy() { window.removeEventListener('message', onMessage); frame.remove(); },
  };
}

(window as unknown as { ClawchatEmbed: unknown }).ClawchatEmbed = { mount };
