// The transcript reducer: pure functions that fold history pages and live run events into the
// message list of one conversation. No DOM, no I/O, so it is unit-tested directly.
import type { History, Message, ToolCall, WireEvent } from './types';
import type { RunSnapshot, RunTool, ToolView, Usage } from './wire';

/** A run.* event: the ones the transcript reducer folds in. */
export type RunEvent = Extract<WireEvent, { name: `run.${string}` }>;

/** Reports whether ev is a run.* event. */
export function isRunEvent(ev: WireEvent): ev is RunEvent {
  return ev.name.startsWith('run.');
}

export interface ConvState {
  messages: Message[];
  hasMore: boolean;
  cursor?: string;
  loaded: boolean;
  running: boolean;
  runId?: string | null;
  /** Bumped by every local change (events, sends); loadHistory keeps what changed after a request. */
  rev: number;
}

export const emptyConv = (): ConvState => ({ messages: [], hasMore: false, loaded: false, running: false, rev: 0 });

export const runMessageId = (runId: string) => `run:${runId}`;

function findRun(msgs: Message[], runId: string): number {
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i];
    if (m.role === 'assistant' && (m.runId === runId || m.id === runMessageId(runId))) return i;
  }
  return -1;
}

function upsertRun(s: ConvState, runId: string, f: (m: Message) => Message): ConvState {
  const msgs = s.messages.slice();
  let i = findRun(msgs, runId);
  if (i < 0) {
    msgs.push({ id: runMessageId(runId), role: 'assistant', text: '', runId, streaming: true, tools: [] });
    i = msgs.length - 1;
  }
  msgs[i] = f(msgs[i]);
  return { ...s, messages: msgs };
}

/** A tool as run.tool and run.snapshot carry it (toolCallId; id from older servers). */
type ToolUpdate = Partial<RunTool & ToolView> & { id?: string; status?: ToolCall['status'] };

function upsertTool(tools: ToolCall[] | undefined, p: ToolUpdate): ToolCall[] {
  const list = (tools ?? []).slice();
  const id = String(p.toolCallId ?? p.id ?? '');
  let i = list.findIndex((t) => t.id === id);
  const prev: ToolCall = i >= 0 ? list[i] : { id, name: p.name ?? 'tool', status: 'running' };
  const next: ToolCall = { ...prev };
  if (p.name) next.name = p.name;
  if (p.args !== undefined) next.args = p.args;
  if (p.result !== undefined) next.result = p.result;
  if (p.durationMs !== undefined) next.durationMs = p.durationMs;
  if (p.error !== undefined) next.error = !!p.error;
  if (p.phase === 'end') next.status = next.error ? 'error' : 'done';
  else if (p.phase === 'start' || p.phase === 'update') next.status = 'running';
  if (i >= 0) list[i] = next; else list.push(next);
  return list;
}

/**
 * Apply one event by name and payload (as the server sent it; wire.ts says its type). See
 * applyRunEvent.
 */
export function applyEvent(s0: ConvState, event: string, p: unknown): ConvState {
  return applyRunEvent(s0, { name: event, p } as RunEvent);
}

/**
 * Apply one run event (already filtered to this conversation) to s and return the new state.
 * Unknown events return s unchanged.
 */
export function applyRunEvent(s0: ConvState, ev: RunEvent): ConvState {
  const next = applyEvent0(s0, ev);
  if (next === s0) return s0;
  const rev = (s0.rev ?? 0) + 1;
  // stamp the messages this event touched
  const old = new Set(s0.messages);
  return { ...next, rev, messages: next.messages.map((m) => (old.has(m) ? m : { ...m, rev })) };
}

