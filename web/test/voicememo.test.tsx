import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { signal } from '@preact/signals';

const sent: { text: string; atts: { name: string; mimeType: string; content: string }[] }[] = [];
const toasts: string[] = [];
vi.mock('../src/store', () => ({
  abort: vi.fn(),
  currentConv: signal({ messages: [], hasMore: false, loaded: true, running: false }),
  limits: signal({}),
  loadDraft: () => '',
  saveDraft: vi.fn(),
  send: (_conv: string, text: string, atts: { name: string; mimeType: string; content: string }[]) => { sent.push({ text, atts }); },
  showToast: (m: string) => { toasts.push(m); },
  composerFill: signal(null),
  startChat: () => Promise.resolve(true),
  notifyTyping: vi.fn(),
}));

const { Composer } = await import('../src/ui/Composer');
const { fmtElapsed, memoName, MAX_MEMO_SECONDS } = await import('../src/ui/VoiceMemo');

const WEBM = [0x1a, 0x45, 0xdf, 0xa3, 1, 2, 3, 4];
let recorders: FakeRecorder[] = [];
let track: { stop: ReturnType<typeof vi.fn> };

class FakeRecorder {
  static isTypeSupported(t: string) { return t === 'audio/webm;codecs=opus'; }
  state = 'inactive';
  mimeType: string;
  ondataavailable: ((e: { data: Blob }) => void) | null = null;
  onstop: (() => void) | null = null;
  constructor(public stream: unknown, o: { mimeType?: string }) { this.mimeType = o.mimeType ?? ''; recorders.push(this); }
  start() { this.state = 'recording'; }
  stop() {
    this.state = 'inactive';
    this.ondataavailable?.({ data: new Blob([new Uint8Array(WEBM)], { type: 'audio/webm;codecs=opus' }) });
    this.onstop?.();
  }
}

function setup() {
  vi.stubGlobal('matchMedia', () => ({ matches: true }));
  const root = document.createElement('div');
  document.body.appendChild(root);
  act(() => render(<Composer conv="default" />, root));
  const q = <T extends Element = HTMLButtonElement>(s: string) => root.querySelector(s) as T | null;
  return { root, q };
}

async function tap(el: Element | null) {
  expect(el).toBeTruthy();
  await act(async () => { (el as HTMLElement).click(); await Promise.resolve(); });
}

beforeEach(() => {
  recorders = [];
  track = { stop: vi.fn() };
  vi.stubGlobal('MediaRecorder', FakeRecorder);
  Object.defineProperty(navigator, 'mediaDevices', { configurable: true, value: { getUserMedia: vi.fn(async () => ({ getTracks: () => [track] })) } });
  delete (window as unknown as Record<string, unknown>).SpeechRecognition;
  delete (window as unknown as Record<string, unknown>).webkitSpeechRecognition;
});

afterEach(() => {
  const root = document.body.firstElementChild;
  if (root) act(() => render(null, root));
  sent.length = 0; toasts.length = 0; document.body.innerHTML = ''; vi.unstubAllGlobals(); vi.useRealTimers();
});

describe('voice memo helpers', () => {
  it('formats the elapsed time and names the file after its type', () => {
    expect(fmtElapsed(0)).toBe('0:00');
    expect(fmtElapsed(65.9)).toBe('1:05');
    expect(fmtElapsed(MAX_MEMO_SECONDS)).toBe('2:00');
    const at = new Date(2026, 0, 2, 3, 4, 5);
    expect(memoName('audio/webm', at)).toBe('voice-memo-2026-01-02-030405.webm');
    expect(memoName('audio/ogg', at)).toBe('voice-memo-2026-01-02-030405.ogg');
    expect(memoName('audio/mp4', at)).toBe('voice-memo-2026-01-02-030405.m4a');
  });
});

describe('composer voice memo', () => {
  it('is offered only without dictation, and only where the browser can record', () => {
    (window as unknown as Record<string, unknown>).SpeechRecognition = class {};
    let { q } = setup();
    expect(q('.memo')).toBeNull();
    expect(q('.mic')).toBeTruthy();
    document.body.innerHTML = '';
    delete (window as unknown as Record<string, unknown>).SpeechRecognition;
    vi.stubGlobal('MediaRecorder', undefined);
    ({ q } = setup());
    expect(q('.memo')).toBeNull();
    expect(q('.mic')).toBeNull();
  });

  it('records, stops, attaches the memo as audio and sends it with the next message', async () => {
    const { q } = setup();
    expect(q('.memo')!.getAttribute('aria-label')).toBe('Record a voice memo');
    expect(navigator.mediaDevices.getUserMedia).not.toHaveBeenCalled();
    await tap(q('.memo'));
    await vi.waitFor(() => expect(q('.memo-rec')).toBeTruthy());
    expect(q('.memo')!.getAttribute('aria-pressed')).toBe('true');
    expect(q('.rec-time')!.textContent).toBe('0:00 / 2:00');
    expect(q('.send')!.disabled).toBe(true);
    expect(recorders[0].mimeType).toBe('audio/webm;codecs=opus');
    await tap(q('.memo-stop'));
    await vi.waitFor(() => expect(q('.att-list li')).toBeTruthy());
    expect(q('.memo-rec')).toBeNull();
    expect(track.stop).toHaveBeenCalled();
    expect(q('.att-list li .att-name')!.textContent).toMatch(/^voice-memo-\d{4}-\d\d-\d\d-\d{6}\.webm /);
    expect(q('.att-list li img')).toBeNull();
    await tap(q('.send'));
    expect(sent).toHaveLength(1);
    expect(sent[0].text).toBe('');
    expect(sent[0].atts.map((a) => [a.mimeType, atob(a.content).length])).toEqual([['audio/webm', WEBM.length]]);
  });

  it('throws the memo away on Cancel and closes the microphone', async () => {
    const { q } = setup();
    await tap(q('.memo'));
    await vi.waitFor(() => expect(q('.memo-rec')).toBeTruthy());
    await tap(q('.memo-cancel'));
    expect(q('.memo-rec')).toBeNull();
    expect(track.stop).toHaveBeenCalled();
    await act(async () => { await new Promise((r) => setTimeout(r, 0)); });
    expect(q('.att-list')).toBeNull();
  });

  it('says so when the microphone is blocked', async () => {
    (navigator.mediaDevices.getUserMedia as ReturnType<typeof vi.fn>).mockRejectedValueOnce(Object.assign(new Error('no'), { name: 'NotAllowedError' }));
    const { q } = setup();
    await tap(q('.memo'));
    await vi.waitFor(() => expect(toasts).toEqual(['Microphone access is blocked for this site']));
    expect(q('.memo-rec')).toBeNull();
    expect(q('.memo')!.getAttribute('aria-pressed')).toBe('false');
  });

  it('stops and attaches at 2 minutes', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const { q } = setup();
    await tap(q('.memo'));
    await vi.waitFor(() => expect(q('.memo-rec')).toBeTruthy());
    act(() => { vi.advanceTimersByTime(61_000); });
    expect(q('.rec-time')!.textContent).toBe('1:01 / 2:00');
    act(() => { vi.advanceTimersByTime(60_000); });
    expect(q('.memo-rec')).toBeNull();
    expect(track.stop).toHaveBeenCalled();
    vi.useRealTimers();
    await vi.waitFor(() => expect(q('.att-list li')).toBeTruthy());
  });
});
