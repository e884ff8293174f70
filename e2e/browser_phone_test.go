package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// The web app on a phone (issue 11): every test runs at 390×844 with touch emulation against the
// real clawchat binary, the real OpenClaw Gateway and Debian's Chromium.

// phone emulates a 390×844 touch phone (device scale 2).
func (b *browser) phone(t testing.TB) {
	t.Helper()
	b.do(t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
}

// signInPhone signs in at phone size and waits for the landing view's composer.
func (b *browser) signInPhone(t testing.TB, base, user, pass string) {
	t.Helper()
	b.phone(t)
	b.signIn(t, base, user, pass)
	b.wait(t, "landing composer", `location.hash === '' || location.hash === '#/' ? !!document.querySelector('.welcome') && !!document.querySelector('#composer-input') : true`, 20*time.Second)
}

// startPhoneChat sends text from the landing view (which creates the conversation) and waits
// for the reply to finish; it returns the conversation id.
func (b *browser) startPhoneChat(t testing.TB, text, want string) string {
	t.Helper()
	// The composer focuses itself once mounted (its effects have run): type only then.
	b.wait(t, "the composer is ready", `document.activeElement?.id === 'composer-input'`, 10*time.Second)
	b.do(t, "type the first message", chromedp.SendKeys(chromedp.CSS("#composer-input"), text))
	b.wait(t, "the composer holds what was typed", fmt.Sprintf(`document.querySelector('#composer-input').value === %s`, jsString(text)), 5*time.Second)
	b.do(t, "tap Send", chromedp.Click(chromedp.CSS(".composer .send")))
	b.wait(t, "the new conversation opens", `location.hash.startsWith('#/c/')`, 20*time.Second)
	b.waitReply(t, want)
	return b.eval(t, `decodeURIComponent(location.hash.slice(4))`).(string)
}

func (b *browser) waitReply(t testing.TB, want string) {
	t.Helper()
	b.wait(t, "reply "+want, fmt.Sprintf(`[...document.querySelectorAll('.msg.assistant .md')].some(e => e.textContent.includes(%s)) && !document.querySelector('.msg.streaming') && !document.querySelector('.composer .stop')`, jsString(want)), 60*time.Second)
}

// tapSend types text into the composer and taps Send (Enter makes a new line on a phone).
func (b *browser) tapSend(t testing.TB, text string) {
	t.Helper()
	b.do(t, "type", chromedp.SendKeys(chromedp.CSS("#composer-input"), text))
	b.do(t, "tap Send", chromedp.Click(chromedp.CSS(".composer .send")))
}

// longPress holds a finger on the middle of the element matched by the JavaScript expression sel
// until the action menu opens, then lifts it.
func (b *browser) longPress(t testing.TB, sel string) {
	t.Helper()
	b.longPressUntil(t, sel, ".sheet")
}

// longPressUntil holds a finger on the element matched by the JavaScript expression sel until an
// element matching the CSS selector menu appears, then lifts it at the same place.
func (b *browser) longPressUntil(t testing.TB, sel, menu string) {
	t.Helper()
	xy := b.eval(t, fmt.Sprintf(`(() => { const e = %s; e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + Math.min(r.height / 2, 20)]; })()`, sel)).([]any)
	pt := []*input.TouchPoint{{X: xy[0].(float64), Y: xy[1].(float64)}}
	b.do(t, "touch start", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchStart, TouchPoints: pt})
		return err
	}))
	b.wait(t, "a menu after a long press", fmt.Sprintf(`!!document.querySelector(%s)`, jsString(menu)), 5*time.Second)
	b.do(t, "touch end", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchEnd, TouchPoints: []*input.TouchPoint{}})
		return err
	}))
}

// rowAction taps the ⋯ button of the conversation row matched by the JavaScript expression row
// and then the menu item named item.
func (b *browser) rowAction(t testing.TB, row, item string) {
	t.Helper()
	b.wait(t, "the row's ⋯ button", fmt.Sprintf(`(() => { const m = %s?.querySelector('button.row-more'); return !!m && m.getBoundingClientRect().width > 0; })()`, row), 10*time.Second)
	b.eval(t, fmt.Sprintf(`%s.querySelector('button.row-more').click(), true`, row))
	b.wait(t, "row menu", `!!document.querySelector('.row-menu')`, 5*time.Second)
	b.clickText(t, ".row-menu [role=menuitem]", item)
	b.wait(t, "row menu closed", `!document.querySelector('.row-menu')`, 5*time.Second)
}

// captureClipboard replaces navigator.clipboard.writeText so that copies land in window.__copied.
func (b *browser) captureClipboard(t testing.TB) {
	t.Helper()
	b.eval(t, `(navigator.clipboard.writeText = (s) => { window.__copied = s; return Promise.resolve(); }, true)`)
}

