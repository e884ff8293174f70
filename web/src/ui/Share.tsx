// Shared conversations in the UI: the share sheet (invite by name, copy an invitation link, the
// members with their roles, remove and leave), who is viewing, who is typing, and sender avatars.
import { useEffect, useState } from 'preact/hooks';
import { me, showToast } from '../store';
import { hue, initials, loadMembers, members, shareApi, shareOpen, typingNames, typingText, viewers, type Sender } from '../share';
import { Icon } from './Icon';

/** A round avatar with the initials of name, coloured by name. */
export function Avatar({ name, size = 24 }: { name: string; size?: number }) {
  return (
    <span class="avatar" aria-hidden="true" style={{ width: size + 'px', height: size + 'px', fontSize: Math.round(size * 0.42) + 'px', background: `hsl(${hue(name)} 55% 45%)` }}>
      {initials(name)}
    </span>
  );
}

/** The sender line over another participant's message. */
export function SenderLine({ sender }: { sender?: Sender }) {
  if (!sender || sender.userId === me.value?.id) return null;
  return <div class="sender"><Avatar name={sender.name} size={20} /><span>{sender.name}</span></div>;
}

/** Who else has the conversation open, as avatars in the header. */
export function Viewers({ conv }: { conv: string }) {
  const vs = (viewers.value[conv] ?? []).filter((v) => v.userId !== me.value?.id);
  if (!vs.length) return null;
  const names = vs.map((v) => v.name).join(', ');
  return (
    <div class="viewers" role="status" aria-label={`Viewing now: ${names}`} title={`Viewing now: ${names}`}>
      {vs.slice(0, 4).map((v) => <Avatar key={v.userId} name={v.name} size={26} />)}
      {vs.length > 4 && <span class="more">+{vs.length - 4}</span>}
    </div>
  );
}

/** "Bob is typing…" above the composer. */
export function TypingLine({ conv }: { conv: string }) {
  const text = typingText(typingNames(conv, me.value?.id));
  return <div class="typing-line" role="status" aria-live="polite">{text}</div>;
}

/** The header's share button, with the caller's role when the conversation is shared. */
export function ShareButton({ conv }: { conv: string }) {
  const m = members.value[conv];
  const shared = (m?.members.length ?? 0) > 1;
  return (
    <button class={'icon share-btn' + (shared ? ' shared' : '')} aria-label={shared ? `Shared with ${m!.members.length - 1} ${m!.members.length === 2 ? 'person' : 'people'}` : 'Share'} title="Share"
      onClick={() => { shareOpen.value = conv; loadMembers(conv); }}>
      <Icon name="share" />{shared && <span class="count">{m!.members.length}</span>}
    </button>
  );
}

const roleLabel: Record<string, string> = { owner: 'Owner', member: 'Member', 'read-only': 'Read-only' };

