import { render } from 'preact';
import './styles.css';
import { api, ApiError } from './api';
import { applyTheme, authState, config, signedIn, startOffline } from './store';
import { clearOffline, readOffline } from './offline';
import { App } from './ui/App';
import { checkBuild, registerSW, runningBuild } from './update';

applyTheme();

function loadConfig(): void {
  api.config().then((c) => {
    config.value = c;
    if (c.build && runningBuild() && c.build !== runningBuild()) checkBuild();
  }).catch(() => {});
}

// Only a 401 from /api/me means signed out. Any other failure (offline, server down, a proxy's
// 5xx) opens the app from the offline cache, read-only, while the socket retries; without a
// cache the start screen says so and /api/me is retried.
async function boot(attempt = 0): Promise<void> {
  try {
    const r = await api.me();
    if (attempt) loadConfig();
    signedIn(r.user);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      clearOffline();
      authState.value = 'signed-out';
      return;
    }
    const cached = attempt === 0 ? readOffline() : null;
    if (cached) { startOffline(cached); return; }
    authState.value = 'offline';
    const delay = Math.min(10_000, 1000 * 2 ** attempt);
    const retry = () => { removeEventListener('online', retry); clearTimeout(t); boot(attempt + 1); };
    const t = setTimeout(retry, delay);
    addEventListener('online', retry);
  }
}

render(<App />, document.getElementById('app')!);
loadConfig();
boot();
registerSW();
