//go:build screenshots

package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestScreenshotsVoiceMemo writes docs/screenshots/voice-memo-mobile-{light,dark}.png: at phone
// size, a conversation whose user message is a voice memo (an <audio> player, from the media
// route after a reload) while the composer records the next memo. Opt-in, like TestScreenshots:
//
//	go test -tags screenshots -count=1 -run TestScreenshotsVoiceMemo ./e2e/
func TestScreenshotsVoiceMemo(t *testing.T) {
	out, err := filepath.Abs(filepath.Join("..", "docs", "screenshots"))
	if err != nil {
		t.Fatal(err)
	}
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.do(t, "no speech API, a fake microphone", onNewDocument(fakeMicrophone))
	b.reducedMotion(t)
	b.colorScheme(t, "light")
	b.signInPhone(t, srv.URL, "alice", alicePass)
	b.wait(t, "the composer is ready", `document.activeElement?.id === 'composer-input'`, 10*time.Second)
	b.recordMemo(t)
	b.do(t, "Stop", chromedp.Click(chromedp.CSS(".composer .memo-stop")))
	b.wait(t, "the memo attached", `document.querySelectorAll('.att-list li').length === 1`, 10*time.Second)
	b.do(t, "type a caption", chromedp.SendKeys(chromedp.CSS("#composer-input"), "Notes for the shopping list"))
	b.do(t, "tap Send", chromedp.Click(chromedp.CSS(".composer .send")))
	b.wait(t, "the new conversation opens", `location.hash.startsWith('#/c/')`, 20*time.Second)
	b.waitReply(t, "Notes for the shopping list")
	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "the player from the media route", `(() => { const a = document.querySelector('.msg.user .att-audio audio'); return !!a && a.getAttribute('src').startsWith('/api/') && a.readyState >= 1; })()`, 30*time.Second)
	b.wait(t, "the composer is ready", `!!document.querySelector('.composer .memo')`, 10*time.Second)
	b.recordMemo(t)
	for _, theme := range []string{"light", "dark"} {
		b.colorScheme(t, theme)
		b.viewport(t, 390, 844, 2, true)
		b.eval(t, `(() => { const m = [...document.querySelectorAll('.msg.user')].at(-1); m && m.scrollIntoView({block: 'start'}); return true; })()`)
		b.shoot(t, filepath.Join(out, "voice-memo-mobile-"+theme+".png"))
	}
	b.do(t, "Cancel", chromedp.Click(chromedp.CSS(".composer .memo-cancel")))
	b.noConsoleProblems(t)
}