function applyEvent0(s: ConvState, ev: RunEvent): ConvState {
  const runId: string | undefined = ('runId' in ev.p ? ev.p.runId : undefined) ?? undefined;
  switch (ev.name) {
    case 'run.queued': {
      const p = ev.p;
      const msgs = s.messages.map((m) =>
        m.id === p.messageId ? { ...m, pending: false, queuedPosition: p.position, sender: p.sender ?? m.sender } : m);
      // Another participant's queued message: shown in the queue, in order, with its sender.
      if (!msgs.some((m) => m.id === p.messageId)) msgs.push({ id: p.messageId, role: 'user', text: p.text, queuedPosition: p.position, sender: p.sender });
      return { ...s, messages: msgs };
    }
    case 'run.started': {
      const p = ev.p;
      let msgs = s.messages.slice();
      const i = msgs.findIndex((m) => m.id === p.messageId && m.role === 'user');
      let started: Message | undefined;
      if (i >= 0 && msgs[i].queuedPosition !== undefined) {
        started = { ...msgs[i], pending: false, queuedPosition: undefined, runId, at: msgs[i].at ?? p.at, sender: p.sender ?? msgs[i].sender };
        msgs.splice(i, 1);
      } else if (i >= 0) {
        msgs[i] = { ...msgs[i], pending: false, runId, sender: p.sender ?? msgs[i].sender };
      } else if (p.text !== undefined) started = { id: p.messageId, role: 'user', text: p.text ?? '', at: p.at, runId, sender: p.sender };
      if (started) {
        // The message takes its place in order: after what ran before it, before the messages
        // still queued (whoever sent them), with its reply right after it.
        let at = msgs.findIndex((m) => m.queuedPosition !== undefined && m.role === 'user');
        if (at < 0) at = msgs.length;
        msgs.splice(at, 0, started);
        if (runId && findRun(msgs, runId) < 0) msgs.splice(at + 1, 0, { id: runMessageId(runId), role: 'assistant', text: '', runId, streaming: true, tools: [] });
      }
      let next: ConvState = { ...s, messages: msgs, running: true, runId };
      // A run announced again (the server reopened it after ending it from history) streams on.
      if (runId) next = upsertRun(next, runId, (m) => (m.error ? { ...m, error: undefined } : m));
      return next;
    }
    case 'run.approval':
      // A command of this conversation waits for an owner (or was decided): shown on the running reply.
      if (!s.runId) return s;
      return upsertRun(s, s.runId, (m) => ({ ...m, approval: ev.p.state }));
    case 'run.status':
      if (!runId) return s;
      return upsertRun(s, runId, (m) => ({ ...m, phase: ev.p.phase }));
    case 'run.delta': {
      const p = ev.p;
      if (!runId) return s;
      // A delta whose rev the text already reflects (it came with a run.snapshot) is dropped.
      const cur = s.messages.find((m) => m.role === 'assistant' && m.runId === runId);
      if (typeof p.rev === 'number' && typeof cur?.textRev === 'number' && p.rev <= cur.textRev) return s;
      return upsertRun(s, runId, (m) => ({
        ...m, streaming: true, text: p.replace ? (p.text ?? '') : m.text + (p.text ?? ''),
        textRev: typeof p.rev === 'number' ? p.rev : m.textRev,
      }));
    }
    case 'run.reasoning':
      if (!runId) return s;
      return upsertRun(s, runId, (m) => ({ ...m, reasoning: (m.reasoning ?? '') + (ev.p.text ?? '') }));
    case 'run.tool':
      if (!runId) return s;
      return upsertRun(s, runId, (m) => ({ ...m, tools: upsertTool(m.tools, ev.p) }));
    case 'run.usage':
      if (!runId) return s;
      return upsertRun(s, runId, (m) => ({ ...m, usage: { ...(m.usage ?? {}), ...usageOf(ev.p) } }));
    case 'run.snapshot': {
      const p: Omit<RunSnapshot, 'tools'> & { tools?: ToolUpdate[] } = ev.p;
      if (!runId) return s;
      // After a resync: how a run that ended in the gap ended.
      if (p.state === 'final' || p.state === 'aborted' || p.state === 'error') {
        return applyEvent0(s, { name: `run.${p.state}`, p } as RunEvent);
      }
      return {
        ...upsertRun(s, runId, (m) => ({
          ...m, text: p.text ?? '', reasoning: p.reasoning ?? '', streaming: p.state !== 'done',
          textRev: typeof p.rev === 'number' ? p.rev : m.textRev,
          tools: Array.isArray(p.tools) ? p.tools.map((t): ToolCall => ({ ...t, id: String(t.id ?? t.toolCallId ?? ''), name: t.name ?? 'tool', status: t.status ?? (t.result !== undefined ? (t.error ? 'error' : 'done') : 'running') })) : m.tools,
        })),
        running: p.state !== 'done', runId,
      };
    }
    case 'run.final': {
      const p = ev.p;
      if (!runId) return s;
      return endRun(upsertRun(s, runId, (m) => ({
        ...m, text: p.text ?? m.text, streaming: false, phase: undefined,
        usage: p.usage ? { ...(m.usage ?? {}), ...p.usage } : m.usage, stopReason: p.stopReason,
        tools: m.tools?.map((t) => (t.status === 'running' ? { ...t, status: 'done' as const } : t)),
      })), runId);
    }
    case 'run.aborted':
      if (!runId) return s;
      return endRun(upsertRun(s, runId, (m) => ({ ...m, text: ev.p.text ?? m.text, streaming: false, aborted: true, phase: undefined })), runId);
    case 'run.error': {
      const p = ev.p;
      if (!runId) return { ...s, running: false };
      return endRun(upsertRun(s, runId, (m) => ({
        ...m, text: p.text ? p.text : m.text, streaming: false, error: p.message ?? 'error', phase: undefined,
      })), runId);
    }
    default:
      return s;
  }
}