// clickText clicks the first element matching css whose text contains text.
func (b *browser) clickText(t testing.TB, css, text string) {
	t.Helper()
	b.wait(t, css+" "+text, fmt.Sprintf(`[...document.querySelectorAll(%s)].some(e => e.textContent.includes(%s))`, jsString(css), jsString(text)), 10*time.Second)
	b.eval(t, fmt.Sprintf(`[...document.querySelectorAll(%s)].find(e => e.textContent.includes(%s)).click(), true`, jsString(css), jsString(text)))
}

// Item 1: opening the app while the server is down is not a sign-out.
func TestBrowserPhoneOfflineStartIsNotSignOut(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	conv := b.startPhoneChat(t, "remember this offline", "Echo: remember this offline")
	b.wait(t, "service worker controls the page", `!!navigator.serviceWorker.controller`, 30*time.Second)

	srv.stop()
	b.do(t, "reopen the app while the server is down", chromedp.Reload())
	b.wait(t, "app from the cache", `!!document.querySelector('.app')`, 30*time.Second)
	b.wait(t, "offline status", `document.querySelector('.status')?.textContent.includes('Offline — retrying')`, 10*time.Second)
	if v := b.eval(t, `!!document.querySelector('input[name=password]')`); v != false {
		t.Fatal("the sign-in form is shown while the server is down")
	}
	b.wait(t, "last-seen history, read-only", `[...document.querySelectorAll('.msg.assistant .md')].some(e => e.textContent.includes('Echo: remember this offline')) && !document.querySelector('#composer-input') && !!document.querySelector('.offline-note')`, 10*time.Second)
	b.wait(t, "conversation list from the cache", fmt.Sprintf(`!!document.querySelector('.sidebar a[href="#/c/%s"]')`, conv), 10*time.Second)

	srv.start()
	b.wait(t, "recovered by itself", `!!document.querySelector('.status.ok') && !document.querySelector('.status span:not(.conn-dot)') && !!document.querySelector('#composer-input')`, 60*time.Second)
	b.tapSend(t, "back online")
	b.waitReply(t, "Echo: back online")

	// A 401 still means signed out, and the cache goes with it.
	b.eval(t, `fetch('/logout', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'}).then(() => true)`)
	b.do(t, "reload after the session ended", chromedp.Reload())
	b.wait(t, "sign-in form", `!!document.querySelector('input[name=password]')`, 20*time.Second)
	if n := b.eval(t, `Object.keys(localStorage).filter(k => k.startsWith('cc.off.')).length`); n != float64(0) {
		t.Errorf("after sign-out %v offline cache entries remain", n)
	}
	b.noConsoleProblems(t)
}

// Items 2 and 4: one action menu per message (long-press on touch) with reactions, copy,
// regenerate, edit and resend, continue after Stop; no permanent reaction row or token line.
func TestBrowserPhoneMessageActions(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	b.startPhoneChat(t, "actions please", "Echo: actions please")
	b.captureClipboard(t)

	// Less clutter: no reaction buttons and no token counts under the messages.
	if v := b.eval(t, `document.querySelectorAll('.transcript .reaction, .transcript .usage').length`); v != float64(0) {
		t.Errorf("%v reaction/usage elements are shown permanently", v)
	}
	if h := b.eval(t, `document.querySelector('.msg.assistant').getBoundingClientRect().height`).(float64); h > 70 {
		t.Errorf("a one-line reply is %.0f px tall, want a dense transcript (≤ 70)", h)
	}

	reply := `document.querySelector('.msg.assistant:last-of-type')`
	b.longPress(t, reply)
	b.wait(t, "reactions in the menu", `!!document.querySelector('.sheet button[aria-label="React 👍"]')`, 10*time.Second)
	b.do(t, "react 👍", chromedp.Click(chromedp.CSS(`.sheet button[aria-label="React 👍"]`)))
	b.wait(t, "reaction chip under the reply", `document.querySelector('.msg.assistant .reaction.on')?.textContent.includes('👍 1') && !document.querySelector('.sheet')`, 10*time.Second)

	b.longPress(t, reply)
	b.clickText(t, ".sheet-item", "Copy")
	b.wait(t, "copied reply text", `window.__copied?.trim() === document.querySelector('.msg.assistant .md').textContent.trim()`, 5*time.Second)

	b.longPress(t, reply)
	if v := b.eval(t, `document.querySelector('.sheet-info')?.textContent ?? ''`).(string); v == "" {
		t.Error("the menu shows no details line (time, usage)")
	}
	b.do(t, "Esc closes the menu", chromedp.KeyEvent("\x1b"))
	b.wait(t, "menu closed", `!document.querySelector('.sheet')`, 5*time.Second)

	b.longPress(t, reply)
	b.clickText(t, ".sheet-item", "Regenerate")
	b.wait(t, "regenerated reply", `document.querySelectorAll('.msg.assistant').length === 2 && [...document.querySelectorAll('.msg.user .bubble')].filter(e => e.textContent === 'actions please').length === 2 && !document.querySelector('.msg.streaming')`, 60*time.Second)

	b.longPress(t, `[...document.querySelectorAll('.msg.user')].pop()`)
	b.clickText(t, ".sheet-item", "Edit and resend")
	b.wait(t, "composer holds the text", `document.querySelector('#composer-input').value === 'actions please'`, 5*time.Second)
	b.do(t, "edit", chromedp.SendKeys(chromedp.CSS("#composer-input"), " edited"))
	b.do(t, "send", chromedp.Click(chromedp.CSS(".composer .send")))
	b.waitReply(t, "Echo: actions please edited")

	b.tapSend(t, "long one [delay=60] [words=120]")
	b.wait(t, "streaming", `[...document.querySelectorAll('.msg.assistant .md')].some(e => e.textContent.includes('Echo: long one')) && !!document.querySelector('.composer .stop')`, 60*time.Second)
	b.do(t, "Stop", chromedp.Click(chromedp.CSS(".composer .stop")))
	b.wait(t, "stopped", `[...document.querySelectorAll('.msg.assistant .badge')].some(e => e.textContent === 'stopped') && !document.querySelector('.composer .stop')`, 30*time.Second)
	b.longPress(t, `[...document.querySelectorAll('.msg.assistant')].pop()`)
	b.clickText(t, ".sheet-item", "Continue")
	b.waitReply(t, "Echo: Continue")
	b.noConsoleProblems(t)
}

