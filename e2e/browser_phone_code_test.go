package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Power features: code blocks fold when long, wrap on demand and copy their text exactly.
func TestBrowserPhoneCodeBlocks(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	conv := b.startPhoneChat(t, "some code", "Echo: some code")
	var lines []string
	for i := range 40 {
		lines = append(lines, fmt.Sprintf("print(%d, 'a rather long line of code that does not fit on a phone screen at all')", i))
	}
	code := strings.Join(lines, "\n")
	injectNote(t, g, srv, conv, "Here:\n\n```python\n"+code+"\n```")
	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "code block in history", `!!document.querySelector('.msg.assistant .codeblock pre')`, 30*time.Second)

	// Folded: only the first lines show, with a button for the rest.
	if v := b.eval(t, `(() => { const c = document.querySelector('.codeblock'); return c.classList.contains('folded') && c.querySelector('pre').getBoundingClientRect().height < 400 && !!c.querySelector('button.unfold'); })()`); v != true {
		t.Fatal("a 40-line code block is not folded")
	}
	// Not wrapped: it scrolls sideways inside the screen; Wrap breaks the lines instead.
	if v := b.eval(t, `(() => { const p = document.querySelector('.codeblock pre'); return p.scrollWidth > p.clientWidth + 20 && p.getBoundingClientRect().right <= innerWidth; })()`); v != true {
		t.Error("the unwrapped code block does not scroll sideways inside the screen")
	}
	b.do(t, "wrap", chromedp.Click(chromedp.CSS(".codeblock button.wrap-code")))
	b.wait(t, "wrapped", `(() => { const p = document.querySelector('.codeblock pre'); return document.querySelector('.codeblock button.wrap-code').getAttribute('aria-pressed') === 'true' && p.scrollWidth <= p.clientWidth + 1; })()`, 5*time.Second)
	b.do(t, "unfold", chromedp.Click(chromedp.CSS(".codeblock button.unfold")))
	b.wait(t, "unfolded", `(() => { const c = document.querySelector('.codeblock'); return !c.classList.contains('folded') && !c.querySelector('button.unfold') && c.querySelector('pre').getBoundingClientRect().height > 600; })()`, 5*time.Second)
	b.captureClipboard(t)
	b.do(t, "copy", chromedp.Click(chromedp.CSS(".codeblock button.copy-code")))
	b.wait(t, "copied", fmt.Sprintf(`window.__copied === %s`, jsString(code)), 5*time.Second)
	b.noConsoleProblems(t)
}

// Power features: voice input. Where the browser has the Web Speech API the composer has a
// microphone button and what is said becomes text in the composer (Chromium's recognizer needs
// Google's servers, so the test gives the page a scripted SpeechRecognition); where the API is
// missing there is no button.
func TestBrowserPhoneDictation(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.do(t, "no speech API", onNewDocument(`delete window.webkitSpeechRecognition; delete window.SpeechRecognition;`))
	b.signInPhone(t, srv.URL, "alice", alicePass)
	if v := b.eval(t, `!document.querySelector('.composer .mic') && !window.webkitSpeechRecognition && !window.SpeechRecognition`); v != true {
		t.Fatal("a microphone button without the speech API")
	}

	b2 := newBrowser(t)
	b2.do(t, "scripted speech API", onNewDocument(`window.SpeechRecognition = window.webkitSpeechRecognition = class {
			start() { window.__rec = this; window.__started = (window.__started || 0) + 1; }
			stop() { this.onend && this.onend(); }
			abort() { this.onend && this.onend(); }
			say(parts) { this.onresult({resultIndex: 0, results: parts.map(([t, f]) => Object.assign([{transcript: t}], {isFinal: f}))}); }
		};`))
	b2.signInPhone(t, srv.URL, "alice", alicePass)
	b2.wait(t, "microphone button", `!!document.querySelector('.composer .mic')`, 10*time.Second)
	b2.do(t, "tap the microphone", chromedp.Click(chromedp.CSS(".composer .mic")))
	b2.wait(t, "listening", `window.__started === 1 && document.querySelector('.composer .mic').getAttribute('aria-pressed') === 'true'`, 5*time.Second)
	b2.eval(t, `window.__rec.say([['hello from', false]]), true`)
	b2.wait(t, "interim text in the composer", `document.querySelector('#composer-input').value === 'hello from'`, 5*time.Second)
	b2.eval(t, `window.__rec.say([['hello from my phone', true]]), true`)
	b2.wait(t, "final text in the composer", `document.querySelector('#composer-input').value === 'hello from my phone'`, 5*time.Second)
	b2.do(t, "tap again to stop", chromedp.Click(chromedp.CSS(".composer .mic")))
	b2.wait(t, "stopped", `document.querySelector('.composer .mic').getAttribute('aria-pressed') === 'false'`, 5*time.Second)
	b2.do(t, "tap Send", chromedp.Click(chromedp.CSS(".composer .send")))
	b2.wait(t, "the new conversation opens", `location.hash.startsWith('#/c/')`, 20*time.Second)
	b2.waitReply(t, "Echo: hello from my phone")
	b.noConsoleProblems(t)
	b2.noConsoleProblems(t)
}

// onNewDocument runs script in every document the page loads from now on, before its own scripts.
func onNewDocument(script string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return err
	})
}
