package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/clawchat/clawchat/internal/push"
	"github.com/clawchat/clawchat/internal/testkit/fakemodel"
)

// PWA behaviour in the real browser: a run that keeps streaming across a page reload, a
// notification for a reply that completes while the tab is hidden, and Web Push from the
// browser's subscription to a decrypted delivery.

// addInitScript runs js in every new document of the tab, before the page's own scripts.
func (b *browser) addInitScript(t testing.TB, js string) {
	t.Helper()
	b.do(t, "add init script", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
		return err
	}))
}

// grantNotifications grants the notifications permission to origin (no prompt).
func (b *browser) grantNotifications(t testing.TB, origin string) {
	t.Helper()
	_, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"},
		Setting:    cdpbrowser.PermissionSettingGranted,
		Origin:     origin,
	})
	if err != nil {
		t.Fatalf("grant notifications to %s: %v", origin, err)
	}
}

// setMinimized minimizes (or restores) the tab's window; a minimized window's page is hidden
// (document.visibilityState "hidden", a real visibilitychange), as when the user switches away.
func (b *browser) setMinimized(t testing.TB, min bool) {
	t.Helper()
	c := chromedp.FromContext(b.ctx)
	win, err := chromedp.CallBrowser(b.ctx, cdpbrowser.GetWindowForTarget, cdpbrowser.GetWindowForTargetParams{TargetID: c.Target.TargetID})
	if err != nil {
		t.Fatalf("window of the tab: %v", err)
	}
	state := cdpbrowser.WindowStateNormal
	if min {
		state = cdpbrowser.WindowStateMinimized
	}
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetWindowBounds, cdpbrowser.SetWindowBoundsParams{WindowID: win.WindowID, Bounds: &cdpbrowser.Bounds{WindowState: state}}); err != nil {
		t.Fatalf("set window state %s: %v", state, err)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// close closes the tab and the browser: no connection to clawchat stays open.
func (b *browser) close(t testing.TB) {
	t.Helper()
	if err := chromedp.Cancel(b.ctx); err != nil {
		t.Fatalf("close the browser: %v", err)
	}
}

// openSettings opens the settings panel in the sidebar.
func (b *browser) openSettings(t testing.TB) {
	t.Helper()
	b.do(t, "open settings", chromedp.Click(chromedp.CSS(`.settings button[aria-label=Settings]`)))
	b.wait(t, "settings panel", `!!document.querySelector('#settings-panel')`, 10*time.Second)
}

// clickLabel clicks the settings checkbox whose label contains text.
func (b *browser) clickLabel(t testing.TB, text string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const l = [...document.querySelectorAll('#settings-panel label')].find(l => l.textContent.includes(%q)); if (!l) return false; l.querySelector('input').click(); return true; })()`, text)
	if v := b.eval(t, js); v != true {
		t.Fatalf("no settings option %q", text)
	}
}

func TestBrowserReloadMidStreamContinuesRun(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signIn(t, srv.URL, "alice", alicePass)
	b.newChat(t)

	const msg = "keep going [delay=80] [words=60]"
	want := fakemodel.Reply(msg)
	b.send(t, msg)
	b.wait(t, "the first streamed words", `/\bw3\b/.test(document.querySelector('.msg.assistant .md')?.textContent ?? '')`, 60*time.Second)
	before := b.eval(t, `document.querySelector('.msg.assistant .md').textContent`).(string)
	if strings.Contains(before, "w60") {
		t.Fatalf("the run finished before the reload: %q", before)
	}
	b.do(t, "reload mid-stream", chromedp.Reload())
	// The reloaded page shows the run as still streaming (partial text from history, then
	// live deltas), and then the complete reply exactly once. (A streaming reply is marked
	// .streaming; the .typing status only shows until its first text.)
	b.wait(t, "the run still streaming after the reload", `(() => { const m = document.querySelector('.msg.assistant'); return !!m && m.classList.contains('streaming') && !(m.textContent.includes('w60')); })()`, 30*time.Second)
	b.wait(t, "complete reply after the reload", `(() => { const m = document.querySelector('.msg.assistant'); return m && !m.classList.contains('streaming') && m.querySelector('.md')?.textContent.includes('w60'); })()`, 60*time.Second)
	if got := b.eval(t, `document.querySelector('.msg.assistant .md').textContent.trim()`).(string); got != want {
		t.Errorf("reply after reload = %q, want %q", got, want)
	}
	if counts := b.eval(t, `[document.querySelectorAll('.msg.user').length, document.querySelectorAll('.msg.assistant').length].join(',')`); counts != "1,1" {
		t.Errorf("after the reload the transcript has user,assistant = %v messages, want 1,1", counts)
	}
	b.noConsoleProblems(t)
}

// recordNotifications records every notification the page or its service worker registration
// shows into window.__shown (and still shows it).
const recordNotifications = `(() => {
  window.__shown = [];
  const rec = (via, title, o) => window.__shown.push({ via, title, body: (o && o.body) || '', tag: (o && o.tag) || '', url: (o && o.data && o.data.url) || '' });
  if (window.ServiceWorkerRegistration) {
    const orig = ServiceWorkerRegistration.prototype.showNotification;
    ServiceWorkerRegistration.prototype.showNotification = function (title, o) { rec('registration', title, o); return orig.call(this, title, o).catch(() => {}); };
  }
  if (window.Notification) {
    const N = window.Notification;
    const W = function (title, o) { rec('window', title, o); return new N(title, o); };
    W.prototype = N.prototype;
    Object.defineProperty(W, 'permission', { get: () => N.permission });
    W.requestPermission = (...a) => N.requestPermission(...a);
    window.Notification = W;
  }
})();`

func TestBrowserNotifiesWhenReplyCompletesInHiddenTab(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.grantNotifications(t, srv.URL)
	b.addInitScript(t, recordNotifications)
	b.signIn(t, srv.URL, "alice", alicePass)
	b.wait(t, "service worker", `navigator.serviceWorker.getRegistration().then(r => !!r && !!r.active)`, 20*time.Second)
	b.openSettings(t)
	b.clickLabel(t, "Notify when a reply finishes")
	b.wait(t, "notify preference stored", `localStorage.getItem('cc.notify') === '1'`, 10*time.Second)
	conv := b.newChat(t)
	// A title the notification must carry (renamed elsewhere: the app learns it live).
	const title = "Hidden tab check"
	if st := signIn(t, srv.URL, "alice", alicePass).do("PATCH", "/api/sessions/"+conv, map[string]string{"title": title}, nil); st != 200 {
		t.Fatalf("rename the conversation: status %d", st)
	}
	b.wait(t, "renamed in the sidebar", fmt.Sprintf(`document.querySelector('.sidebar a[href="#/c/%s"] .title')?.textContent === %q`, conv, title), 20*time.Second)

	// Visible tab: a reply in the open conversation shows no notification.
	b.send(t, "seen while looking [delay=5]")
	b.wait(t, "first reply", `document.querySelector('.msg.assistant .md')?.textContent.includes('Echo: seen while looking') && !document.querySelector('.msg.streaming')`, 60*time.Second)

	const msg = "finish while hidden [delay=60] [words=25]"
	b.send(t, msg)
	b.wait(t, "second reply streaming", `document.querySelectorAll('.msg.assistant').length === 2`, 60*time.Second)
	b.setMinimized(t, true)
	b.wait(t, "hidden page", `document.visibilityState === 'hidden'`, 10*time.Second)
	b.wait(t, "a notification", `window.__shown.length > 0`, 60*time.Second)
	raw := b.eval(t, `JSON.stringify(window.__shown)`).(string)
	var shown []struct{ Via, Title, Body, Tag, URL string }
	if err := json.Unmarshal([]byte(raw), &shown); err != nil {
		t.Fatalf("recorded notifications %s: %v", raw, err)
	}
	if len(shown) != 1 {
		t.Fatalf("notifications shown = %s, want exactly one (none for the visible reply)", raw)
	}
	n := shown[0]
	if n.Via != "registration" || n.Title != title || n.Body != fakemodel.Reply(msg) || n.Tag != "conv-"+conv || n.URL != "/#/c/"+conv {
		t.Errorf("notification = %+v, want via the service worker registration, title %q, body %q, tag %q, url %q", n, title, fakemodel.Reply(msg), "conv-"+conv, "/#/c/"+conv)
	}
	// Visible again, the transcript shows the reply the notification announced (rendering is
	// deferred to animation frames, which a hidden page does not get).
	b.setMinimized(t, false)
	b.wait(t, "visible again", `document.visibilityState === 'visible'`, 10*time.Second)
	b.wait(t, "the announced reply rendered", `[...document.querySelectorAll('.msg.assistant .md')].at(-1)?.textContent.trim() === `+jsString(fakemodel.Reply(msg)), 10*time.Second)
	b.noConsoleProblems(t)
}

// fakePushManager makes PushManager.subscribe (which needs a push service headless Chromium
// cannot reach) return a subscription-shaped object whose toJSON() is sub; getSubscription
// returns it afterwards, as a browser would.
func fakePushManager(sub []byte) string {
	return `(() => {
  const json = ` + string(sub) + `;
  const key = 'cc.test.sub';
  const make = () => ({ endpoint: json.endpoint, expirationTime: null, options: { userVisibleOnly: true },
    toJSON: () => JSON.parse(JSON.stringify(json)),
    unsubscribe: async () => { localStorage.removeItem(key); return true; } });
  window.__subscribeCalls = [];
  PushManager.prototype.subscribe = async function (opts) {
    const k = opts && opts.applicationServerKey;
    window.__subscribeCalls.push({ userVisibleOnly: !!(opts && opts.userVisibleOnly), keyBytes: k ? new Uint8Array(k).length : 0 });
    localStorage.setItem(key, '1');
    return make();
  };
  PushManager.prototype.getSubscription = async function () { return localStorage.getItem(key) ? make() : null; };
})();`
}

func TestBrowserPushSubscriptionDeliversWhenClosed(t *testing.T) {
	g := sharedGateway(t)
	p := newPushEnv(t)
	srv := startServerWith(t, g, g.URL, p.env...)
	sub := p.fake.NewSubscription()

	b := newBrowser(t)
	b.grantNotifications(t, srv.URL)
	b.addInitScript(t, fakePushManager(sub.JSON()))
	b.signIn(t, srv.URL, "alice", alicePass)
	b.wait(t, "service worker registered with scope /", `navigator.serviceWorker.getRegistration().then(r => !!r && r.scope === location.origin + '/' && !!r.active)`, 20*time.Second)
	b.openSettings(t)
	b.wait(t, "push option (needs the VAPID key from /api/config)", `[...document.querySelectorAll('#settings-panel label')].some(l => l.textContent.includes('Push to this device'))`, 10*time.Second)
	b.clickLabel(t, "Push to this device")
	b.wait(t, "push enabled", `(() => { const l = [...document.querySelectorAll('#settings-panel label')].find(l => l.textContent.includes('Push to this device')); return !!l && l.querySelector('input').checked; })()`, 20*time.Second)
	calls := b.eval(t, `JSON.stringify(window.__subscribeCalls)`)
	if calls != `[{"userVisibleOnly":true,"keyBytes":65}]` {
		t.Errorf("pushManager.subscribe calls = %v, want one with userVisibleOnly and the 65-byte VAPID key", calls)
	}
	b.noConsoleProblems(t)
	b.close(t)

	// No page is open: the reply reaches the device through the push service.
	alice := signIn(t, srv.URL, "alice", alicePass)
	alice.send("closed-app", "reply while closed [delay=5]")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ds, err := p.fake.WaitDeliveries(ctx, 1)
	if err != nil {
		t.Fatalf("no push delivery for the browser's subscription: %v", err)
	}
	d := ds[0]
	if d.Endpoint != sub.Endpoint {
		t.Errorf("delivered to %q, want the browser's subscription %q", d.Endpoint, sub.Endpoint)
	}
	var payload push.Payload
	if err := json.Unmarshal(d.Plaintext, &payload); err != nil {
		t.Fatalf("decrypted payload %q: %v", d.Plaintext, err)
	}
	if payload.Conversation != "closed-app" || payload.URL != "/#/c/closed-app" {
		t.Errorf("payload = %+v, want conversation closed-app", payload)
	}
}