// Item 3: the app opens ready to type; the first message creates the conversation; the phone
// header has a New chat button.
func TestBrowserPhoneOpensReadyToType(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	if n := b.eval(t, `document.querySelectorAll('.sidebar a[href^="#/c/"]').length`); n != float64(0) {
		t.Fatalf("a fresh user already has %v conversations", n)
	}
	conv := b.startPhoneChat(t, "first words", "Echo: first words")
	b.wait(t, "the conversation is listed", fmt.Sprintf(`!!document.querySelector('.sidebar a[href="#/c/%s"]')`, conv), 10*time.Second)
	b.do(t, "tap New chat in the header", chromedp.Click(chromedp.CSS(".topbar .new-top")))
	b.wait(t, "landing view with a composer", `(location.hash === '#/' || location.hash === '') && !!document.querySelector('.welcome') && !!document.querySelector('#composer-input')`, 10*time.Second)
	b.startPhoneChat(t, "second chat", "Echo: second chat")
	if n := b.eval(t, `document.querySelectorAll('.sidebar a[href^="#/c/"]').length`); n != float64(2) {
		t.Errorf("%v conversations listed, want 2", n)
	}
	b.noConsoleProblems(t)
}

// Item 5: a wide table scrolls sideways inside its box (no word broken mid-way) and can be
// copied as TSV and Markdown and expanded.
func TestBrowserPhoneTablesScrollSideways(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	conv := b.startPhoneChat(t, "a table please", "Echo: a table please")

	table := "| Country | Capital | Population | Internationalization |\n|---|---|---|---|\n" +
		"| Netherlands | Amsterdam | 17,900,000 | Internationalization |\n| Switzerland | Bern | 8,800,000 | Characteristically |"
	injectNote(t, g, srv, conv, "Here you go:\n\n"+table)
	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "table in history", `!!document.querySelector('.msg.assistant .tablewrap table')`, 30*time.Second)

	if v := b.eval(t, `(() => { const s = document.querySelector('.tablescroll'); return s.scrollWidth > s.clientWidth + 20 && s.getBoundingClientRect().right <= innerWidth; })()`); v != true {
		t.Error("the wide table does not scroll sideways inside the screen")
	}
	// Every word sits on one line: no mid-word breaks.
	broken := b.eval(t, `[...document.querySelectorAll('.tablescroll td, .tablescroll th')].filter(c => { const r = document.createRange(); r.selectNodeContents(c); const lines = new Set([...r.getClientRects()].map(x => Math.round(x.top))); return c.textContent.trim().indexOf(' ') < 0 && lines.size > 1; }).map(c => c.textContent)`)
	if l, _ := broken.([]any); len(l) > 0 {
		t.Errorf("words broken mid-way in table cells: %v", l)
	}

	b.captureClipboard(t)
	b.do(t, "copy as TSV", chromedp.Click(chromedp.CSS(`.tablebar button[data-format="tsv"]`)))
	b.wait(t, "TSV copied", `window.__copied?.startsWith('Country\tCapital\tPopulation\tInternationalization\nNetherlands\tAmsterdam')`, 5*time.Second)
	b.do(t, "copy as Markdown", chromedp.Click(chromedp.CSS(`.tablebar button[data-format="md"]`)))
	b.wait(t, "Markdown copied", `window.__copied?.startsWith('| Country | Capital | Population | Internationalization |\n| --- | --- | --- | --- |\n| Netherlands |')`, 5*time.Second)
	b.do(t, "expand", chromedp.Click(chromedp.CSS(`.tablebar .expand-table`)))
	b.wait(t, "expanded table", `document.querySelectorAll('.table-full table td').length === 8`, 5*time.Second)
	b.do(t, "Esc closes it", chromedp.KeyEvent("\x1b"))
	b.wait(t, "expanded view closed", `!document.querySelector('.table-full')`, 5*time.Second)
	b.noConsoleProblems(t)
}

