//go:build screenshots

package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSharedScreenshots (opt-in like TestScreenshots: go test -tags screenshots -run
// TestSharedScreenshots ./e2e/) takes the shared-conversation pictures at phone size (390×844) in light
// and dark: a transcript with two senders and the share sheet.
func TestSharedScreenshots(t *testing.T) {
	out, err := filepath.Abs(filepath.Join("..", "docs", "screenshots"))
	if err != nil {
		t.Fatal(err)
	}
	srv := startSharedServer(t)
	alice, bob := newBrowser(t), newBrowser(t)
	alice.reducedMotion(t)
	alice.signIn(t, srv.URL, "alice", alicePass)
	bob.signIn(t, srv.URL, "bob", bobPass)
	alice.send(t, "Let's plan the Lisbon trip together [words=4]")
	alice.wait(t, "reply", `document.querySelectorAll('.msg.assistant').length === 1 && !document.querySelector('.msg.streaming')`, 60*time.Second)
	conv := alice.eval(t, `decodeURIComponent(location.hash.slice(4))`).(string)
	alice.share(t, "bob", "member")
	alice.share(t, "carol", "read-only")
	bob.openConv(t, conv)
	bob.send(t, "I'd like a day in Sintra [words=4]")
	alice.wait(t, "bob's message and its reply", `document.querySelectorAll('.msg.assistant').length === 2 && !document.querySelector('.msg.streaming') && !!document.querySelector('.msg.user.other .sender')`, 60*time.Second)
	alice.wait(t, "bob viewing", `!!document.querySelector('.viewers')`, 20*time.Second)
	for _, theme := range []string{"light", "dark"} {
		alice.colorScheme(t, theme)
		alice.viewport(t, 390, 844, 2, true)
		alice.scrollTranscript(t, "bottom")
		alice.shoot(t, filepath.Join(out, "shared-chat-mobile-"+theme+".png"))
		alice.do(t, "open the share sheet", chromedp.Click(chromedp.CSS(".share-btn")))
		alice.wait(t, "sheet with three people", `document.querySelectorAll('.members li').length === 3`, 10*time.Second)
		alice.shoot(t, filepath.Join(out, "shared-sheet-mobile-"+theme+".png"))
		alice.do(t, "close", chromedp.Click(chromedp.CSS(`.share-sheet button[aria-label="Close"]`)))
		alice.wait(t, "closed", `!document.querySelector('.share-sheet')`, 5*time.Second)
	}
	alice.noConsoleProblems(t)
}
