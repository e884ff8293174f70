// The frame's API client: every request carries the in-memory bearer session (no cookies, so it
// works where third-party cookies are blocked), and events arrive over SSE read with fetch (an
// EventSource cannot send an Authorization header).

export interface Grant { id: string; role: string; title?: string; shared?: boolean }
export interface SessionInfo {
  session: string;
  expiresAt: string;
  user: { id: string; name: string };
  app: string;
  contexts: Grant[];
}
export interface ConversationView {
  id: string;
  title: string;
  running: boolean;
  runId: string | null;
  lastActivityAt?: string;
  /** The user's role when the conversation is a shared context's (owner, member, read-only). */
  role?: string;
  context?: { app: string; id: string; role?: string };
}
export interface HistoryMessage {
  id: string;
  role: string;
  text: string;
  runId?: string;
  at?: string;
  /** Who typed a user message (shared conversations). */
  sender?: { userId: string; name: string };
}
export interface PageContext {
  title?: string;
  outline?: string;
  section?: string;
  selection?: string;
  cursor?: number;
}

export class Unauthorized extends Error {
  constructor(public code: string, message: string) { super(message); }
}

export class HttpError extends Error {
  constructor(public status: number, public code: string, message: string) { super(message); }
}

async function answer<T>(res: Response): Promise<T> {
  let body: unknown = null;
  try { body = await res.json(); } catch { /* empty */ }
  if (res.ok) return body as T;
  const err = (body as { error?: { code?: string; message?: string } } | null)?.error ?? {};
  const code = err.code ?? 'error';
  const message = err.message ?? `request failed (${res.status})`;
  if (res.status === 401) throw new Unauthorized(code, message);
  throw new HttpError(res.status, code, message);
}

export async function exchange(token: string): Promise<SessionInfo> {
  const res = await fetch('/embed/session', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }),
    credentials: 'omit',
  });
  return answer<SessionInfo>(res);
}

export class Client {
  constructor(private session: string) {}

  private req<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.session}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit' })
      .then((r) => answer<T>(r));
  }

  conversations(context: string) {
    return this.req<{ conversations: ConversationView[] }>('GET', `/api/embed/conversations?context=${encodeURIComponent(context)}`);
  }
  create(context: string) {
    return this.req<{ conversation: ConversationView }>('POST', '/api/embed/conversations', { context });
  }
  history(id: string) {
    return this.req<{ messages: HistoryMessage[]; running: boolean; runId: string | null }>('GET', `/api/sessions/${encodeURIComponent(id)}/history?limit=50`);
  }
  send(id: string, text: string, clientId: string, context: PageContext | null) {
    return this.req<{ runId: string; status: string; contextSent: boolean }>('POST', `/api/embed/conversations/${encodeURIComponent(id)}/messages`, { text, clientId, context });
  }
  contexts(id: string) {
    return this.req<{ contexts: { messageId: string; context: string; at: string }[] }>('GET', `/api/embed/conversations/${encodeURIComponent(id)}/contexts`);
  }
  health() {
    return fetch('/api/health', { credentials: 'omit' }).then((r) => answer<{ gateway: string }>(r));
  }

  /**
   * Reads /api/events until signal aborts, calling onEvent for each event. Resolves when the
   * stream ends (the caller reconnects); rejects Unauthorized on 401.
   */
  async events(onEvent: (name: string, data: unknown) => void, signal: AbortSignal, lastId: { v: string }): Promise<void> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.session}`, Accept: 'text/event-stream' };
    if (lastId.v) headers['Last-Event-ID'] = lastId.v;
    const res = await fetch('/api/events', { headers, signal, credentials: 'omit' });
    if (!res.ok || !res.body) {
      await answer(res);
      return;
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let name = 'message', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) name = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).trimStart();
          else if (line.startsWith('id:')) lastId.v = line.slice(3).trim();
        }
        if (!data) continue;
        try { onEvent(name, JSON.parse(data)); } catch { /* ignore a malformed event */ }
      }
    }
  }
}
