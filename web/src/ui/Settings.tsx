import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { config, installPrompt, me, prefs, setPref, setTheme, showToast, signOut, signOutEverywhere } from '../store';
import { runningBuild } from '../update';
import { api } from '../api';

/** Change the password of a local account: the current one again, the new one twice. */
function PasswordForm({ done }: { done(): void }) {
  const [cur, setCur] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (next !== again) { setErr('The new passwords differ.'); return; }
    setBusy(true); setErr('');
    try {
      await api.changePassword(cur, next);
      showToast('Password changed. Your other devices are signed out.');
      done();
    } catch (x: any) {
      setErr(x?.status === 403 ? 'The current password is wrong.' : x?.status === 429 ? 'Too many attempts. Try again later.' : (x?.message || 'Password change failed.'));
    } finally { setBusy(false); }
  };
  const field = (id: string, label: string, v: string, set: (s: string) => void, auto: string) => (
    <label class="pw-field" for={id}>{label}
      <input id={id} type="password" autocomplete={auto} required value={v} onInput={(e) => set((e.target as HTMLInputElement).value)} />
    </label>
  );
  return (
    <form class="pw-form" onSubmit={submit}>
      <input type="text" autocomplete="username" value={me.value?.name ?? ''} hidden readOnly />
      {field('pw-cur', 'Current password', cur, setCur, 'current-password')}
      {field('pw-new', 'New password', next, setNext, 'new-password')}
      {field('pw-again', 'New password again', again, setAgain, 'new-password')}
      {err && <p class="error" role="alert">{err}</p>}
      <button class="primary" type="submit" disabled={busy}>{busy ? 'Changing…' : 'Change password'}</button>
    </form>
  );
}
import { Icon } from './Icon';
import { askPermission, disablePush, enablePush, notifySupported, pushState, pushSupported } from '../notify';

export function Settings() {
  const [open, setOpen] = useState(false);
  const [push, setPush] = useState(false);
  const [pw, setPw] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  useEffect(() => { if (open) pushState().then(setPush).catch(() => {}); }, [open]);
  // Close on Esc and on a tap or click outside the panel (listening from the render on).
  useLayoutEffect(() => {
    if (!open) return;
    const key = (e: KeyboardEvent) => { if (e.key === 'Escape') { e.preventDefault(); setOpen(false); } };
    const down = (e: PointerEvent) => { if (!root.current?.contains(e.target as Node)) setOpen(false); };
    addEventListener('keydown', key, true);
    addEventListener('pointerdown', down, true);
    return () => { removeEventListener('keydown', key, true); removeEventListener('pointerdown', down, true); };
  }, [open]);
  const coarse = matchMedia('(pointer: coarse)').matches;
  const build = config.value?.build || runningBuild();
  const vapid = config.value?.push?.vapidPublicKey;

  const toggleNotify = async (on: boolean) => {
    if (on && (await askPermission()) !== 'granted') { showToast('Notifications are blocked in this browser'); return; }
    setPref('notify', on);
  };
  const togglePush = async (on: boolean) => {
    try {
      if (on && vapid) { await enablePush(vapid); setPush(true); } else { await disablePush(); setPush(false); }
    } catch (e: any) { showToast(e?.message ?? 'Push failed'); }
  };

  return (
    <div class="settings" ref={root}>
      <button class="icon" aria-expanded={open} aria-controls="settings-panel" aria-label="Settings" title="Settings" onClick={() => setOpen(!open)}><Icon name="gear" /></button>
      {open && (
        <div id="settings-panel" class="panel" role="dialog" aria-label="Settings">
          <fieldset>
            <legend>Theme</legend>
            {(['system', 'light', 'dark'] as const).map((t) => (
              <label key={t}><input type="radio" name="theme" checked={prefs.theme.value === t} onChange={() => setTheme(t)} /> {t[0].toUpperCase() + t.slice(1)}</label>
            ))}
          </fieldset>
          <fieldset>
            <legend>Notifications</legend>
            {notifySupported() && <label><input type="checkbox" checked={prefs.notify.value} onChange={(e) => toggleNotify((e.target as HTMLInputElement).checked)} /> Notify when a reply finishes</label>}
            <label><input type="checkbox" checked={prefs.sound.value} onChange={(e) => setPref('sound', (e.target as HTMLInputElement).checked)} /> Sound when hidden</label>
            {pushSupported() && vapid && <label><input type="checkbox" checked={push} onChange={(e) => togglePush((e.target as HTMLInputElement).checked)} /> Push to this device</label>}
          </fieldset>
          {!coarse && <p class="keys">Shortcuts: Ctrl/⌘+K search · Ctrl/⌘+Shift+O new chat · Esc stop</p>}
          <p class="account">Signed in as <strong>{me.value?.name}</strong> ({me.value?.role}){build && <><br /><small>Version {build}</small></>}</p>
          {config.value?.auth?.local !== false && (pw
            ? <PasswordForm done={() => setPw(false)} />
            : <button onClick={() => setPw(true)}>Change password</button>)}
          {installPrompt.value && (
            <button onClick={() => { const p = installPrompt.value; installPrompt.value = null; p?.prompt().catch(() => {}); }}>Install the app</button>
          )}
          <div class="signout">
            <button onClick={() => signOut()}>Sign out</button>
            <button class="danger" onClick={() => signOutEverywhere()} title="End your sessions on every device">Sign out everywhere</button>
          </div>
        </div>
      )}
    </div>
  );
}
