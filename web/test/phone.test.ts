// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { adoptIds, emptyConv } from '../src/reducer';
import { renderMarkdown, stableEnd, tableToMarkdown, tableToTSV } from '../src/markdown';
import { cacheHistory, cacheLists, cacheUser, clearOffline, readOffline } from '../src/offline';
import { dayLabel, phaseText } from '../src/ui/Transcript';
import { dateGroup } from '../src/ui/Sidebar';
import { cleanTitle } from '../src/store';

describe('cleanTitle', () => {
  it('drops Markdown and control markers', () => {
    expect(cleanTitle('## **Bold** _it_ `code` [link](https://x.example) ⟦openclaw:ctx⟧ [[reply_to_current]]\u0007 end')).toBe('Bold it code link end');
    expect(cleanTitle(undefined)).toBe('');
    expect(cleanTitle('C# and 2 > 1')).toBe('C# and 2 1');
  });
});

describe('status and dates', () => {
  it('never shows internal phase names', () => {
    for (const p of ['starting_model', 'preparing_context', 'memory_flushing', 'something_new', undefined]) {
      expect(phaseText(p)).not.toMatch(/_/);
      expect(phaseText(p)).toMatch(/…$/);
    }
    expect(phaseText('starting_model')).toBe('Thinking…');
  });
  it('labels days and groups conversations', () => {
    const now = new Date(2026, 11, 3, 10, 0);
    expect(dayLabel(new Date(2026, 11, 3, 0, 5).toISOString(), now)).toBe('Today');
    expect(dayLabel(new Date(2026, 11, 2, 23, 59).toISOString(), now)).toBe('Yesterday');
    expect(dayLabel(new Date(2026, 5, 1).toISOString(), now)).toMatch(/June|Jun|1/);
    expect(dateGroup(new Date(2026, 11, 3, 1).toISOString(), now)).toBe('Today');
    expect(dateGroup(new Date(2026, 11, 2, 1).toISOString(), now)).toBe('Yesterday');
    expect(dateGroup(new Date(2026, 10, 29).toISOString(), now)).toBe('Previous 7 days');
    expect(dateGroup(new Date(2026, 10, 10).toISOString(), now)).toBe('Previous 30 days');
    expect(dateGroup(new Date(2025, 1, 1).toISOString(), now)).toBe('Older');
    expect(dateGroup(undefined, now)).toBe('Older');
  });
});

describe('tables', () => {
  const frag = renderMarkdown('| a | b\\|c |\n|---|---|\n| 1 | two words |\n| <b>x</b> | y |');
  const table = frag.querySelector('table')!;
  it('wraps a table in a sideways scroller with copy and expand', () => {
    expect(table.parentElement?.className).toBe('tablescroll');
    expect(frag.querySelectorAll('.tablebar button')).toHaveLength(3);
  });
  it('copies as TSV and Markdown', () => {
    expect(tableToTSV(table)).toBe('a\tb|c\n1\ttwo words\n<b>x</b>\ty');
    expect(tableToMarkdown(table)).toBe('| a | b\\|c |\n| --- | --- |\n| 1 | two words |\n| <b>x</b> | y |');
  });
});

describe('adoptIds', () => {
  it('gives a finished live reply its stored id and changes nothing else', () => {
    const s = { ...emptyConv(), loaded: true, messages: [
      { id: 'c1', role: 'user', text: 'hi', runId: 'r1' },
      { id: 'run:r1', role: 'assistant', text: 'Echo: hi', runId: 'r1' },
      { id: 'run:r2', role: 'assistant', text: 'so far', runId: 'r2', streaming: true },
    ] };
    const next = adoptIds(s, { hasMore: false, messages: [
      { id: 'u-1', role: 'user', text: 'hi', runId: 'r1' },
      { id: 'a-1', role: 'assistant', text: 'Echo: hi', runId: 'r1', at: '2026-12-03T10:00:00Z' },
      { id: 'a-2', role: 'assistant', text: 'so', runId: 'r2' },
    ] });
    expect(next.messages.map((m) => m.id)).toEqual(['u-1', 'a-1', 'run:r2']);
    expect(next.messages[1].text).toBe('Echo: hi');
    expect(adoptIds(next, { hasMore: false, messages: [] })).toBe(next);
  });
});