// injectNote appends an assistant note to the conversation's Gateway session (chat.inject, an
// admin method clawchat itself never uses): the scripted model only echoes one line.
func injectNote(t *testing.T, g *ochar.Gateway, srv *server, conv, note string) {
	t.Helper()
	alice := signIn(t, srv.URL, "alice", alicePass)
	admin := startClient(t, g.URL, g.Token, func(c *gateway.Config) {
		c.Scopes = []string{gateway.ScopeRead, gateway.ScopeWrite, "operator.admin"}
	})
	admin.waitState(60*time.Second, gateway.StateConnected)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.Request(ctx, "chat.inject", map[string]any{"sessionKey": bridge.SessionKey("main", userID(t, alice), conv), "message": note}, nil); err != nil {
		t.Fatalf("chat.inject: %v", err)
	}
}

// Item 6: while scrolled up during a reply, a "new messages" button appears and takes you down.
func TestBrowserPhoneScrollToLatest(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	b.startPhoneChat(t, "fill the screen [words=250]", "w250")
	b.tapSend(t, "more please [delay=40] [words=300]")
	b.wait(t, "second reply streaming", `[...document.querySelectorAll('.msg.assistant .md')].some(e => e.textContent.includes('Echo: more please'))`, 60*time.Second)
	if v := b.eval(t, `!!document.querySelector('.to-latest')`); v != false {
		t.Error("the scroll-to-latest button shows while at the bottom")
	}
	b.eval(t, `(() => { const el = document.querySelector('.transcript'); el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); return true; })()`)
	b.wait(t, "new content below cue", `document.querySelector('.to-latest.unseen')?.textContent.includes('New messages')`, 30*time.Second)
	b.do(t, "tap it", chromedp.Click(chromedp.CSS(".to-latest")))
	b.wait(t, "at the latest", `(() => { const el = document.querySelector('.transcript'); return el.scrollHeight - el.scrollTop - el.clientHeight < 80 && !document.querySelector('.to-latest'); })()`, 10*time.Second)
	b.waitReply(t, "w300")
	b.noConsoleProblems(t)
}

// Item 9: day dividers, human status text, and no status once text streams.
func TestBrowserPhoneStatusTextAndDayDividers(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	// Record every status text shown, and whether a status ever shows next to streamed text.
	b.eval(t, `(() => {
		window.__status = new Set(); window.__statusWithText = false;
		new MutationObserver(() => {
			for (const ty of document.querySelectorAll('.typing')) {
				window.__status.add(ty.textContent);
				if (ty.closest('.msg')?.querySelector('.md')?.textContent.trim()) window.__statusWithText = true;
			}
		}).observe(document.body, {subtree: true, childList: true, characterData: true});
		return true; })()`)
	b.startPhoneChat(t, "status words [delay=30] [words=40]", "w40")
	seen := b.eval(t, `[...window.__status].join('|')`).(string)
	if seen == "" {
		t.Error("no status was shown before the reply")
	}
	for _, s := range strings.Split(seen, "|") {
		if strings.Contains(s, "_") || (s != "" && !strings.HasSuffix(s, "…")) {
			t.Errorf("status text %q is not human text", s)
		}
	}
	if b.eval(t, `window.__statusWithText`) != false {
		t.Error("a status showed while text was streaming")
	}
	b.wait(t, "a Today divider", `[...document.querySelectorAll('.transcript .day')].map(e => e.textContent).join() === 'Today'`, 5*time.Second)
	b.noConsoleProblems(t)
}

