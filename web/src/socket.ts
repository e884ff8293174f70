// The browser WebSocket client for /ws: request/response correlation, reconnect with backoff,
// liveness pings (sleep/wake leaves half-open sockets behind), and resume with (epoch, seq).
import { Resume } from './resume';
import type { Hello } from './types';

export type ConnState = 'connecting' | 'open' | 'reconnecting' | 'unauthorized' | 'closed';

export interface SocketHandlers {
  onState(s: ConnState): void;
  onHello(h: Hello): void;
  /** Called after subscribe; reload=true means reload the list and the open history. */
  onReady(reload: boolean): void;
  /** payload is the event's payload as sent (its type per name: wire.ts EventMap). */
  onEvent(name: string, payload: unknown): void;
  /** Called when the upgrade keeps failing; resolve true if the session is gone (401). */
  checkAuth(): Promise<boolean>;
}

/** Close codes the server uses for account reasons (docs/api.md). */
export const CLOSE_SESSION_ENDED = 4401;
export const CLOSE_ACCOUNT_CHANGED = 4012;

export class RequestError extends Error {
  constructor(public code: string, message: string, public disconnected = false) { super(message); }
}

/** Requests outstanding at once on one connection (the server's limit, httpapi MaxWSInFlight). */
export const MAX_IN_FLIGHT = 8;

interface Pending { resolve(v: unknown): void; reject(e: Error): void; timer: ReturnType<typeof setTimeout> }

/** A frame from /ws: a response to a request, or an event (docs/api.md). */
interface Frame {
  type?: string;
  id?: unknown;
  ok?: boolean;
  payload?: unknown;
  error?: { code?: string; message?: string };
  event?: string;
  seq?: number;
}

export class Socket {
  readonly resume = new Resume();
  private ws: WebSocket | null = null;
  private nextId = 1;
  private pending = new Map<string, Pending>();
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  private ready = false;
  private readyWaiters: (() => void)[] = [];

  constructor(private h: SocketHandlers, private url = defaultURL()) {}

  start(): void {
    this.stopped = false;
    this.open();
    addEventListener('online', this.kick);
    document.addEventListener('visibilitychange', this.onVisible);
    addEventListener('pageshow', this.kick);
  }

  stop(): void {
    this.stopped = true;
    removeEventListener('online', this.kick);
    document.removeEventListener('visibilitychange', this.onVisible);
    removeEventListener('pageshow', this.kick);
    this.clearTimers();
    this.ws?.close(1000);
    this.ws = null;
    this.h.onState('closed');
  }

  get isReady(): boolean { return this.ready; }

  /** Resolve once the socket is subscribed (or right away if it is). */
  whenReady(): Promise<void> {
    return this.ready ? Promise.resolve() : new Promise((r) => this.readyWaiters.push(r));
  }

