// Foreground notifications, an optional sound, and Web Push subscription.
import { api } from './api';

export const notifySupported = () => typeof Notification !== 'undefined';

/** Must be called from a user gesture. */
export async function askPermission(): Promise<NotificationPermission> {
  if (!notifySupported()) return 'denied';
  return Notification.permission === 'default' ? Notification.requestPermission() : Notification.permission;
}

export function foregroundNotify(title: string, body: string, conversation: string): void {
  if (!notifySupported() || Notification.permission !== 'granted') return;
  const show = async () => {
    const reg = await navigator.serviceWorker?.getRegistration?.();
    const opts: NotificationOptions = { body: body.slice(0, 180), tag: 'conv-' + conversation, data: { url: `/#/c/${conversation}` }, icon: '/icon-192.png' };
    if (reg) await reg.showNotification(title, opts);
    else { const n = new Notification(title, opts); n.onclick = () => { focus(); location.hash = `#/c/${conversation}`; n.close(); }; }
  };
  show().catch(() => {});
}

let audio: AudioContext | null = null;
export function chime(): void {
  try {
    audio ??= new AudioContext();
    const o = audio.createOscillator();
    const g = audio.createGain();
    o.frequency.value = 880;
    g.gain.setValueAtTime(0.0001, audio.currentTime);
    g.gain.exponentialRampToValueAtTime(0.15, audio.currentTime + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
    o.connect(g).connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.4);
  } catch { /* no audio */ }
}

function urlBase64ToUint8Array(b64: string): Uint8Array<ArrayBuffer> {
  const pad = '='.repeat((4 - (b64.length % 4)) % 4);
  const raw = atob((b64 + pad).replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

export const pushSupported = () => 'serviceWorker' in navigator && 'PushManager' in window;

export async function pushState(): Promise<boolean> {
  if (!pushSupported()) return false;
  const reg = await navigator.serviceWorker.getRegistration();
  return !!(await reg?.pushManager.getSubscription());
}

/** Subscribe this browser to Web Push (from a user gesture) and register it with the server. */
export async function enablePush(vapidPublicKey: string): Promise<void> {
  if ((await askPermission()) !== 'granted') throw new Error('Notifications are blocked for this site');
  const reg = await navigator.serviceWorker.ready;
  let sub = await reg.pushManager.getSubscription();
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: urlBase64ToUint8Array(vapidPublicKey) });
  await register(reg, sub, vapidPublicKey);
}

/**
 * Register the subscription with the server. The server refuses (409) an endpoint that another
 * account registered on this browser and did not sign out; this browser proves it holds the
 * endpoint by replacing it with a fresh one (only it can), which is then registered.
 */
async function register(reg: ServiceWorkerRegistration, sub: PushSubscription, vapidPublicKey: string): Promise<void> {
  try {
    await api.pushSubscribe(sub.toJSON());
  } catch (e: any) {
    if (e?.status !== 409) throw e;
    await sub.unsubscribe();
    const fresh = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: urlBase64ToUint8Array(vapidPublicKey) });
    await api.pushSubscribe(fresh.toJSON());
  }
}

/**
 * After sign-in: re-register this browser's existing subscription for the signed-in user. The
 * server deletes a session's subscriptions when it ends, so a new session registers again.
 */
export async function syncPush(vapidPublicKey: string): Promise<void> {
  if (!pushSupported() || !notifySupported() || Notification.permission !== 'granted') return;
  const reg = await navigator.serviceWorker.getRegistration();
  const sub = await reg?.pushManager.getSubscription();
  if (reg && sub) await register(reg, sub, vapidPublicKey);
}

export async function disablePush(): Promise<void> {
  const reg = await navigator.serviceWorker.getRegistration();
  const sub = await reg?.pushManager.getSubscription();
  if (!sub) return;
  await api.pushUnsubscribe(sub.endpoint).catch(() => {});
  await sub.unsubscribe();
}
