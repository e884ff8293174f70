// The header's second line: the conversation's agent, model, thinking level and permission mode;
// a tap opens the pickers (model and thinking level, within what the server allows this user).
import { useEffect, useState } from 'preact/hooks';
import { settingsApi, type ConvSettings } from '../api';
import { agents, offline, showToast } from '../store';
import { loadMembers, shareOpen } from '../share';
import { Icon } from './Icon';

const MODES: Record<string, string> = {
  'read-only': 'read-only: no commands; reads files in its workspace',
  guarded: 'guarded: asks an owner before it runs a command',
  workspace: 'workspace: runs commands in its workspace',
  full: 'full access',
};

export function ConvInfo({ id }: { id: string }) {
  const [st, setSt] = useState<ConvSettings | null>(null);
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setSt(null);
    setOpen(false);
    if (id.startsWith('gw:') || offline.value) return;
    let live = true;
    settingsApi.get(id).then((s) => { if (live) setSt(s); }, () => { /* the header simply stays without it */ });
    return () => { live = false; };
  }, [id]);
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => { if (e.key === 'Escape') setOpen(false); };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [open]);
  if (!st) return null;
  const agent = agents.value.find((a) => a.id === st.agentId);
  const agentName = agent ? (agent.emoji ? agent.emoji + ' ' : '') + (agent.name || agent.id) : st.agentId;
  const model = st.models.find((m) => m.id === st.model);
  const modelName = model?.name ?? st.model.split('/').pop() ?? '';
  const parts = [agentName, modelName, st.thinkingLevel && st.thinkingLevel !== 'off' ? `thinking ${st.thinkingLevel}` : '', st.permissionMode].filter(Boolean);
  const change = async (p: { model?: string; thinkingLevel?: string }) => {
    setBusy(true);
    try { setSt(await settingsApi.update(id, p)); } catch (e: any) { showToast(e?.message ?? 'Could not change the setting'); }
    setBusy(false);
  };
  const levels = model?.thinkingLevels ?? [];
  return (
    <>
      <button type="button" class="conv-info" aria-haspopup="dialog" aria-label={`Conversation settings: ${parts.join(', ')}`} onClick={() => setOpen(true)}>
        {parts.join(' · ')}
      </button>
      {open && (
        <div class="sheet-scrim" onClick={(e) => { if (e.target === e.currentTarget) setOpen(false); }}>
          <div class="sheet conv-settings" role="dialog" aria-modal="true" aria-label="Conversation settings">
            <p class="sheet-info">Agent: <strong>{agentName}</strong></p>
            <label class="pick">Model
              <select value={st.model} disabled={busy || !st.canChange || st.models.length < 2}
                onChange={(e) => change({ model: (e.target as HTMLSelectElement).value })}>
                {!model && <option value={st.model}>{modelName}</option>}
                {st.models.map((m) => <option key={m.id} value={m.id}>{m.name}</option>)}
              </select>
            </label>
            <label class="pick">Thinking
              <select value={st.thinkingLevel || model?.thinkingDefault || ''} disabled={busy || !st.canChange || levels.length < 2}
                onChange={(e) => change({ thinkingLevel: (e.target as HTMLSelectElement).value })}>
                {levels.length === 0 && <option value="">off</option>}
                {levels.map((l) => <option key={l} value={l}>{l}</option>)}
              </select>
            </label>
            {st.permissionMode && <p class="sheet-info">Permission mode: {MODES[st.permissionMode] ?? st.permissionMode}</p>}
            {!st.canChange && <p class="sheet-info">The owner has not allowed changing these here.</p>}
            {!id.startsWith('gw:') && !offline.value && (
              <button class="sheet-item conv-share" onClick={() => { setOpen(false); shareOpen.value = id; loadMembers(id); }}><Icon name="share" size={20} /> Share…</button>
            )}
            <button class="sheet-item sheet-cancel" onClick={() => setOpen(false)}>Close</button>
          </div>
        </div>
      )}
    </>
  );
}
