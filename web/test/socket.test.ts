import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Socket, type SocketHandlers } from '../src/socket';

// A scripted stand-in for the browser WebSocket.
class FakeWS {
  static OPEN = 1;
  static all: FakeWS[] = [];
  readyState = 0;
  sent: any[] = [];
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e?: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(public url: string) { FakeWS.all.push(this); }
  send(s: string) { this.sent.push(JSON.parse(s)); }
  close(code?: number) { this.readyState = 3; this.onclose?.(code === undefined ? undefined : { code }); }
  open() { this.readyState = 1; }
  push(f: unknown) { this.onmessage?.({ data: JSON.stringify(f) }); }
  lastReq(method: string) { return [...this.sent].reverse().find((f) => f.method === method); }
}

function handlers() {
  const events: [string, any][] = [];
  const ready: boolean[] = [];
  const h: SocketHandlers = {
    onState: () => {}, onHello: () => {},
    onReady: (r) => ready.push(r),
    onEvent: (n, p) => events.push([n, p]),
    checkAuth: async () => false,
  };
  return { h, events, ready };
}

const flush = async () => { for (let i = 0; i < 10; i++) await Promise.resolve(); };
const hello = { type: 'event', event: 'hello', payload: { epoch: 'E1', seq: 0, user: { id: 'a', name: 'A', role: 'member' }, gateway: { state: 'connected' } } };
const ev = (seq: number, text: string) => ({ type: 'event', event: 'run.delta', seq, payload: { conversation: 'c', runId: 'r', text } });

describe('Socket resume', () => {
  beforeEach(() => { FakeWS.all = []; vi.stubGlobal('WebSocket', FakeWS); vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'clearTimeout', 'clearInterval'] }); });
  afterEach(() => { vi.useRealTimers(); vi.unstubAllGlobals(); });

  it('subscribes fresh, then resumes with (epoch, seq) and drops replayed duplicates', async () => {
    const { h, events, ready } = handlers();
    const s = new Socket(h, 'ws://test/ws');
    s.start();
    const ws1 = FakeWS.all[0];
    ws1.open();
    ws1.push(hello);
    const sub1 = ws1.lastReq('subscribe');
    expect(sub1.params).toEqual({});
    ws1.push({ type: 'res', id: sub1.id, ok: true, payload: { epoch: 'E1', seq: 0, replayed: 0, resync: false } });
    await flush();
    expect(ready).toEqual([false]);
    ws1.push(ev(1, 'a'));
    ws1.push(ev(2, 'b'));
    ws1.close(); // network loss

    await vi.advanceTimersByTimeAsync(300);
    const ws2 = FakeWS.all[1];
    expect(ws2).toBeDefined();
    ws2.open();
    ws2.push(hello);
    const sub2 = ws2.lastReq('subscribe');
    expect(sub2.params).toEqual({ epoch: 'E1', since: 2 });
    ws2.push({ type: 'res', id: sub2.id, ok: true, payload: { epoch: 'E1', seq: 4, replayed: 2, resync: false } });
    await flush();
    ws2.push(ev(2, 'b')); // duplicate (e.g. sent twice around the drop)
    ws2.push(ev(3, 'c'));
    ws2.push(ev(4, 'd'));
    expect(events.map(([, p]) => p.text).join('')).toBe('abcd');
    expect(ready).toEqual([false, false]);
    s.stop();
  });

  it('reports a reload after a resync (new epoch)', async () => {
    const { h, ready } = handlers();
    const s = new Socket(h, 'ws://test/ws');
    s.start();
    const ws1 = FakeWS.all[0];
    ws1.open(); ws1.push(hello);
    ws1.push({ type: 'res', id: ws1.lastReq('subscribe').id, ok: true, payload: { epoch: 'E1', seq: 5 } });
    await flush();
    ws1.close();
    await vi.advanceTimersByTimeAsync(300);
    const ws2 = FakeWS.all[1];
    ws2.open(); ws2.push({ ...hello, payload: { ...hello.payload, epoch: 'E2' } });
    expect(ws2.lastReq('subscribe').params).toEqual({ epoch: 'E1', since: 5 });
    ws2.push({ type: 'res', id: ws2.lastReq('subscribe').id, ok: true, payload: { epoch: 'E2', seq: 1, resync: true } });
    await flush();
    expect(ready).toEqual([false, true]);
    s.stop();
  });

  it('fails pending requests as disconnected when the socket drops', async () => {
    const { h } = handlers();
    const s = new Socket(h, 'ws://test/ws');
    s.start();
    const ws = FakeWS.all[0];
    ws.open(); ws.push(hello);
    ws.push({ type: 'res', id: ws.lastReq('subscribe').id, ok: true, payload: { epoch: 'E1', seq: 0 } });
    await flush();
    const p = s.request('send', { conversation: 'c', id: 'm1', text: 'x' });
    ws.close();
    await expect(p).rejects.toMatchObject({ disconnected: true });
    s.stop();
  });

  // Issue 16: the server closes with 4401 when the session ended (signed out elsewhere, revoked,
  // deleted): the app goes to the sign-in page instead of reconnecting.
  it('goes to the sign-in page on close 4401, and reconnects at once on 4012', async () => {
    const states: string[] = [];
    const { h } = handlers();
    h.onState = (st) => states.push(st);
    const s = new Socket(h, 'ws://test/ws');
    s.start();
    let ws = FakeWS.all[0];
    ws.open(); ws.push(hello);
    ws.close(4012);
    expect(states.at(-1)).toBe('reconnecting');
    await flush();
    vi.advanceTimersByTime(300);
    expect(FakeWS.all.length).toBe(2);
    ws = FakeWS.all[1];
    ws.open(); ws.push(hello);
    ws.close(4401);
    await flush();
    expect(states.at(-1)).toBe('unauthorized');
    vi.advanceTimersByTime(60_000);
    expect(FakeWS.all.length).toBe(2);
    s.stop();
  });
});

describe('Socket requests in flight', () => {
  beforeEach(() => { FakeWS.all = []; vi.stubGlobal('WebSocket', FakeWS); vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'clearTimeout', 'clearInterval'] }); });
  afterEach(() => { vi.useRealTimers(); vi.unstubAllGlobals(); });

  it('keeps at most MAX_IN_FLIGHT requests outstanding and sends the rest in order as answers come', async () => {
    const { MAX_IN_FLIGHT } = await import('../src/socket');
    const { h } = handlers();
    const s = new Socket(h, 'ws://test/ws');
    s.start();
    const ws = FakeWS.all[0];
    ws.open();
    ws.push(hello);
    const sub = ws.lastReq('subscribe');
    ws.push({ type: 'res', id: sub.id, ok: true, payload: { epoch: 'E1', seq: 0, replayed: 0, resync: false } });
    await flush();
    const n = MAX_IN_FLIGHT + 3;
    const results = Array.from({ length: n }, (_, i) => s.request('conversations.get', { i }));
    await flush();
    const sentGets = () => ws.sent.filter((f) => f.method === 'conversations.get');
    expect(sentGets().length).toBe(MAX_IN_FLIGHT);
    for (let k = 0; k < n; k++) {
      const f = sentGets()[k];
      expect(f.params.i).toBe(k);
      ws.push({ type: 'res', id: f.id, ok: true, payload: { i: k } });
      await flush();
    }
    expect((await Promise.all(results)).map((r: any) => r.i)).toEqual(Array.from({ length: n }, (_, i) => i));
    s.stop();
  });
});
