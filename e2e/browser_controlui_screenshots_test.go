//go:build screenshots

package e2e

import (
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// TestScreenshotsControlUI photographs OpenClaw's own Control UI, which the harness's Gateway
// serves on its port, at phone size (390×844 @2x) in light and dark, after one chat exchange,
// for docs/screenshots/controlui-mobile-*.png; then puts clawchat's and the Control UI's phone
// pictures side by side (compare-mobile-*.png). make screenshots runs it after TestScreenshots:
//
//	go test -tags screenshots -count=1 -run TestScreenshotsControlUI ./e2e/
func TestScreenshotsControlUI(t *testing.T) {
	out, err := filepath.Abs(filepath.Join("..", "docs", "screenshots"))
	if err != nil {
		t.Fatal(err)
	}
	g := ownGateway(t, ochar.Options{})
	b := newBrowser(t)
	b.reducedMotion(t)
	b.viewport(t, 390, 844, 2, true)
	b.colorScheme(t, "light")
	// The token goes in the fragment, which the UI reads and never sends in a request line.
	b.do(t, "open the Control UI", chromedp.Navigate(fmt.Sprintf("http://127.0.0.1:%d/#token=%s", g.Port, g.Token)))
	// Wait until the UI is connected and its composer enabled: under load, keys typed earlier are lost.
	b.wait(t, "Control UI chat composer", `(() => { const a = document.querySelector('textarea'); return !!a && !a.disabled && document.body.innerText.includes('Connected'); })()`, 60*time.Second)
	b.do(t, "type", chromedp.SendKeys(chromedp.CSS("textarea"), "Hello from a phone"))
	b.wait(t, "typed text", `document.querySelector('textarea').value === 'Hello from a phone'`, 10*time.Second)
	b.do(t, "send", chromedp.KeyEvent("\r"))
	// If Enter did not send (the composer was not ready for it), use its send button.
	sent := `document.body.innerText.includes('Hello from a phone')`
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](sent, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Logf("Enter did not send (%v); clicking the send button", err)
		b.eval(t, `(() => { const s = [...document.querySelectorAll('button')].find(e => /send/i.test(e.getAttribute('aria-label') || e.title || e.textContent)); s?.click(); return !!s; })()`)
	}
	b.wait(t, "reply", `document.body.innerText.includes('Echo:') && document.body.innerText.includes('output tokens')`, 60*time.Second)
	// The usage line appears before the run has fully ended: wait for the Stop button to go too.
	b.wait(t, "the run's end (no Stop button)", `![...document.querySelectorAll('button')].some(e => /stop/i.test(e.getAttribute('aria-label') || e.title || ''))`, 30*time.Second)
	for _, theme := range []string{"light", "dark"} {
		b.colorScheme(t, theme)
		b.shoot(t, filepath.Join(out, "controlui-mobile-"+theme+".png"))
		sideBySide(t, filepath.Join(out, "compare-mobile-"+theme+".png"),
			filepath.Join(out, "chat-mobile-"+theme+".png"), filepath.Join(out, "controlui-mobile-"+theme+".png"))
	}
}

// sideBySide writes the PNGs srcs next to each other, 24 px apart, into dst.
func sideBySide(t *testing.T, dst string, srcs ...string) {
	t.Helper()
	var imgs []image.Image
	w, h := 0, 0
	for _, s := range srcs {
		f, err := os.Open(s)
		if err != nil {
			t.Fatalf("side by side: %v", err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("side by side %s: %v", s, err)
		}
		imgs = append(imgs, img)
		w += img.Bounds().Dx() + 24
		h = max(h, img.Bounds().Dy())
	}
	canvas := image.NewRGBA(image.Rect(0, 0, w-24, h))
	draw.Draw(canvas, canvas.Bounds(), image.White, image.Point{}, draw.Src)
	x := 0
	for _, img := range imgs {
		draw.Draw(canvas, image.Rect(x, 0, x+img.Bounds().Dx(), img.Bounds().Dy()), img, img.Bounds().Min, draw.Src)
		x += img.Bounds().Dx() + 24
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, canvas); err != nil {
		t.Fatal(err)
	}
}