/** The share sheet of conversation shareOpen. */
export function ShareSheet() {
  const conv = shareOpen.value;
  const [name, setName] = useState('');
  const [role, setRole] = useState('member');
  const [link, setLink] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => { setLink(''); setName(''); }, [conv]);
  useEffect(() => {
    if (!conv) return;
    const esc = (e: KeyboardEvent) => { if (e.key === 'Escape') { e.preventDefault(); shareOpen.value = null; } };
    addEventListener('keydown', esc);
    return () => removeEventListener('keydown', esc);
  }, [conv]);
  if (!conv) return null;
  const m = members.value[conv];
  const mine = m?.role ?? 'owner';
  const owner = mine === 'owner';
  const me0 = me.value?.id;

  const add = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return;
    setBusy(true);
    try { await shareApi.add(conv, name.trim(), role); setName(''); await loadMembers(conv); } catch (err: any) { showToast(err?.message ?? 'Could not add'); }
    setBusy(false);
  };
  const invite = async () => {
    setBusy(true);
    try {
      const r = await shareApi.invite(conv, role);
      const url = location.origin + r.link;
      setLink(url);
      try { await navigator.clipboard.writeText(url); showToast('Invitation link copied (single use, valid 7 days)'); } catch { /* shown in the field */ }
    } catch (err: any) { showToast(err?.message ?? 'Could not create a link'); }
    setBusy(false);
  };
  const remove = async (userId: string) => {
    try {
      await shareApi.remove(conv, userId);
      if (userId === me0) { shareOpen.value = null; location.hash = '#/'; } else await loadMembers(conv);
    } catch (err: any) { showToast(err?.message ?? 'Could not remove'); }
  };

  return (
    <div class="sheet-scrim" onClick={(e) => { if (e.target === e.currentTarget) shareOpen.value = null; }}>
      <section class="sheet share-sheet" role="dialog" aria-modal="true" aria-labelledby="share-title">
        <header>
          <h2 id="share-title">Share conversation</h2>
          <button class="icon" aria-label="Close" onClick={() => (shareOpen.value = null)}><Icon name="close" /></button>
        </header>
        {owner && (<>
          <form class="share-add" onSubmit={add}>
            <label for="share-name" class="sr-only">Account name</label>
            <input id="share-name" name="share-name" placeholder="Account name" autocomplete="off" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
            <label for="share-role" class="sr-only">Role</label>
            <select id="share-role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>
              <option value="member">Member</option>
              <option value="read-only">Read-only</option>
            </select>
            <button type="submit" class="primary" disabled={busy || !name.trim()}>Add</button>
          </form>
          <div class="share-link">
            <button type="button" onClick={invite} disabled={busy}><Icon name="link" size={18} /> Copy invitation link</button>
            {link && <input class="link-field" readOnly value={link} aria-label="Invitation link" onFocus={(e) => (e.target as HTMLInputElement).select()} />}
          </div>
        </>)}
        <h3>People</h3>
        <ul class="members" aria-label="People in this conversation">
          {(m?.members ?? []).map((x) => (
            <li key={x.userId}>
              <Avatar name={x.name} size={32} />
              <span class="who">{x.name}{x.userId === me0 ? ' (you)' : ''}</span>
              {owner && x.userId !== me0
                ? (
                  <select class="role-select" aria-label={`Role of ${x.name}`} value={x.role} onChange={async (e) => {
                    const r = (e.target as HTMLSelectElement).value;
                    try {
                      if (r === 'owner') {
                        if (!confirm(`Make ${x.name} the owner? You will be a member.`)) { (e.target as HTMLSelectElement).value = x.role; return; }
                        await shareApi.transfer(conv, x.userId);
                      } else await shareApi.setRole(conv, x.userId, r);
                      await loadMembers(conv);
                    } catch (err: any) { showToast(err?.message ?? 'Could not change the role'); }
                  }}>
                    <option value="member">Member</option>
                    <option value="read-only">Read-only</option>
                    <option value="owner">Owner</option>
                  </select>
                )
                : <span class="role">{roleLabel[x.role] ?? x.role}</span>}
              {owner && x.userId !== me0 && <button class="danger small" onClick={() => remove(x.userId)} aria-label={`Remove ${x.name}`}>Remove</button>}
              {!owner && x.userId === me0 && <button class="danger small" onClick={() => remove(x.userId)}>Leave</button>}
            </li>
          ))}
        </ul>
        {(m?.members.length ?? 0) > 1 && (() => {
          const mine0 = m!.members.find((x) => x.userId === me0);
          return (
            <label class="mute">
              <input type="checkbox" checked={!!mine0?.muted} onChange={async (e) => {
                const on = (e.target as HTMLInputElement).checked;
                try { await shareApi.mute(conv, on); await loadMembers(conv); } catch (err: any) { showToast(err?.message ?? 'Could not change notifications'); }
              }} /> Mute notifications for this conversation
            </label>
          );
        })()}
        {owner && (m?.members.length ?? 0) > 1 && <p class="hint">Replies follow the most restrictive policy of the people in this conversation.</p>}
      </section>
    </div>
  );
}