// Item 8 (the touch parts): rename, archive and delete on any row, delete with undo, date
// groups, clean titles.
func TestBrowserPhoneChatManagement(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	first := b.startPhoneChat(t, "chat one", "Echo: chat one")
	b.do(t, "new chat", chromedp.Click(chromedp.CSS(".topbar .new-top")))
	// The conversation's composer has the same id: wait for the landing view before typing.
	b.wait(t, "landing view", `(location.hash === '#/' || location.hash === '') && !!document.querySelector('.welcome') && !!document.querySelector('#composer-input')`, 10*time.Second)
	second := b.startPhoneChat(t, "chat **two** `now`", "Echo: chat two now")
	b.wait(t, "a clean title", fmt.Sprintf(`document.querySelector('.sidebar a[href="#/c/%s"] .title')?.textContent === 'chat two now' && document.querySelector('.conv-title').textContent === 'chat two now'`, second), 10*time.Second)
	b.do(t, "open the list", chromedp.Click(chromedp.CSS(".topbar .menu")))
	b.wait(t, "list open", `document.querySelector('.sidebar.open') && getComputedStyle(document.querySelector('.sidebar')).transform === 'none'`, 5*time.Second)
	b.wait(t, "Today group", `[...document.querySelectorAll('.sidebar .date-group')].map(e => e.textContent).join() === 'Today'`, 5*time.Second)

	row := fmt.Sprintf(`document.querySelector('.sidebar a[href="#/c/%s"]').closest('li')`, first)
	// One control per row (a ⋯ button, reachable on touch without hovering), so that the title
	// keeps the row's width.
	if v := b.eval(t, fmt.Sprintf(`(() => { const li = %s, bs = li.querySelectorAll('button'), m = li.querySelector('button.row-more');
		return bs.length === 1 && !!m && m.getBoundingClientRect().width > 0 && getComputedStyle(m).visibility === 'visible' &&
			li.querySelector('a').getBoundingClientRect().width >= 0.8 * li.getBoundingClientRect().width; })()`, row)); v != true {
		t.Fatal("a non-current row does not show exactly one reachable ⋯ button beside a wide title")
	}
	// A long press opens the row's menu with its first item (Rename) under the finger: lifting
	// the finger must not press it.
	b.longPressUntil(t, row+`.querySelector('a')`, ".row-menu")
	b.wait(t, "the menu stays open after the release", `!!document.querySelector('.row-menu') && !document.querySelector('.conv.editing')`, 5*time.Second)
	if v := b.eval(t, `(() => { const m = document.querySelector('.row-menu'); return m.getAttribute('role') === 'menu' && [...m.querySelectorAll('[role=menuitem]')].map(e => e.textContent.trim()).join('|'); })()`); v != "Rename|Pin|Archive|Share…|Delete" {
		t.Errorf("row menu items: %v", v)
	}
	b.do(t, "tap Rename", chromedp.Click(chromedp.CSS(`.row-menu [role=menuitem]:first-child`)))
	b.wait(t, "rename field", `!!document.querySelector('.conv.editing input') && !document.querySelector('.row-menu')`, 5*time.Second)
	b.eval(t, `document.querySelector('.conv.editing input').select(), true`)
	b.do(t, "type the new title", chromedp.SendKeys(chromedp.CSS(".conv.editing input"), "Renamed on a phone\r"))
	b.wait(t, "renamed", fmt.Sprintf(`document.querySelector('.sidebar a[href="#/c/%s"]')?.textContent.includes('Renamed on a phone')`, first), 10*time.Second)

	// The keyboard: the ⋯ button opens the menu on its first item, arrows move, Esc closes it
	// and gives the focus back to the button.
	b.eval(t, fmt.Sprintf(`%s.querySelector('button.row-more').focus(), true`, row))
	b.do(t, "Enter on ⋯", chromedp.KeyEvent("\r"))
	b.wait(t, "menu open on its first item", `document.activeElement?.getAttribute('role') === 'menuitem' && document.activeElement.textContent.trim() === 'Rename' && document.querySelector('.row-more[aria-expanded=true]')`, 5*time.Second)
	b.do(t, "ArrowDown", chromedp.KeyEvent(kb.ArrowDown))
	b.wait(t, "on Pin", `document.activeElement?.textContent.trim() === 'Pin'`, 5*time.Second)
	b.do(t, "Esc", chromedp.KeyEvent(kb.Escape))
	b.wait(t, "closed, focus back on ⋯", fmt.Sprintf(`!document.querySelector('.row-menu') && document.activeElement === %s.querySelector('button.row-more') && document.querySelector('.sidebar.open')`, row), 5*time.Second)

	// Archive: out of the list, into "Archived chats", and back.
	b.rowAction(t, row, "Archive")
	b.wait(t, "archived", fmt.Sprintf(`!document.querySelector('.sidebar .convs:not(.archived) a[href="#/c/%s"]') && document.querySelector('.toast')?.textContent.includes('Archived')`, first), 10*time.Second)
	b.do(t, "show archived chats", chromedp.Click(chromedp.CSS(".archived-toggle")))
	b.wait(t, "in the archived list", fmt.Sprintf(`!!document.querySelector('.convs.archived a[href="#/c/%s"]')`, first), 10*time.Second)
	b.rowAction(t, fmt.Sprintf(`document.querySelector('.convs.archived a[href="#/c/%s"]').closest('li')`, first), "Unarchive")
	b.wait(t, "unarchived", fmt.Sprintf(`!document.querySelector('.convs.archived a[href="#/c/%s"]') && !!document.querySelector('.sidebar .convs:not(.archived) a[href="#/c/%s"]')`, first, first), 10*time.Second)
	b.do(t, "hide archived chats", chromedp.Click(chromedp.CSS(".archived-toggle")))

	b.rowAction(t, row, "Delete")
	b.wait(t, "row gone with an undo toast", fmt.Sprintf(`!document.querySelector('.sidebar a[href="#/c/%s"]') && document.querySelector('.toast button')?.textContent === 'Undo'`, first), 5*time.Second)
	b.do(t, "undo", chromedp.Click(chromedp.CSS(".toast button")))
	b.wait(t, "row back", fmt.Sprintf(`!!document.querySelector('.sidebar a[href="#/c/%s"]')`, first), 5*time.Second)
	// the undone delete never reaches the server
	b.wait(t, "undo window over", `!document.querySelector('.toast')`, 15*time.Second)
	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "still there after reload", fmt.Sprintf(`!!document.querySelector('.sidebar a[href="#/c/%s"]')`, first), 30*time.Second)

	b.do(t, "open the list", chromedp.Click(chromedp.CSS(".topbar .menu")))
	b.rowAction(t, row, "Delete")
	b.wait(t, "deleted on the server after the undo window", fmt.Sprintf(`fetch('/api/sessions').then(r => r.json()).then(j => !j.sessions.some(s => s.id === %s))`, jsString(first)), 20*time.Second)
	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "list loaded", `document.querySelectorAll('.sidebar a[href^="#/c/"]').length >= 1`, 30*time.Second)
	b.wait(t, "deleted for real", fmt.Sprintf(`!document.querySelector('.sidebar a[href="#/c/%s"]')`, first), 10*time.Second)
	b.noConsoleProblems(t)
}

