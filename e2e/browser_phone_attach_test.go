package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// attachFiles puts files into the composer's file input as a picker would: a 40×30 PNG drawn on
// a canvas (so the app's metadata-stripping re-encode has a real image), a text file and an SVG
// with a script in it.
func (b *browser) attachFiles(t testing.TB) {
	t.Helper()
	b.eval(t, `(async () => {
		const c = document.createElement('canvas'); c.width = 40; c.height = 30;
		const g = c.getContext('2d'); g.fillStyle = '#c33'; g.fillRect(0, 0, 40, 30);
		const png = await new Promise((r) => c.toBlob(r, 'image/png'));
		const dt = new DataTransfer();
		dt.items.add(new File([png], 'red.png', {type: 'image/png'}));
		dt.items.add(new File(['hello attachment\n'], 'notes.txt', {type: 'text/plain'}));
		dt.items.add(new File(['<svg xmlns="http://www.w3.org/2000/svg"><script>window.parent.__svg = 1</script></svg>'], 'evil.svg', {type: 'image/svg+xml'}));
		const input = document.querySelector('.composer input[type=file]:not(.camera-input)');
		input.files = dt.files;
		input.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`)
	b.wait(t, "three attachments in the composer", `document.querySelectorAll('.att-list li').length === 3`, 10*time.Second)
}

// Item 7: a sent image shows as a thumbnail that opens full-size, in the transcript and after a
// reload (from the Gateway's media store, through clawchat's authorized media route); other
// files show as cards; an SVG is never shown inline or served as an image; another user cannot
// read the files.
func TestBrowserPhoneAttachmentsAfterReload(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	b.attachFiles(t)
	conv := b.startPhoneChat(t, "what is in this picture", "what is in this picture")

	thumb := `(() => { const i = document.querySelector('.msg.user .att-thumb img'); return !!i && i.complete && i.naturalWidth === 40 && i.naturalHeight === 30; })()`
	b.wait(t, "the image as a thumbnail while sending", thumb, 10*time.Second)

	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "history after the reload", `[...document.querySelectorAll('.msg.assistant .md')].some(e => e.textContent.includes('what is in this picture'))`, 30*time.Second)
	b.wait(t, "the image as a thumbnail after the reload", thumb+` && document.querySelector('.msg.user .att-thumb img').src.includes('/media?source=media%3A%2F%2Finbound%2F')`, 20*time.Second)
	cards := b.eval(t, `[...document.querySelectorAll('.msg.user .att-card')].map(e => e.querySelector('.att-name').textContent + '|' + e.getAttribute('href')).join('\n')`).(string)
	if !strings.Contains(cards, "notes.txt|/api/") || !strings.Contains(cards, "evil.svg|/api/") {
		t.Fatalf("file cards after reload: %q", cards)
	}
	if n := b.eval(t, `document.querySelectorAll('.msg.user img').length`); n != float64(1) {
		t.Errorf("%v images in the user message, want 1 (the SVG must be a card)", n)
	}

	b.do(t, "tap the thumbnail", chromedp.Click(chromedp.CSS(".msg.user .att-thumb")))
	b.wait(t, "the image full-size", `(() => { const i = document.querySelector('.lightbox img'); return !!i && i.complete && i.naturalWidth === 40 && i.getBoundingClientRect().width > 300; })()`, 10*time.Second)
	b.do(t, "close", chromedp.Click(chromedp.CSS(".lightbox-close")))
	b.wait(t, "closed", `!document.querySelector('.lightbox')`, 5*time.Second)

	// The files through the media route: the text file and the SVG as downloads, never inline.
	alice := signIn(t, srv.URL, "alice", alicePass)
	hrefs := strings.Split(b.eval(t, `[...document.querySelectorAll('.msg.user .att-card')].map(e => e.getAttribute('href')).join(' ')`).(string), " ")
	for _, h := range hrefs {
		res := alice.raw(t, h)
		body := res.Body
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/octet-stream" ||
			!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") || res.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("GET %s: %d %v", h, res.StatusCode, res.Header)
		}
		if strings.Contains(h, "notes") && string(body) != "hello attachment\n" {
			t.Errorf("notes.txt body %q", body)
		}
	}
	img := b.eval(t, `document.querySelector('.msg.user .att-thumb img').getAttribute('src')`).(string)
	if res := alice.raw(t, img); res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" || len(res.Body) < 60 {
		t.Errorf("GET image: %d %v", res.StatusCode, res.Header)
	}

	// Authorization: bob cannot read alice's files, not even with the right reference; alice
	// cannot read a reference that is not in the conversation's transcript.
	bob := signIn(t, srv.URL, "bob", bobPass)
	if res := bob.raw(t, img); res.StatusCode != 404 {
		t.Errorf("bob reading alice's image: %d, want 404", res.StatusCode)
	}
	src, _ := url.Parse(img)
	bobConv := "c" + strings.Repeat("b", 24)
	var created map[string]any
	bob.do("POST", "/api/sessions", map[string]string{"id": bobConv}, &created)
	if res := bob.raw(t, "/api/sessions/"+bobConv+"/media?"+src.RawQuery); res.StatusCode != 404 {
		t.Errorf("bob reading alice's image through his own conversation: %d, want 404", res.StatusCode)
	}
	other := "media://inbound/other---00000000-0000-0000-0000-000000000000.png"
	if res := alice.raw(t, fmt.Sprintf("/api/sessions/%s/media?source=%s", url.PathEscape(conv), url.QueryEscape(other))); res.StatusCode != 404 {
		t.Errorf("a reference not in the transcript: %d, want 404", res.StatusCode)
	}
	if res := alice.raw(t, fmt.Sprintf("/api/sessions/%s/media?source=%s", url.PathEscape(conv), url.QueryEscape("media://inbound/../../etc/passwd"))); res.StatusCode != 404 {
		t.Errorf("a path in the reference: %d, want 404", res.StatusCode)
	}
	if v := b.eval(t, `window.__svg === undefined`); v != true {
		t.Error("the SVG's script ran")
	}
	b.noConsoleProblems(t)
}

// rawResponse is a whole response, its body read and closed.
type rawResponse struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// raw sends a GET with the session cookie and reads the whole answer.
func (c *apiClient) raw(t testing.TB, path string) rawResponse {
	t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("Cookie", c.cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return rawResponse{res.StatusCode, res.Header, b}
}
