import { describe, expect, it } from 'vitest';
import { addPending, applyEvent, emptyConv, loadHistory, prependHistory, type ConvState } from '../src/reducer';

const run = (s: ConvState, evs: [string, any][]) => evs.reduce((a, [e, p]) => applyEvent(a, e, p), s);
const C = 'default';

describe('run reducer', () => {
  it('confirms a pending send and streams deltas into one assistant message', () => {
    let s = addPending(emptyConv(), { id: 'm1', role: 'user', text: 'hi' });
    s = run(s, [
      ['run.started', { conversation: C, runId: 'r1', messageId: 'm1', text: 'hi' }],
      ['run.delta', { conversation: C, runId: 'r1', text: 'Hel' }],
      ['run.delta', { conversation: C, runId: 'r1', text: 'lo' }],
    ]);
    expect(s.messages.length).toBe(2);
    expect(s.messages[0].pending).toBe(false);
    expect(s.messages[1].text).toBe('Hello');
    expect(s.messages[1].streaming).toBe(true);
    expect(s.running).toBe(true);
    s = applyEvent(s, 'run.final', { runId: 'r1', text: 'Hello!', usage: { input: 3, output: 2 } });
    expect(s.messages[1].text).toBe('Hello!');
    expect(s.messages[1].streaming).toBe(false);
    expect(s.messages[1].usage).toEqual({ input: 3, output: 2 });
    expect(s.running).toBe(false);
  });

  it('learns how a run ended from a terminal snapshot after a resync, and a reopened run streams on', () => {
    let s = run(emptyConv(), [
      ['run.started', { conversation: C, runId: 'r1', messageId: 'm1', text: 'hi' }],
      ['run.delta', { conversation: C, runId: 'r1', text: 'Ech' }],
      ['run.snapshot', { conversation: C, runId: 'r1', state: 'final', text: 'Echo: hi' }],
    ]);
    expect(s.messages[1]).toMatchObject({ text: 'Echo: hi', streaming: false });
    expect(s.running).toBe(false);
    s = run(s, [
      ['run.started', { conversation: C, runId: 'r2', messageId: 'm2', text: 'again' }],
      ['run.snapshot', { conversation: C, runId: 'r2', state: 'error', message: 'interrupted', kind: 'interrupted', text: 'Echo: ag' }],
    ]);
    expect(s.messages[3]).toMatchObject({ text: 'Echo: ag', error: 'interrupted', streaming: false });
    s = run(s, [
      ['run.started', { conversation: C, runId: 'r2', messageId: 'm2' }],
      ['run.delta', { conversation: C, runId: 'r2', text: 'Echo: again', replace: true }],
      ['run.final', { conversation: C, runId: 'r2', text: 'Echo: again' }],
    ]);
    expect(s.messages.length).toBe(4);
    expect(s.messages[3]).toMatchObject({ text: 'Echo: again', streaming: false });
    expect(s.messages[3].error).toBeUndefined();
  });

  it('shows another tab\'s message from run.started', () => {
    const s = applyEvent(emptyConv(), 'run.started', { runId: 'r1', messageId: 'x', text: 'from phone' });
    expect(s.messages[0]).toMatchObject({ id: 'x', role: 'user', text: 'from phone' });
  });

  it('replace deltas and snapshots replace the text instead of appending', () => {
    let s = run(emptyConv(), [
      ['run.delta', { runId: 'r1', text: 'abc' }],
      ['run.delta', { runId: 'r1', text: 'XY', replace: true }],
    ]);
    expect(s.messages[0].text).toBe('XY');
    s = applyEvent(s, 'run.snapshot', { runId: 'r1', text: 'full so far', reasoning: 'why', tools: [{ id: 't1', name: 'ls' }], state: 'running' });
    expect(s.messages.length).toBe(1);
    expect(s.messages[0]).toMatchObject({ text: 'full so far', reasoning: 'why', streaming: true });
    expect(s.messages[0].tools![0]).toMatchObject({ id: 't1', status: 'running' });
    s = applyEvent(s, 'run.delta', { runId: 'r1', text: '!' });
    expect(s.messages[0].text).toBe('full so far!');
  });

  it('drops deltas a snapshot already holds (rev), so a fresh page after a reload has no gap and no duplicate', () => {
    // A reload mid-stream: the new page gets a snapshot of the running reply at rev 5, and the
    // deltas around it arrive as well; only those after rev 5 are appended.
    const s = run(emptyConv(), [
      ['run.delta', { runId: 'r1', text: ' w5', rev: 5 }],
      ['run.snapshot', { runId: 'r1', text: 'Echo: w1 w2 w3 w4 w5', rev: 5, state: 'running' }],
      ['run.delta', { runId: 'r1', text: ' w5', rev: 5 }],
      ['run.delta', { runId: 'r1', text: ' w6', rev: 6 }],
      ['run.delta', { runId: 'r1', text: ' w6', rev: 6 }],
      ['run.delta', { runId: 'r1', text: ' w7', rev: 7 }],
    ]);
    expect(s.messages.length).toBe(1);
    expect(s.messages[0].text).toBe('Echo: w1 w2 w3 w4 w5 w6 w7');
  });

  it('tracks tool calls, reasoning and usage', () => {
    const s = run(emptyConv(), [
      ['run.reasoning', { runId: 'r', text: 'think ' }],
      ['run.reasoning', { runId: 'r', text: 'more' }],
      ['run.tool', { runId: 'r', toolCallId: 'c1', name: 'ls', phase: 'start', args: '{"path":"."}' }],
      ['run.tool', { runId: 'r', toolCallId: 'c2', name: 'cat', phase: 'start' }],
      ['run.tool', { runId: 'r', toolCallId: 'c1', phase: 'end', result: 'a b', durationMs: 12 }],
      ['run.tool', { runId: 'r', toolCallId: 'c2', phase: 'end', error: true, result: 'ENOENT' }],
      ['run.usage', { runId: 'r', input: 5 }],
      ['run.usage', { runId: 'r', output: 7, cost: 0.01 }],
    ]);
    const m = s.messages[0];
    expect(m.reasoning).toBe('think more');
    expect(m.tools).toEqual([
      { id: 'c1', name: 'ls', status: 'done', args: '{"path":"."}', result: 'a b', durationMs: 12 },
      { id: 'c2', name: 'cat', status: 'error', error: true, result: 'ENOENT' },
    ]);
    expect(m.usage).toEqual({ input: 5, output: 7, cost: 0.01 });
  });

  it('aborted and error end the run and keep partial text', () => {
    let s = run(emptyConv(), [['run.started', { runId: 'r', messageId: 'u', text: 'q' }], ['run.delta', { runId: 'r', text: 'part' }], ['run.aborted', { runId: 'r', text: 'partial' }]]);
    expect(s.messages[1]).toMatchObject({ text: 'partial', aborted: true, streaming: false });
    expect(s.running).toBe(false);
    s = run(s, [['run.started', { runId: 'r2', messageId: 'u2', text: 'q2' }], ['run.error', { runId: 'r2', message: 'model down' }]]);
    expect(s.messages[3]).toMatchObject({ error: 'model down', streaming: false });
    expect(s.running).toBe(false);
  });

  it('queued sends carry their position', () => {
    let s = addPending(emptyConv(), { id: 'm2', role: 'user', text: 'next' });
    s = applyEvent(s, 'run.queued', { messageId: 'm2', position: 1 });
    expect(s.messages[0]).toMatchObject({ pending: false, queuedPosition: 1 });
  });
});