  /**
   * Send a request; rejects with RequestError (disconnected=true when the socket dropped). At
   * most MAX_IN_FLIGHT requests (subscribe aside) are outstanding at once, as the server allows;
   * the rest wait their turn here instead of being refused ("too many requests in flight").
   */
  async request<T = unknown>(method: string, params: unknown = {}, timeoutMs = 30_000): Promise<T> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || (!this.ready && method !== 'subscribe')) {
      throw new RequestError('disconnected', 'not connected', true);
    }
    const counted = method !== 'subscribe';
    if (counted) {
      await this.acquire();
      if (this.ws !== ws || ws.readyState !== WebSocket.OPEN) {
        this.releaseSlot();
        throw new RequestError('disconnected', 'not connected', true);
      }
    }
    const id = String(this.nextId++);
    try {
      return await new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new RequestError('timeout', 'request timed out', true));
        }, timeoutMs);
        this.pending.set(id, { resolve: (v) => resolve(v as T), reject, timer });
        ws.send(JSON.stringify({ type: 'req', id, method, params }));
      });
    } finally {
      if (counted) this.releaseSlot();
    }
  }

  private inflight = 0;
  private slotWaiters: (() => void)[] = [];

  private acquire(): Promise<void> {
    if (this.inflight < MAX_IN_FLIGHT) { this.inflight++; return Promise.resolve(); }
    return new Promise((r) => this.slotWaiters.push(() => { this.inflight++; r(); }));
  }

  private releaseSlot(): void {
    this.inflight = Math.max(0, this.inflight - 1);
    const next = this.slotWaiters.shift();
    if (next) next();
  }

  /** Force a reconnect now (e.g. after wake). */
  reconnectNow(): void {
    if (this.stopped) return;
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; }
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      this.ws.close(4000, 'reconnect');
      this.onClose(this.ws);
    } else this.open();
  }

  private kick = () => {
    if (this.stopped) return;
    if (!this.ws || this.ws.readyState > WebSocket.OPEN) { this.attempt = 0; this.reconnectNow(); return; }
    // After a sleep the socket may look open but be dead: probe it.
    this.probe();
  };

  private onVisible = () => { if (document.visibilityState === 'visible') this.kick(); };

  private probe(): void {
    if (!this.ready) return;
    this.request('ping', {}, 8000).catch(() => this.reconnectNow());
  }

  private open(): void {
    if (this.stopped) return;
    this.h.onState(this.attempt === 0 && !this.resume.epoch ? 'connecting' : 'reconnecting');
    this.ready = false;
    this.resume.reset();
    let ws: WebSocket;
    try { ws = new WebSocket(this.url); } catch { this.schedule(); return; }
    this.ws = ws;
    ws.onmessage = (e) => this.onMessage(ws, e.data);
    ws.onclose = (e) => this.onClose(ws, e?.code ?? 0);
    ws.onerror = () => { /* onclose follows */ };
  }

  private onClose(ws: WebSocket, code = 0): void {
    if (this.ws !== ws) return;
    ws.onmessage = ws.onclose = ws.onerror = null;
    this.ws = null;
    this.ready = false;
    this.clearTimers();
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(new RequestError('disconnected', 'connection lost', true)); }
    this.pending.clear();
    if (this.stopped) return;
    if (code === CLOSE_SESSION_ENDED) {
      // Signed out (here or elsewhere), revoked or deleted: back to the sign-in page.
      this.stopped = true;
      this.h.onState('unauthorized');
      return;
    }
    this.h.onState('reconnecting');
    if (code === CLOSE_ACCOUNT_CHANGED) this.attempt = 0; // role changed: reconnect at once, the new hello has it
    this.schedule();
  }

  private async schedule(): Promise<void> {
    this.attempt++;
    if (this.attempt >= 2 && (await this.h.checkAuth().catch(() => false))) {
      this.h.onState('unauthorized');
      this.stopped = true;
      return;
    }
    const base = Math.min(15_000, 500 * 2 ** Math.min(this.attempt, 5));
    const delay = this.attempt === 1 ? 200 : base / 2 + Math.random() * base / 2;
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.open(); }, delay);
  }

  private clearTimers(): void {
    if (this.pingTimer) { clearInterval(this.pingTimer); this.pingTimer = null; }
  }

  private onMessage(ws: WebSocket, data: unknown): void {
    if (typeof data !== 'string') return;
    let f: Frame;
    try { f = JSON.parse(data) as Frame; } catch { return; }
    if (!f || typeof f !== 'object') return;
    if (f.type === 'res') {
      const p = this.pending.get(String(f.id));
      if (!p) return;
      this.pending.delete(String(f.id));
      clearTimeout(p.timer);
      if (f.ok) p.resolve(f.payload ?? {});
      else p.reject(new RequestError(f.error?.code ?? 'error', f.error?.message ?? 'request failed'));
      return;
    }
    if (f.type !== 'event' || typeof f.event !== 'string') return;
    if (f.event === 'hello') { this.onHello(ws, f.payload as Hello); return; }
    const verdict = this.resume.accept(f.event, f.seq);
    if (verdict === 'duplicate') return;
    this.h.onEvent(f.event, f.payload ?? {});
    if (verdict === 'gap') this.h.onReady(true);
    if (f.event === 'server.restart') { this.attempt = 0; }
  }

  private async onHello(ws: WebSocket, hello: Hello): Promise<void> {
    this.h.onHello(hello);
    try {
      const params = this.resume.subscribeParams();
      // subscribe is allowed before ready
      const res = await this.request<{ epoch: string; seq: number; resync?: boolean }>('subscribe', params);
      if (this.ws !== ws) return;
      const reload = this.resume.onSubscribed(res);
      this.ready = true;
      this.attempt = 0;
      this.h.onState('open');
      this.pingTimer = setInterval(() => this.probe(), 25_000);
      const waiters = this.readyWaiters; this.readyWaiters = [];
      waiters.forEach((w) => w());
      this.h.onReady(reload);
    } catch {
      if (this.ws === ws) ws.close(4000, 'subscribe failed');
    }
  }
}

function defaultURL(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}
