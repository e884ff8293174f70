/// <reference lib="webworker" />
// The service worker: an app-shell cache keyed to the build id, Web Push display and
// notification clicks. It never caches API, WebSocket, auth or other dynamic responses.
declare const __BUILD__: string;
declare const __ASSETS__: string[];
const sw = self as unknown as ServiceWorkerGlobalScope;

const CACHE = 'clawchat-' + __BUILD__;
const SHELL = ['/', ...__ASSETS__];

sw.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)));
  // first install activates at once; updates wait until the page asks (SKIP_WAITING)
});

sw.addEventListener('activate', (e) => {
  e.waitUntil((async () => {
    for (const k of await caches.keys()) if (k.startsWith('clawchat-') && k !== CACHE) await caches.delete(k);
    await sw.clients.claim();
  })());
});

sw.addEventListener('message', (e) => {
  if (e.data?.type === 'SKIP_WAITING') sw.skipWaiting();
});

const DYNAMIC = /^\/(api|ws|auth|login|logout|healthz|readyz|metrics)(\/|$)/;

sw.addEventListener('fetch', (e) => {
  const req = e.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== location.origin || DYNAMIC.test(url.pathname) || url.pathname === '/sw.js') return;
  if (req.mode === 'navigate') {
    // network first (fresh HTML and headers), the cached shell only when offline
    e.respondWith(fetch(req).catch(async () => (await caches.match('/', { cacheName: CACHE })) ?? Response.error()));
    return;
  }
  if (SHELL.includes(url.pathname)) {
    e.respondWith(caches.match(req, { cacheName: CACHE }).then((r) => r ?? fetch(req)));
  }
});

interface PushPayload { title?: string; body?: string; conversation?: string; url?: string }

function safeURL(p: PushPayload): string {
  if (p.url && p.url.startsWith('/') && !p.url.startsWith('//')) return p.url;
  if (p.conversation && /^[a-z0-9][a-z0-9_:-]{0,200}$/i.test(p.conversation)) return '/#/c/' + encodeURIComponent(p.conversation);
  return '/';
}

sw.addEventListener('push', (e) => {
  let p: PushPayload = {};
  try { p = e.data?.json() ?? {}; } catch { p = { body: e.data?.text() }; }
  const url = safeURL(p);
  e.waitUntil((async () => {
    // userVisibleOnly: a push must always show a notification
    await sw.registration.showNotification(p.title || 'clawchat', {
      body: p.body ?? '',
      tag: p.conversation ? 'conv-' + p.conversation : undefined,
      icon: '/icon-192.png',
      badge: '/icon-192.png',
      data: { url },
    });
  })());
});

sw.addEventListener('notificationclick', (e) => {
  e.notification.close();
  const url: string = e.notification.data?.url ?? '/';
  e.waitUntil((async () => {
    const wins = (await sw.clients.matchAll({ type: 'window', includeUncontrolled: true })) as WindowClient[];
    for (const w of wins) {
      if (new URL(w.url).origin === location.origin) {
        await w.focus();
        try { await w.navigate(url); } catch { w.postMessage({ type: 'OPEN', url }); }
        return;
      }
    }
    await sw.clients.openWindow(url);
  })());
});
