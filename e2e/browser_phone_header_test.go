package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The phone header gives the conversation title the room: the connection state is a dot on the
// title line (announced as "Connected" in a status region), an unshared conversation has no
// share button (sharing is in the title's settings sheet), and every header button keeps a 40 px
// touch target. Once shared, the header shows the share button with the member count again.
func TestBrowserPhoneHeaderTitleRoom(t *testing.T) {
	srv := startSharedServer(t)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	title := "What can you show me about the trip to Lisbon next spring"
	conv := b.startPhoneChat(t, title, "Echo: "+title)
	b.wait(t, "the title in the header", `document.querySelector('.topbar .conv-title')?.textContent.startsWith('What can you show me')`, 10*time.Second)
	b.wait(t, "the settings line", `!!document.querySelector('.topbar .conv-info')`, 20*time.Second)

	if w := b.eval(t, `Math.round(document.querySelector('.topbar .conv-title').getBoundingClientRect().width)`).(float64); w < 260 {
		t.Errorf("the title gets %v px of the 390 px header, want at least 260", w)
	}
	if ok := b.eval(t, `(() => { const s = document.querySelector('.topbar .title-line [role=status]'); const d = s?.querySelector('.conn-dot[role=img]'); return !!d && d.getAttribute('aria-label') === 'Connected' && s.classList.contains('ok'); })()`).(bool); !ok {
		t.Error("no connection dot announced as Connected on the title line")
	}
	if shown := b.eval(t, `(() => { const s = document.querySelector('.topbar .share-btn'); return !!s && s.getClientRects().length > 0; })()`).(bool); shown {
		t.Error("an unshared conversation shows the share button on a phone")
	}
	if small := b.eval(t, `[...document.querySelectorAll('.topbar button')].filter(x => x.getClientRects().length && !x.classList.contains('conv-info')).map(x => x.getBoundingClientRect()).filter(r => r.width < 40 || r.height < 40).length`).(float64); small != 0 {
		t.Errorf("%v header buttons are smaller than 40×40 px", small)
	}

	b.do(t, "open the title's settings sheet", chromedp.Click(chromedp.CSS(".topbar .conv-info")))
	b.do(t, "tap Share", chromedp.Click(chromedp.CSS(".conv-settings .conv-share")))
	b.wait(t, "the share sheet", `!!document.querySelector('.share-sheet #share-name') && !document.querySelector('.conv-settings')`, 10*time.Second)
	b.do(t, "type the name", chromedp.SendKeys(chromedp.CSS("#share-name"), "bob"))
	b.do(t, "add", chromedp.Click(chromedp.CSS(".share-add button[type=submit]")))
	b.wait(t, "bob in the members", `[...document.querySelectorAll('.members li .who')].some(e => e.textContent.startsWith('bob'))`, 10*time.Second)
	b.do(t, "close the sheet", chromedp.Click(chromedp.CSS(`.share-sheet button[aria-label="Close"]`)))
	b.wait(t, "the shared button in the header", `(() => { const s = document.querySelector('.topbar .share-btn.shared'); return !!s && s.getClientRects().length > 0 && s.getAttribute('aria-label') === 'Shared with 1 person'; })()`, 10*time.Second)

	// The row menu in the list shares too; its sheet lies over the open list.
	b.do(t, "open the list", chromedp.Click(chromedp.CSS(".topbar .menu")))
	b.rowAction(t, fmt.Sprintf(`document.querySelector('.sidebar a[href="#/c/%s"]')?.closest('li')`, conv), "Share…")
	b.wait(t, "the share sheet on top, with bob", `(() => { const f = document.querySelector('.share-sheet #share-name'); if (!f) return false; const r = f.getBoundingClientRect(); return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === f && [...document.querySelectorAll('.members li .who')].some(e => e.textContent.startsWith('bob')); })()`, 10*time.Second)
	b.noConsoleProblems(t)
}
