package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// Browser end-to-end tests: the real clawchat binary in front of a real OpenClaw Gateway (with
// the scripted model), driven through the embedded web app in Debian's headless Chromium. No
// browser is ever downloaded; without /usr/bin/chromium these tests fail (CI installs it).

const chromiumPath = "/usr/bin/chromium"

// buildClawchat builds cmd/clawchat into the test's temp dir (the Go build cache makes repeats
// cheap) and returns the binary's path. CLAWCHAT_E2E_BIN names a prebuilt binary to use instead
// (for example one built from a clean export while the working tree is mid-change).
func buildClawchat(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("CLAWCHAT_E2E_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "clawchat")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/clawchat/clawchat/cmd/clawchat")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build clawchat: %v\n%s", err, out)
	}
	return bin
}

// server is a clawchat process started by startServer; restart keeps its port and data.
type server struct {
	t    testing.TB
	bin  string
	env  []string
	URL  string
	log  *lockedBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

const (
	alicePass = "alice-correct-horse-1"
	bobPass   = "bob-correct-horse-22"
)

func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startServer(t testing.TB, g *ochar.Gateway) *server {
	t.Helper()
	return startServerWith(t, g, g.URL)
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "serve")
	s.cmd.Env = s.env
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start clawchat: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(90 * time.Second)
	for {
		res, err := http.Get(s.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.done:
			s.t.Fatalf("clawchat exited during startup:\n%s", s.log.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("clawchat not ready after 90s:\n%s", s.log.String())
		}
	}
}

func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func (s *server) restart() {
	s.stop()
	s.start()
}

// browser is one headless Chromium with a fresh profile; console problems are collected.
type browser struct {
	ctx      context.Context
	media    map[string]string // emulated CSS media features (screenshots)
	mu       sync.Mutex
	problems []string
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing (apt-get install chromium): %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 850),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			text := m.String()
			if m.IsException() || strings.Contains(text, "Content Security Policy") || strings.Contains(text, "Refused to") {
				b.mu.Lock()
				b.problems = append(b.problems, text)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(t testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wait polls a JavaScript predicate until it is truthy.
func (b *browser) wait(t testing.TB, what, js string, timeout time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		html, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ""`))
		b.mu.Lock()
		problems := strings.Join(b.problems, "\n")
		b.mu.Unlock()
		t.Fatalf("waiting for %s: %v\npage text:\n%s\nconsole problems:\n%s", what, err, html, problems)
	}
}

func (b *browser) eval(t testing.TB, js string) any {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](js))
	if err != nil {
		t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

func (b *browser) noConsoleProblems(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser console: %s", p)
	}
}

func (b *browser) signIn(t testing.TB, base, user, pass string) {
	t.Helper()
	b.do(t, "open sign-in page", chromedp.Navigate(base+"/"))
	b.wait(t, "sign-in form", `!!document.querySelector('form input[name=username]')`, 20*time.Second)
	b.do(t, "sign in",
		chromedp.SendKeys(chromedp.CSS("input[name=username]"), user),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), pass),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
	)
	b.wait(t, "signed-in app with a connected socket", `!!document.querySelector('.app') && !!document.querySelector('.status.ok') && !document.querySelector('.status span:not(.conn-dot)')`, 30*time.Second)
}

func (b *browser) newChat(t testing.TB) string {
	t.Helper()
	b.do(t, "new chat", chromedp.Click(chromedp.CSS(".sidebar button.new")))
	b.wait(t, "conversation route", `location.hash.startsWith('#/c/') && !!document.querySelector('#composer-input')`, 20*time.Second)
	return b.eval(t, `decodeURIComponent(location.hash.slice(4))`).(string)
}

func (b *browser) send(t testing.TB, text string) {
	t.Helper()
	b.do(t, "type and press Enter", chromedp.SendKeys(chromedp.CSS("#composer-input"), text+"\n"))
}

func TestBrowserSignInStreamReplyAndReload(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)

	b.signIn(t, srv.URL, "alice", alicePass)
	conv := b.newChat(t)
	b.send(t, "hello browser [delay=20] [words=30]")
	b.wait(t, "user message shown", `[...document.querySelectorAll('.msg.user .bubble')].some(e => e.textContent === 'hello browser [delay=20] [words=30]')`, 10*time.Second)
	b.wait(t, "streaming started", `document.querySelector('.msg.assistant .md')?.textContent.includes('Echo: hello browser')`, 60*time.Second)
	b.wait(t, "complete reply", `(() => { const m = document.querySelector('.msg.assistant'); return m && !m.classList.contains('streaming') && m.querySelector('.md').textContent.includes('w30'); })()`, 60*time.Second)
	if got := b.eval(t, `document.querySelector('.msg.assistant .md').textContent.trim()`).(string); got != "Echo: hello browser w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 w19 w20 w21 w22 w23 w24 w25 w26 w27 w28 w29 w30" {
		t.Errorf("streamed reply = %q", got)
	}
	// The conversation is in the sidebar and survives a reload from history, once.
	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "history after reload", `document.querySelectorAll('.msg.user').length === 1 && document.querySelectorAll('.msg.assistant').length === 1 && document.querySelector('.msg.assistant .md')?.textContent.includes('w30')`, 30*time.Second)
	b.wait(t, "one sidebar entry for "+conv, fmt.Sprintf(`document.querySelectorAll('.sidebar a[href="#/c/%s"]').length === 1`, conv), 20*time.Second)
	// The service worker controls the app with scope "/".
	b.wait(t, "service worker", `navigator.serviceWorker.getRegistration().then(r => r && r.scope === location.origin + '/' && !!r.active)`, 20*time.Second)
	b.noConsoleProblems(t)
}

func TestBrowserRendersHostileMarkdownInert(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	var remoteHits atomic.Int64
	tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { remoteHits.Add(1) }))
	defer tracker.Close()
	b := newBrowser(t)
	b.signIn(t, srv.URL, "alice", alicePass)
	b.newChat(t)

	// The scripted model echoes the text, so the assistant's reply carries these payloads.
	payload := `<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> ` +
		`[click](javascript:window.__pwned=3) <svg onload="window.__pwned=4"></svg> ` +
		`![pixel](` + tracker.URL + `/pixel.png) <iframe src="` + tracker.URL + `/frame"></iframe> [ok](https://example.org/x)`
	b.send(t, payload)
	// Wait for the complete reply to be rendered (markdown re-renders once per frame).
	b.wait(t, "assistant reply", `(() => { const m = document.querySelector('.msg.assistant'); return m && !m.classList.contains('streaming') && m.querySelector('.md')?.textContent.trim().endsWith('ok'); })()`, 60*time.Second)

	if v := b.eval(t, `window.__pwned === undefined`); v != true {
		t.Errorf("an assistant payload ran script (window.__pwned = %v)", b.eval(t, `window.__pwned`))
	}
	check := `(() => {
	  const md = document.querySelector('.msg.assistant .md');
	  const bad = [];
	  if (md.querySelector('script,iframe,svg,img,object,embed')) bad.push('forbidden element');
	  for (const el of md.querySelectorAll('*')) for (const a of el.attributes) if (/^on/i.test(a.name)) bad.push(el.tagName + ' ' + a.name);
	  for (const a of md.querySelectorAll('a[href]')) if (!/^(https?:|mailto:)/i.test(a.getAttribute('href'))) bad.push('href ' + a.getAttribute('href'));
	  const ok = md.querySelector('a[href="https://example.org/x"]');
	  if (!ok || ok.target !== '_blank' || ok.rel !== 'noopener noreferrer') bad.push('safe link not hardened');
	  if (!md.querySelector('button.remote-img')) bad.push('no remote image placeholder');
	  return bad.join('; ');
	})()`
	if v := b.eval(t, check); v != "" {
		t.Errorf("rendered reply is not inert: %v", v)
	}
	if n := remoteHits.Load(); n != 0 {
		t.Errorf("the browser fetched %d remote resources named by the assistant", n)
	}
	b.noConsoleProblems(t)
}

func TestBrowserStopButtonAbortsRun(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signIn(t, srv.URL, "alice", alicePass)
	b.newChat(t)
	b.send(t, "slow one [delay=100] [words=80]") // short enough that a lingering model stream cannot hold up later tests
	b.wait(t, "streaming text", `document.querySelector('.msg.assistant .md')?.textContent.includes('Echo:')`, 60*time.Second)
	b.wait(t, "stop button", `!!document.querySelector('.composer .stop')`, 10*time.Second)
	b.do(t, "press Stop", chromedp.Click(chromedp.CSS(".composer .stop")))
	b.wait(t, "stopped badge", `(() => { const m = document.querySelector('.msg.assistant'); return m && !m.classList.contains('streaming') && [...m.querySelectorAll('.badge')].some(e => e.textContent === 'stopped'); })()`, 30*time.Second)
	b.wait(t, "stop button gone", `!document.querySelector('.composer .stop')`, 10*time.Second)
	if strings.Contains(b.eval(t, `document.querySelector('.msg.assistant .md').textContent`).(string), "w80") {
		t.Error("the run finished although it was stopped")
	}
	b.noConsoleProblems(t)
}

func TestBrowserReconnectsAfterServerRestart(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signIn(t, srv.URL, "alice", alicePass)
	b.newChat(t)
	b.send(t, "before restart")
	b.wait(t, "first reply", `document.querySelector('.msg.assistant .md')?.textContent.includes('Echo: before restart') && !document.querySelector('.msg.streaming')`, 60*time.Second)

	srv.restart() // new process, new epoch: the app must resync, not lose or duplicate anything
	b.wait(t, "reconnected", `!!document.querySelector('.status.ok') && !document.querySelector('.status span:not(.conn-dot)')`, 60*time.Second)
	b.send(t, "after restart")
	b.wait(t, "second reply", `[...document.querySelectorAll('.msg.assistant .md')].some(e => e.textContent.includes('Echo: after restart')) && !document.querySelector('.msg.streaming')`, 60*time.Second)
	counts := b.eval(t, `[document.querySelectorAll('.msg.user').length, document.querySelectorAll('.msg.assistant').length].join(',')`)
	if counts != "2,2" {
		t.Errorf("after the restart the transcript has user,assistant = %v messages, want 2,2", counts)
	}
	b.noConsoleProblems(t)
}

func TestBrowserConversationsArePrivate(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	alice := newBrowser(t)
	alice.signIn(t, srv.URL, "alice", alicePass)
	conv := alice.newChat(t)
	alice.send(t, "alice secret 7731")
	alice.wait(t, "alice reply", `document.querySelector('.msg.assistant .md')?.textContent.includes('7731') && !document.querySelector('.msg.streaming')`, 60*time.Second)

	bob := newBrowser(t)
	bob.signIn(t, srv.URL, "bob", bobPass)
	bob.do(t, "open alice's conversation id", chromedp.Navigate(srv.URL+"/#/c/"+conv))
	bob.wait(t, "bob's app", `!!document.querySelector('.app') && !!document.querySelector('.status.ok')`, 30*time.Second)
	bob.wait(t, "history answer", `!document.querySelector('.transcript .hint') || !document.querySelector('.transcript .hint').textContent.includes('Loading')`, 30*time.Second)
	if txt := bob.eval(t, `document.body.innerText`).(string); strings.Contains(txt, "7731") {
		t.Error("bob's browser shows alice's message")
	}
	alice.noConsoleProblems(t)
}