// Item 10: settings at phone size: radio and checkbox on their label's line; Esc and an
// outside tap close the panel; account and version shown; no keyboard shortcuts on a phone;
// sign out everywhere.
func TestBrowserPhoneSettings(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	b.do(t, "open the list", chromedp.Click(chromedp.CSS(".topbar .menu")))
	b.wait(t, "list open", `getComputedStyle(document.querySelector('.sidebar')).transform === 'none'`, 5*time.Second)
	b.do(t, "open settings", chromedp.Click(chromedp.CSS(`.settings button[aria-label="Settings"]`)))
	b.wait(t, "settings panel", `!!document.querySelector('#settings-panel')`, 5*time.Second)

	misplaced := b.eval(t, `[...document.querySelectorAll('#settings-panel label')].filter(l => {
		const i = l.querySelector('input'); if (!i) return false;
		const r = document.createRange(); r.selectNodeContents(l); r.setStartAfter(i);
		const text = [...r.getClientRects()].filter(x => x.width > 0)[0]; const box = i.getBoundingClientRect();
		return !text || text.top > box.bottom || text.bottom < box.top || text.left < box.right;
	}).map(l => l.textContent.trim())`)
	if l, _ := misplaced.([]any); len(l) > 0 {
		t.Errorf("labels not on the same line, right of their control: %v", l)
	}
	txt := b.eval(t, `document.querySelector('#settings-panel').textContent`).(string)
	if !strings.Contains(txt, "alice") || !strings.Contains(txt, "Version") {
		t.Errorf("settings show no account or version: %q", txt)
	}
	if strings.Contains(txt, "Ctrl") {
		t.Error("keyboard shortcuts are shown on a phone")
	}
	b.do(t, "Esc", chromedp.KeyEvent("\x1b"))
	b.wait(t, "closed by Esc", `!document.querySelector('#settings-panel')`, 5*time.Second)

	b.do(t, "open settings", chromedp.Click(chromedp.CSS(`.settings button[aria-label="Settings"]`)))
	b.wait(t, "settings panel", `!!document.querySelector('#settings-panel')`, 5*time.Second)
	b.do(t, "tap outside", chromedp.Click(chromedp.CSS(".side-head")))
	b.wait(t, "closed by an outside tap", `!document.querySelector('#settings-panel')`, 5*time.Second)

	// Sign out everywhere ends alice's other sessions too (here: a script's), not bob's.
	other := signIn(t, srv.URL, "alice", alicePass)
	bob := signIn(t, srv.URL, "bob", bobPass)
	if code := other.do("GET", "/api/me", nil, nil); code != 200 {
		t.Fatalf("second session: /api/me %d", code)
	}
	b.do(t, "open settings", chromedp.Click(chromedp.CSS(`.settings button[aria-label="Settings"]`)))
	b.clickText(t, "#settings-panel button", "Sign out everywhere")
	b.wait(t, "signed out here", `!!document.querySelector('input[name=password]')`, 10*time.Second)
	if code := other.do("GET", "/api/me", nil, nil); code != 401 {
		t.Errorf("alice's other session after sign-out everywhere: /api/me %d, want 401", code)
	}
	if code := bob.do("GET", "/api/me", nil, nil); code != 200 {
		t.Errorf("bob's session after alice signed out everywhere: /api/me %d, want 200", code)
	}
	b.noConsoleProblems(t)
}

