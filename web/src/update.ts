// Service worker registration and "new version available" detection. The running build id comes
// from <meta name="clawchat-build"> in index.html; a new build is seen either as a waiting service
// worker or as a different `build` in /api/config.
import { api } from './api';
import { updateAvailable } from './store';

export const runningBuild = (): string =>
  document.querySelector('meta[name="clawchat-build"]')?.getAttribute('content') ?? '';

let waiting: ServiceWorker | null = null;

export async function registerSW(): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  try {
    const reg = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    const track = (w: ServiceWorker | null) => {
      if (!w) return;
      const check = () => {
        if (w.state === 'installed' && navigator.serviceWorker.controller) { waiting = w; updateAvailable.value = true; }
      };
      w.addEventListener('statechange', check);
      check();
    };
    track(reg.waiting);
    reg.addEventListener('updatefound', () => track(reg.installing));
    navigator.serviceWorker.addEventListener('message', (e) => {
      const url = e.data?.type === 'OPEN' ? String(e.data.url ?? '') : '';
      if (url.startsWith('/#/')) location.hash = url.slice(1);
    });
    let reloading = false;
    navigator.serviceWorker.addEventListener('controllerchange', () => {
      if (reloading || !updateAvailable.value) return;
      reloading = true;
      location.reload();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') { reg.update().catch(() => {}); checkBuild(); }
    });
  } catch { /* no SW: app still works */ }
}

export async function checkBuild(): Promise<void> {
  try {
    const c = await api.config();
    const b = runningBuild();
    if (c.build && b && c.build !== b) updateAvailable.value = true;
  } catch { /* offline */ }
}

export function applyUpdate(): void {
  if (waiting) waiting.postMessage({ type: 'SKIP_WAITING' });
  else location.reload();
  // if the controller never changes (no SW), reload anyway
  setTimeout(() => location.reload(), 1500);
}