describe('offline cache', () => {
  it('keeps the user, the lists and the newest finished messages; a new user clears it', () => {
    clearOffline();
    expect(readOffline()).toBeNull();
    cacheUser({ id: 'u1', name: 'alice', role: 'member' });
    cacheLists([{ id: 'c1', title: 'one', kind: 'conversation', running: true, runId: 'r' }], []);
    cacheHistory('c1', [
      { id: 'm1', role: 'user', text: 'hi' },
      { id: 'm2', role: 'assistant', text: 'part', streaming: true },
      { id: 'm3', role: 'user', text: 'not sent', pending: true },
    ]);
    for (let i = 0; i < 10; i++) cacheHistory('x' + i, [{ id: 'y', role: 'user', text: 't' }]);
    cacheHistory('c1', [{ id: 'm1', role: 'user', text: 'hi' }]);
    const d = readOffline()!;
    expect(d.user.name).toBe('alice');
    expect(d.conversations[0].running).toBe(false);
    expect(d.histories.c1.map((m) => m.id)).toEqual(['m1']);
    expect(Object.keys(d.histories)).toHaveLength(8);
    cacheUser({ id: 'u2', name: 'bob', role: 'member' });
    const b = readOffline()!;
    expect(b.user.name).toBe('bob');
    expect(b.conversations).toEqual([]);
    expect(b.histories).toEqual({});
  });
});

describe('stableEnd (incremental streaming Markdown)', () => {
  it('ends after the last blank line followed by an unindented line', () => {
    const src = 'para one\n\npara two\n\npara thr';
    expect(stableEnd(src)).toBe('para one\n\npara two\n\n'.length);
    expect(stableEnd('only a line')).toBe(0);
    expect(stableEnd('a\n\n')).toBe(0); // nothing after the blank line yet
  });
  it('never splits inside fenced code or before an indented continuation', () => {
    const code = 'intro\n\n```go\nx := 1\n\ny := 2\n```\n\nafter\n';
    expect(code.slice(stableEnd(code))).toBe('after\n');
    const open = 'intro\n\n```go\nx := 1\n\ny := 2\n';
    expect(open.slice(stableEnd(open))).toBe('```go\nx := 1\n\ny := 2\n');
    const list = '1. item\n\n   more of the item\n';
    expect(stableEnd(list)).toBe(0);
  });
  it('renders the same blocks whole or in stable chunks', () => {
    const src = '# T\n\npara **b**\n\n- a\n- b\n\n```js\nlet x = 1;\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nend\n';
    const whole = document.createElement('div');
    whole.append(renderMarkdown(src));
    const parts = document.createElement('div');
    let done = 0;
    for (let n = 1; n <= src.length; n++) {
      const end = stableEnd(src.slice(0, n), done);
      if (end > done) { parts.append(renderMarkdown(src.slice(done, end))); done = end; }
    }
    parts.append(renderMarkdown(src.slice(done)));
    expect(parts.innerHTML.replace(/\n/g, '')).toBe(whole.innerHTML.replace(/\n/g, ''));
  });
  it('cuts a burst into slices of whole blocks of at least a given size (upTo)', () => {
    const src = 'aaaa\n\nbbbb\n\n```\nc\n\nc\n```\n\ndddd\n\neeee';
    expect(stableEnd(src, 0, 1)).toBe('aaaa\n\n'.length);
    expect(stableEnd(src, 0, 7)).toBe('aaaa\n\nbbbb\n\n'.length);
    // never inside the fence: the first boundary after it
    expect(stableEnd(src, 0, 14)).toBe('aaaa\n\nbbbb\n\n```\nc\n\nc\n```\n\n'.length);
    // none at or after upTo: the last one, as without upTo
    expect(stableEnd(src, 0, 1000)).toBe(stableEnd(src));
    const whole = document.createElement('div');
    whole.append(renderMarkdown(src));
    const parts = document.createElement('div');
    for (let done = 0; done < src.length;) {
      let cut = stableEnd(src, done, done + 3);
      if (cut <= done) cut = src.length;
      parts.append(renderMarkdown(src.slice(done, cut)));
      done = cut;
    }
    expect(parts.innerHTML.replace(/\n/g, '')).toBe(whole.innerHTML.replace(/\n/g, ''));
  });
});

describe('code blocks', () => {
  it('fold long blocks and offer wrap and copy', () => {
    const long = '```\n' + Array.from({ length: 40 }, (_, i) => 'line ' + i).join('\n') + '\n```';
    const el = document.createElement('div');
    el.append(renderMarkdown(long));
    expect(el.querySelector('.codeblock.folded button.unfold')?.textContent).toBe('Show all 40 lines');
    expect(el.querySelector('.codebar button.wrap-code')).not.toBeNull();
    expect(el.querySelector('.codebar button.copy-code')).not.toBeNull();
    const short = document.createElement('div');
    short.append(renderMarkdown('```\na\nb\n```'));
    expect(short.querySelector('.codeblock.folded, button.unfold')).toBeNull();
  });
});
