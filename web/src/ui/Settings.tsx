import { useEffect, useState } from 'preact/hooks';
import { config, prefs, setPref, setTheme, showToast, signOut } from '../store';
import { Icon } from './Icon';
import { askPermission, disablePush, enablePush, notifySupported, pushState, pushSupported } from '../notify';

export function Settings() {
  const [open, setOpen] = useState(false);
  const [push, setPush] = useState(false);
  useEffect(() => { if (open) pushState().then(setPush).catch(() => {}); }, [open]);
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
    <div class="settings">
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
          <p class="keys">Shortcuts: Ctrl/⌘+K search · Ctrl/⌘+Shift+O new chat · Esc stop</p>
          <button onClick={() => signOut()}>Sign out</button>
        </div>
      )}
    </div>
  );
}