// Performance: streaming a long Markdown reply (about 2,000 words with headings, lists, code
// blocks and tables, from the scripted model's [doc=N]) at 4× CPU slowdown must not block the
// main thread: from the moment the reply appears ("Thinking…") until its last block is drawn
// (the end of the run's final burst included), no task may take over longTaskLimitMS
// (PerformanceObserver "longtask" reports the tasks over 50 ms).
//
// The target, 50 ms, is a performance figure: `make lighthouse` (build tag lighthouse, run on a
// quiet machine) asserts it. The normal suite (`make test`, CI on a loaded machine) logs the
// figures and fails only beyond 250 ms, the size of a whole-reply re-render, so that a
// renderer regression still fails it while the machine's load cannot (perf_limit_test.go).
//
// The machine is shared: other processes on its two cores can stretch any task past 50 ms (a
// 10 ms draw was seen taking 57 ms at a load average of 10), never shorten one. So the best of
// up to longTaskAttempts replies counts, each in a new conversation; the app's own long tasks
// show in every attempt (the renderer before this test's fix had two or more in each reply on
// an idle machine). The Markdown draws (user-timing "clawchat:markdown"), the long animation
// frames (script and style/layout) and the load average are logged for each attempt.
func TestBrowserPhoneStreamingLongTasks(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	b.do(t, "4× CPU slowdown", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: 4})
		return err
	}))
	b.eval(t, `(() => {
		window.__lt = []; window.__start = 0; window.__md = []; window.__loaf = [];
		new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__lt.push([e.startTime, e.duration]); }).observe({type: 'longtask'});
		new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.name === 'clawchat:markdown') window.__md.push([e.startTime, e.duration]); }).observe({type: 'measure'});
		try {
			new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__loaf.push([e.startTime, e.duration,
				e.scripts.reduce((a, x) => a + x.duration, 0), e.styleAndLayoutStart ? e.startTime + e.duration - e.styleAndLayoutStart : 0,
				e.scripts.filter((x) => x.duration >= 5).map((x) => x.invoker + ' ' + Math.round(x.duration)).join(', ')]); }).observe({type: 'long-animation-frame'});
		} catch {}
		new MutationObserver(() => {
			if (!window.__start && document.querySelector('.msg.assistant')) window.__start = performance.now();
		}).observe(document.body, {subtree: true, childList: true});
		return true; })()`)
	var fewest float64 = -1
	for attempt := 1; attempt <= longTaskAttempts && fewest != 0; attempt++ {
		if attempt > 1 {
			b.eval(t, `location.hash = '#/', true`)
			b.wait(t, "landing view", `!!document.querySelector('.welcome') && document.activeElement?.id === 'composer-input' && !document.querySelector('.msg')`, 20*time.Second)
			b.eval(t, `(window.__start = 0, true)`)
		}
		load := loadAverage()
		b.do(t, "type", chromedp.SendKeys(chromedp.CSS("#composer-input"), "perf [doc=2000] [delay=4]"))
		b.do(t, "tap Send", chromedp.Click(chromedp.CSS(".composer .send")))
		b.wait(t, "the whole document", `!!window.__start && !document.querySelector('.msg.streaming') && !document.querySelector('.composer .stop') &&
			document.querySelectorAll('.msg.assistant .md table').length >= 20 && document.querySelectorAll('.msg.assistant .md .codeblock').length >= 20`, 180*time.Second)
		// The final burst may still be drawing: wait until no draw has run for a second.
		b.wait(t, "the last draw", `(() => { const d = window.__md[window.__md.length - 1]; return !!d && performance.now() - d[0] - d[1] > 1000; })()`, 60*time.Second)
		res := b.eval(t, `(() => { const inRun = ([s]) => s >= window.__start - 50;
			const lt = window.__lt.filter(inRun), md = window.__md.filter(inRun), lf = window.__loaf.filter(inRun);
			return [lt.filter(([, d]) => d > `+strconv.Itoa(longTaskLimitMS)+`).length, Math.max(0, ...lt.map(([, d]) => d)), performance.now() - window.__start, document.querySelector('.msg.assistant .md').textContent.split(/\s+/).length,
				md.length, Math.max(0, ...md.map(([, d]) => d)),
				lf.map(([s, d, js, sl, who]) => Math.round(s - window.__start) + 'ms: ' + Math.round(d) + ' ms (script ' + Math.round(js) + (who ? ' [' + who + ']' : '') + ', style+layout ' + Math.round(sl) + ')').join('; ')]; })()`).([]any)
		n, longest, dur, words, draws, slowest := res[0].(float64), res[1].(float64), res[2].(float64), res[3].(float64), res[4].(float64), res[5].(float64)
		t.Logf("attempt %d (load average %s → %s): streaming %.0f words took %.1f s at 4× slowdown: %.0f Markdown draws, slowest %.0f ms; %.0f tasks over %d ms, longest task %.0f ms",
			attempt, load, loadAverage(), words, dur/1000, draws, slowest, n, longTaskLimitMS, longest)
		t.Logf("attempt %d: long animation frames (over 50 ms): %s", attempt, res[6])
		if fewest < 0 || n < fewest {
			fewest = n
		}
	}
	if fewest > 0 {
		t.Errorf("tasks over %d ms while streaming in each of %d replies (at least %.0f): want a reply with none", longTaskLimitMS, longTaskAttempts, fewest)
	}
	b.noConsoleProblems(t)
}

