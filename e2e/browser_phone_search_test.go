package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Item 8 (search): the search box also finds message text, on the server (the Gateway's
// transcript index, sessions.search), only in the user's own conversations; a result opens its
// conversation at the message.
func TestBrowserPhoneMessageSearch(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	// Bob's conversation holds the same word: it must never show up for alice.
	bob := signIn(t, srv.URL, "bob", bobPass)
	bs := bob.events("")
	bconv := fmt.Sprintf("c%d", time.Now().UnixNano())
	reply(t, bob, bs, bconv, "bob's pelican secret")

	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	target := b.startPhoneChat(t, "where does the pelican sleep", "Echo: where does the pelican sleep")
	b.do(t, "new chat", chromedp.Click(chromedp.CSS(".topbar .new-top")))
	// The conversation's composer has the same id: wait for the landing view before typing.
	b.wait(t, "landing view", `(location.hash === '#/' || location.hash === '') && !!document.querySelector('.welcome') && !!document.querySelector('#composer-input')`, 10*time.Second)
	b.startPhoneChat(t, "something else entirely", "Echo: something else entirely")
	for i := range 12 { // enough to push the first messages out of view when it opens
		b.tapSend(t, fmt.Sprintf("filler %d [words=30]", i))
		b.waitReply(t, fmt.Sprintf("Echo: filler %d", i))
	}
	b.do(t, "open the list", chromedp.Click(chromedp.CSS(".topbar .menu")))
	b.do(t, "search", chromedp.SendKeys(chromedp.CSS("#search"), "Pelican"))
	b.wait(t, "message hits", `document.querySelectorAll('.search-hit a').length === 2`, 20*time.Second)
	hits := b.eval(t, `[...document.querySelectorAll('.search-hit a')].map(a => a.getAttribute('href') + ' ' + a.textContent).join('\n')`).(string)
	if strings.Contains(hits, bconv) || strings.Contains(hits, "secret") || strings.Count(hits, "#/c/"+target) != 2 || !strings.Contains(hits, "You: where does the pelican sleep") {
		t.Fatalf("hits:\n%s", hits)
	}
	// Part of a word: the Gateway's index matches whole words only (observed: "pelic" and "pelic*"
	// find nothing, see docs/api.md), so message search finds nothing and says why, while the
	// conversation list still matches the title by substring in the browser.
	b.eval(t, `(() => { const i = document.querySelector('#search'); i.value = 'Pelic'; i.dispatchEvent(new Event('input', { bubbles: true })); return true; })()`)
	b.wait(t, "title match and the whole-words note", fmt.Sprintf(`!!document.querySelector('li.conv a[href="#/c/%s"]') && document.querySelectorAll('.search-hit').length === 0 && [...document.querySelectorAll('.sidebar .empty')].some(e => e.textContent === 'No messages with these whole words')`, target), 20*time.Second)
	b.eval(t, `(() => { const i = document.querySelector('#search'); i.value = 'Pelican'; i.dispatchEvent(new Event('input', { bubbles: true })); return true; })()`)
	b.wait(t, "message hits again", `document.querySelectorAll('.search-hit a').length === 2`, 20*time.Second)
	b.eval(t, `[...document.querySelectorAll('.search-hit a')].find(a => a.textContent.includes('You:'))?.click(), true`)
	b.wait(t, "the conversation at the message", fmt.Sprintf(`location.hash === '#/c/%s' && (() => { const m = document.querySelector('.msg.found'); if (!m) return false; const r = m.getBoundingClientRect(); return m.textContent.includes('where does the pelican sleep') && r.top >= 0 && r.bottom <= innerHeight; })()`, target), 20*time.Second)

	// Over REST: only the user's own, and bad queries are refused.
	alice := signIn(t, srv.URL, "alice", alicePass)
	var res struct {
		Results []struct {
			Conversation string `json:"conversation"`
			Snippet      string `json:"snippet"`
		} `json:"results"`
	}
	if code := bob.do("GET", "/api/search?q=pelican", nil, &res); code != 200 || len(res.Results) == 0 {
		t.Fatalf("bob's search: %d %+v", code, res)
	}
	for _, r := range res.Results {
		if r.Conversation != bconv {
			t.Errorf("bob's search found %s (%q)", r.Conversation, r.Snippet)
		}
	}
	if code := alice.do("GET", "/api/search?q=secret", nil, &res); code != 200 || len(res.Results) != 0 {
		t.Errorf("alice searching for bob's word: %d %+v", code, res)
	}
	for _, q := range []string{"pelic", "pelic*", "pelicans"} { // whole words only, no stemming
		if code := alice.do("GET", "/api/search?q="+q, nil, &res); code != 200 || len(res.Results) != 0 {
			t.Errorf("alice searching for %q: %d %+v, want no hits (the Gateway matches whole words)", q, code, res)
		}
	}
	if code := alice.do("GET", "/api/search?q=x", nil, nil); code != 400 {
		t.Errorf("a one-letter search: %d, want 400", code)
	}
	b.noConsoleProblems(t)
}
