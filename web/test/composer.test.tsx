import { afterEach, describe, expect, it, vi } from 'vitest';
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { signal } from '@preact/signals';

const sent: [string, string][] = [];
vi.mock('../src/store', () => ({
  abort: vi.fn(),
  currentConv: signal({ messages: [], hasMore: false, loaded: true, running: false }),
  limits: signal({ maxTextBytes: 100 }),
  loadDraft: (id: string) => localStorage.getItem('d.' + id) ?? '',
  saveDraft: (id: string, t: string) => localStorage.setItem('d.' + id, t),
  send: (conv: string, text: string) => { sent.push([conv, text]); },
  showToast: vi.fn(),
  composerFill: signal(null),
  startChat: (text: string) => { sent.push(['', text]); return Promise.resolve(true); },
  notifyTyping: vi.fn(),
}));

const { Composer } = await import('../src/ui/Composer');

function setup(coarse: boolean) {
  vi.stubGlobal('matchMedia', (q: string) => ({ matches: q.includes('coarse') ? coarse : false }));
  const root = document.createElement('div');
  document.body.appendChild(root);
  act(() => render(<Composer conv="default" />, root));
  const ta = root.querySelector('textarea')!;
  const type = (v: string) => act(() => { ta.value = v; ta.dispatchEvent(new Event('input', { bubbles: true })); });
  const key = (k: string, shift = false) => {
    const e = new KeyboardEvent('keydown', { key: k, shiftKey: shift, bubbles: true, cancelable: true });
    act(() => { ta.dispatchEvent(e); });
    return e;
  };
  return { root, ta, type, key };
}

afterEach(() => { sent.length = 0; document.body.innerHTML = ''; localStorage.clear(); vi.unstubAllGlobals(); });

describe('composer', () => {
  it('sends on Enter and keeps Shift+Enter for a newline on desktop', () => {
    const { type, key } = setup(false);
    type('hello');
    const shift = key('Enter', true);
    expect(shift.defaultPrevented).toBe(false);
    expect(sent).toEqual([]);
    const enter = key('Enter');
    expect(enter.defaultPrevented).toBe(true);
    expect(sent).toEqual([['default', 'hello']]);
  });

  it('inserts a newline on Enter on touch devices (Send button sends)', () => {
    const { root, type, key } = setup(true);
    type('hello');
    expect(key('Enter').defaultPrevented).toBe(false);
    expect(sent).toEqual([]);
    act(() => { (root.querySelector('button.send') as HTMLButtonElement).click(); });
    expect(sent).toEqual([['default', 'hello']]);
  });

  it('refuses text over the limit from hello', () => {
    const { type, key } = setup(false);
    type('x'.repeat(101));
    key('Enter');
    expect(sent).toEqual([]);
  });

  it('restores the per-conversation draft', () => {
    localStorage.setItem('d.default', 'half-written');
    const { ta } = setup(false);
    expect(ta.value).toBe('half-written');
  });
});