// longTaskAttempts is how many replies TestBrowserPhoneStreamingLongTasks measures at most.
const longTaskAttempts = 3

// loadAverage is the host's 1-minute load average (for the logs), or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// Item 10: a local account changes its password in settings: the current password is asked
// again, the other sessions end, this browser stays signed in. Accounts whose password the
// configuration sets (CLAWCHAT_LOCAL_USERS, like alice) are told so.
func TestBrowserPhoneChangePassword(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	const carolPass, carolNew = "carol-first-password-1", "carol-second-password-2"
	srv.stop()
	add := exec.Command(srv.bin, "user", "add", "carol")
	add.Env = srv.env
	add.Stdin = strings.NewReader(carolPass + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("clawchat user add carol: %v\n%s", err, out)
	}
	srv.start()

	other := signIn(t, srv.URL, "carol", carolPass)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "carol", carolPass)
	openPassword := func() {
		b.do(t, "open the list", chromedp.Click(chromedp.CSS(".topbar .menu")))
		b.wait(t, "list open", `getComputedStyle(document.querySelector('.sidebar')).transform === 'none'`, 5*time.Second)
		b.do(t, "open settings", chromedp.Click(chromedp.CSS(`.settings button[aria-label="Settings"]`)))
		b.clickText(t, "#settings-panel button", "Change password")
		b.wait(t, "password form", `!!document.querySelector('#pw-cur')`, 5*time.Second)
	}
	openPassword()
	b.do(t, "wrong current password",
		chromedp.SendKeys(chromedp.CSS("#pw-cur"), "not-my-password-at-all"),
		chromedp.SendKeys(chromedp.CSS("#pw-new"), carolNew),
		chromedp.SendKeys(chromedp.CSS("#pw-again"), carolNew),
		chromedp.Click(chromedp.CSS(".pw-form button[type=submit]")))
	b.wait(t, "refused", `document.querySelector('.pw-form .error')?.textContent === 'The current password is wrong.'`, 10*time.Second)
	if code := other.do("GET", "/api/me", nil, nil); code != 200 {
		t.Fatalf("a refused change ended another session: %d", code)
	}
	b.eval(t, `document.querySelector('#pw-cur').select(), true`)
	b.do(t, "right current password", chromedp.SendKeys(chromedp.CSS("#pw-cur"), carolPass), chromedp.Click(chromedp.CSS(".pw-form button[type=submit]")))
	b.wait(t, "changed", `document.querySelector('.toast')?.textContent.includes('Password changed') && !document.querySelector('.pw-form')`, 15*time.Second)
	if code := other.do("GET", "/api/me", nil, nil); code != 401 {
		t.Errorf("carol's other session after the change: /api/me %d, want 401", code)
	}
	b.wait(t, "this browser is still signed in", `fetch('/api/me').then(r => r.status === 200)`, 10*time.Second)
	signIn(t, srv.URL, "carol", carolNew) // fails the test unless the new password works

	// alice's password comes from CLAWCHAT_LOCAL_USERS: the app says so.
	a := newBrowser(t)
	a.signInPhone(t, srv.URL, "alice", alicePass)
	b = a
	openPassword()
	b.do(t, "try", chromedp.SendKeys(chromedp.CSS("#pw-cur"), alicePass),
		chromedp.SendKeys(chromedp.CSS("#pw-new"), carolNew), chromedp.SendKeys(chromedp.CSS("#pw-again"), carolNew),
		chromedp.Click(chromedp.CSS(".pw-form button[type=submit]")))
	b.wait(t, "managed account message", `document.querySelector('.pw-form .error')?.textContent.includes('server configuration')`, 10*time.Second)
	b.noConsoleProblems(t)
}