describe('history merge', () => {
  it('keeps a live run the history does not contain yet, and pending sends', () => {
    let s = run(emptyConv(), [['run.started', { runId: 'r9', messageId: 'u9', text: 'q' }], ['run.delta', { runId: 'r9', text: 'stream' }]]);
    s = addPending(s, { id: 'p1', role: 'user', text: 'later' });
    s = loadHistory(s, { messages: [{ id: 'u9', role: 'user', text: 'q' }], hasMore: true, cursor: 'c1', running: true, runId: 'r9' });
    expect(s.messages.map((m) => m.id)).toEqual(['u9', 'run:r9', 'p1']);
    expect(s.hasMore).toBe(true);
    expect(s.running).toBe(true);
  });

  it('drops a stale live run once history has the final message', () => {
    let s = applyEvent(emptyConv(), 'run.delta', { runId: 'r1', text: 'x' });
    s = loadHistory(s, { messages: [{ id: 'a1', role: 'assistant', text: 'final', runId: 'r1' }], hasMore: false, running: false });
    expect(s.messages.map((m) => m.id)).toEqual(['a1']);
    s = applyEvent(s, 'run.final', { runId: 'r1', text: 'final' });
    expect(s.messages.length).toBe(1);
  });

  it('prepends older pages without duplicates', () => {
    let s = loadHistory(emptyConv(), { messages: [{ id: 'b', role: 'user', text: 'b' }], hasMore: true, cursor: 'c' });
    s = prependHistory(s, { messages: [{ id: 'a', role: 'user', text: 'a' }, { id: 'b', role: 'user', text: 'b' }], hasMore: false });
    expect(s.messages.map((m) => m.id)).toEqual(['a', 'b']);
    expect(s.hasMore).toBe(false);
  });
});

