package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// fakeMicrophone is a page script that removes the Web Speech API (so the composer offers voice
// memos instead of dictation) and answers getUserMedia with a 440 Hz tone from WebAudio, so
// MediaRecorder records real Opus audio without a microphone or browser flags. window.__gum
// counts the requests; window.__tracks are the tracks handed out (to see that they are stopped).
const fakeMicrophone = `delete window.webkitSpeechRecognition; delete window.SpeechRecognition;
	if (navigator.mediaDevices) navigator.mediaDevices.getUserMedia = async (c) => {
		window.__gum = (window.__gum || 0) + 1;
		const ac = new AudioContext(); await ac.resume();
		const o = ac.createOscillator(); o.frequency.value = 440;
		const d = ac.createMediaStreamDestination(); o.connect(d); o.start();
		window.__tracks = (window.__tracks || []).concat(d.stream.getTracks());
		return d.stream;
	};`

// recordMemo taps the memo button and waits until the recording has run for at least a second.
func (b *browser) recordMemo(t testing.TB) {
	t.Helper()
	b.do(t, "tap the voice memo button", chromedp.Click(chromedp.CSS(".composer .memo")))
	b.wait(t, "recording, with the elapsed time", `(() => { const r = document.querySelector('.composer .memo-rec'); return !!r && document.querySelector('.composer .memo').getAttribute('aria-pressed') === 'true' && /^0:0[1-9] \/ 2:00$/.test(r.querySelector('.rec-time').textContent); })()`, 15*time.Second)
}

// Issue 11, voice input: where the browser has no Web Speech API but can record, the composer
// records a voice memo that is sent as an audio attachment (the Gateway accepts audio,
// docs/api.md); the transcript plays it with an <audio> player, also after a reload, from
// clawchat's media route as audio/webm.
func TestBrowserPhoneVoiceMemo(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.do(t, "no speech API, a fake microphone", onNewDocument(fakeMicrophone))
	b.signInPhone(t, srv.URL, "alice", alicePass)
	b.wait(t, "the composer is ready", `document.activeElement?.id === 'composer-input'`, 10*time.Second)
	if v := b.eval(t, `(() => { const m = document.querySelector('.composer .memo'); const r = m.getBoundingClientRect(); return !document.querySelector('.composer .mic') && m.getAttribute('aria-label') === 'Record a voice memo' && r.width >= 40 && r.height >= 40 && !window.__gum; })()`); v != true {
		t.Fatal("no 40 px voice memo button (or dictation offered, or the microphone opened before a tap)")
	}

	// Cancel throws the memo away and closes the microphone.
	b.recordMemo(t)
	if v := b.eval(t, `document.querySelector('.composer .send').disabled`); v != true {
		t.Error("Send is enabled while recording")
	}
	b.do(t, "Cancel", chromedp.Click(chromedp.CSS(".composer .memo-cancel")))
	b.wait(t, "cancelled: no bar, no attachment, the microphone closed", `!document.querySelector('.memo-rec') && !document.querySelector('.att-list') && window.__tracks.length === 1 && window.__tracks.every((t) => t.readyState === 'ended') && document.querySelector('.composer .memo').getAttribute('aria-pressed') === 'false'`, 10*time.Second)

	// Stop attaches it as an audio chip.
	b.recordMemo(t)
	b.do(t, "Stop", chromedp.Click(chromedp.CSS(".composer .memo-stop")))
	b.wait(t, "the memo as an attachment chip", `(() => { const li = document.querySelectorAll('.att-list li'); return li.length === 1 && /^voice-memo-\d{4}-\d\d-\d\d-\d{6}\.webm /.test(li[0].querySelector('.att-name').textContent) && !!li[0].querySelector('svg') && !li[0].querySelector('img') && !document.querySelector('.memo-rec') && window.__tracks.every((t) => t.readyState === 'ended'); })()`, 10*time.Second)

	b.do(t, "type a caption", chromedp.SendKeys(chromedp.CSS("#composer-input"), "listen to my memo"))
	b.do(t, "tap Send", chromedp.Click(chromedp.CSS(".composer .send")))
	b.wait(t, "the new conversation opens", `location.hash.startsWith('#/c/')`, 20*time.Second)
	b.waitReply(t, "listen to my memo")
	b.wait(t, "a player in the user's message", `!!document.querySelector('.msg.user .att-audio audio[controls]') && !document.querySelector('.att-list')`, 10*time.Second)

	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "history after the reload", `[...document.querySelectorAll('.msg.assistant .md')].some(e => e.textContent.includes('listen to my memo'))`, 30*time.Second)
	player := `document.querySelector('.msg.user .att-audio audio')`
	b.wait(t, "a player from the media route that has read the memo's metadata", `(() => { const a = `+player+`; return !!a && a.controls && a.getAttribute('src').includes('/media?source=media%3A%2F%2Finbound%2Fvoice-memo-') && a.readyState >= 1 && !a.error; })()`, 20*time.Second)
	fetched, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(async () => { const r = await fetch(`+player+`.src); const b = await r.arrayBuffer(); return r.status + ' ' + r.headers.get('content-type') + ' ' + (b.byteLength > 1000); })()`, chromedp.EvalAwaitPromise))
	if err != nil || fetched != "200 audio/webm true" {
		t.Errorf("fetching the player's source: %q %v, want 200 audio/webm (over 1000 bytes)", fetched, err)
	}
	if n := b.eval(t, `document.querySelectorAll('.msg.user .att-card, .msg.user img').length`); n != float64(0) {
		t.Errorf("%v cards or images in the user message, want only the player", n)
	}

	// The route's headers: audio as itself, never sniffed, sandboxed.
	alice := signIn(t, srv.URL, "alice", alicePass)
	src := b.eval(t, player+`.getAttribute('src')`).(string)
	res := alice.raw(t, src)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/webm" || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "inline;") ||
		res.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") ||
		!strings.HasPrefix(string(res.Body), "\x1a\x45\xdf\xa3") {
		t.Errorf("GET %s: %d %v", src, res.StatusCode, res.Header)
	}
	b.noConsoleProblems(t)
}