function endRun(s: ConvState, runId: string): ConvState {
  return s.runId === runId || !s.runId ? { ...s, running: false, runId: null } : s;
}

/** The usage figures of p that are present. */
function usageOf(p: Usage): Usage {
  const r: Usage = {};
  if (p.input !== undefined) r.input = p.input;
  if (p.output !== undefined) r.output = p.output;
  if (p.cost !== undefined) r.cost = p.cost;
  return r;
}

/**
 * Replace the conversation with a freshly loaded newest history page. A live run that the page
 * does not contain yet (still streaming) is kept after it, as are the user's own pending sends.
 */
export function loadHistory(s: ConvState, h: History, sinceRev = Infinity): ConvState {
  const msgs = (h.messages ?? []).map(normalize);
  const ids = new Set(msgs.map((m) => m.id));
  const runIds = new Set(msgs.filter((m) => m.runId).map((m) => m.runId));
  const recentUserTexts = new Set(msgs.slice(-20).filter((m) => m.role === 'user').map((m) => m.text.trim()));
  const known = (m: Message) => ids.has(m.id) || (m.runId && m.role === 'assistant' && runIds.has(m.runId)) ||
    (m.role === 'user' && ((m.runId && runIds.has(m.runId)) || recentUserTexts.has(m.text.trim())));
  const keep = s.messages.filter((m) => !known(m) && (
    (m.pending && m.role === 'user') ||
    // changed by live events after the history request went out: newer than the page
    (m.rev ?? 0) > sinceRev ||
    (m.role === 'assistant' && m.streaming && !!h.running && h.runId === m.runId)));
  return {
    messages: msgs.concat(keep), hasMore: !!h.hasMore, cursor: h.cursor, loaded: true,
    running: !!h.running || keep.some((m) => m.streaming), runId: h.runId ?? keep.find((m) => m.streaming)?.runId ?? null,
    rev: s.rev ?? 0,
  };
}

/** Prepend an older history page (pagination with `before`). */
export function prependHistory(s: ConvState, h: History): ConvState {
  const ids = new Set(s.messages.map((m) => m.id));
  const older = (h.messages ?? []).map(normalize).filter((m) => !ids.has(m.id));
  return { ...s, messages: older.concat(s.messages), hasMore: !!h.hasMore, cursor: h.cursor };
}

/** Add the user's own message before the server confirms it. */
export function addPending(s: ConvState, m: Message): ConvState {
  const rev = (s.rev ?? 0) + 1;
  return { ...s, rev, messages: s.messages.concat({ ...m, pending: true, rev }) };
}

/** Mark a pending send as failed. */
export function failPending(s: ConvState, id: string, error: string): ConvState {
  return { ...s, messages: s.messages.map((m) => (m.id === id ? { ...m, pending: false, error } : m)) };
}

function normalize(m: Message): Message {
  return { ...m, text: m.text ?? '', tools: m.tools?.map((t) => ({ ...t, status: t.error ? 'error' : 'done' })) };
}

/**
 * Give finished live messages the ids the transcript stored them under (matched by run id), so
 * that per-message actions such as reactions work without reloading. Nothing else changes.
 */
export function adoptIds(s: ConvState, h: History): ConvState {
  const byRun = new Map<string, Message>();
  for (const m of h.messages ?? []) if (m.runId && (m.role === 'assistant' || m.role === 'user')) byRun.set(m.role + ' ' + m.runId, m);
  const have = new Set(s.messages.map((m) => m.id));
  let changed = false;
  const messages = s.messages.map((m) => {
    if (!m.runId || m.streaming || m.pending) return m;
    const h2 = byRun.get(m.role + ' ' + m.runId);
    if (!h2 || h2.id === m.id || have.has(h2.id)) return m;
    changed = true;
    return { ...m, id: h2.id, at: m.at ?? h2.at };
  });
  return changed ? { ...s, messages } : s;
}