describe('history racing live events', () => {
  it('keeps a send and its reply that arrived while an older history page was in flight', () => {
    let s = loadHistory(emptyConv(), { messages: [{ id: 'h1', role: 'user', text: 'old' }], hasMore: false });
    const since = s.rev; // the reload request goes out now
    s = addPending(s, { id: 'c1', role: 'user', text: 'new question' });
    s = run(s, [['run.started', { runId: 'r2', messageId: 'c1', text: 'new question' }], ['run.delta', { runId: 'r2', text: 'ans' }]]);
    // the page was read before the send reached the server
    s = loadHistory(s, { messages: [{ id: 'h1', role: 'user', text: 'old' }], hasMore: false, running: false }, since);
    expect(s.messages.map((m) => m.id)).toEqual(['h1', 'c1', 'run:r2']);
    expect(s.running).toBe(true);
  });

  it('does not duplicate a send the page already contains under its server id', () => {
    let s = emptyConv();
    const since = s.rev;
    s = addPending(s, { id: 'c1', role: 'user', text: 'q' });
    s = run(s, [['run.started', { runId: 'r1', messageId: 'c1', text: 'q' }], ['run.final', { runId: 'r1', text: 'a' }]]);
    s = loadHistory(s, { messages: [{ id: 'g1', role: 'user', text: 'q' }, { id: 'g2', role: 'assistant', text: 'a', runId: 'r1' }], hasMore: false }, since);
    expect(s.messages.map((m) => m.id)).toEqual(['g1', 'g2']);
  });

  it('drops local state older than the page on a resync reload', () => {
    let s = applyEvent(emptyConv(), 'run.delta', { runId: 'r0', text: 'stale' });
    s = loadHistory(s, { messages: [], hasMore: false, running: false }, s.rev);
    expect(s.messages).toEqual([]);
  });
});

describe('shared conversations', () => {
  it('queues other participants\' messages in order, with their senders, and runs them in place', () => {
    const bob = { userId: 'bob', name: 'Bob' }, carol = { userId: 'carol', name: 'Carol' };
    let s = run(emptyConv(), [
      ['run.started', { conversation: C, runId: 'r1', messageId: 'm1', text: 'first', sender: bob }],
      ['run.queued', { conversation: C, runId: 'r2', messageId: 'm2', text: 'second', position: 1, sender: carol }],
      ['run.queued', { conversation: C, runId: 'r3', messageId: 'm3', text: 'third', position: 2, sender: bob }],
      ['run.delta', { conversation: C, runId: 'r1', text: 'Echo: first' }],
      ['run.final', { conversation: C, runId: 'r1', text: 'Echo: first' }],
      ['run.started', { conversation: C, runId: 'r2', messageId: 'm2', sender: carol }],
      ['run.delta', { conversation: C, runId: 'r2', text: 'Echo: second' }],
    ]);
    expect(s.messages.map((m) => m.role + ':' + (m.sender?.name ?? '') + ':' + m.text)).toEqual([
      'user:Bob:first', 'assistant::Echo: first', 'user:Carol:second', 'assistant::Echo: second', 'user:Bob:third',
    ]);
    expect(s.messages[4].queuedPosition).toBe(2);
    expect(s.messages[2].queuedPosition).toBeUndefined();
  });
});
