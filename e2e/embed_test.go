package e2e

// Embedding (issue 12, docs/embed.md): the example host app (examples/docs-host) frames clawchat
// in real Chromium, against the real clawchat binary, a real OpenClaw Gateway and the scripted
// model. Every "Done when" bullet of the issue has a TestEmbed… here.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/clawchat/clawchat/examples/docs-host/host"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/store"
	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// embedEnv is clawchat configured for host app "compose", and the example host serving on
// another origin.
type embedEnv struct {
	g       *ochar.Gateway
	srv     *server
	host    *host.Host
	hostURL string
	key     ed25519.PrivateKey
	dataDir string
}

func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func serveOn(t testing.TB, ln net.Listener, h http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
}

func startEmbed(t *testing.T, extraEnv ...string) *embedEnv {
	t.Helper()
	g := sharedGateway(t)
	return startEmbedWith(t, g, g.URL, extraEnv...)
}

// startEmbedWith is startEmbed with clawchat dialing gatewayURL (a proxy in front of g).
func startEmbedWith(t *testing.T, g *ochar.Gateway, gatewayURL string, extraEnv ...string) *embedEnv {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "compose.pub")
	if err := os.WriteFile(pub, host.PublicKeyPEM(key), 0o600); err != nil {
		t.Fatal(err)
	}
	hostLn := listenLoopback(t)
	hostURL := "http://" + hostLn.Addr().String()
	dataDir := t.TempDir()
	srv := startServerWith(t, g, gatewayURL, append([]string{
		"CLAWCHAT_DATA_DIR=" + dataDir,
		"CLAWCHAT_EMBED_APPS=compose",
		"CLAWCHAT_EMBED_COMPOSE_ORIGINS=" + hostURL,
		"CLAWCHAT_EMBED_COMPOSE_KEY_FILE=" + pub,
	}, extraEnv...)...)
	h := host.New(host.Config{ClawchatURL: srv.URL, App: "compose", Key: key, Users: host.DefaultUsers(), Docs: host.DefaultDocs()})
	serveOn(t, hostLn, h)
	return &embedEnv{g: g, srv: srv, host: h, hostURL: hostURL, key: key, dataDir: dataDir}
}

func (e *embedEnv) user(id string) host.User {
	for _, u := range host.DefaultUsers() {
		if u.ID == id {
			return u
		}
	}
	panic("no user " + id)
}

// embedClient is an embed session used over the API, as the frame uses it.
type embedClient struct {
	t       testing.TB
	base    string
	session string
}

// exchange posts a host token to /embed/session and returns the status and the answer.
func exchange(t testing.TB, base, token string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"token": token})
	res, err := http.Post(base+"/embed/session", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func (e *embedEnv) signIn(t testing.TB, userID string, mutate func(*host.TokenClaims)) *embedClient {
	t.Helper()
	tok, err := e.host.Sign(e.user(userID), mutate)
	if err != nil {
		t.Fatal(err)
	}
	code, out := exchange(t, e.srv.URL, tok)
	if code != http.StatusOK {
		t.Fatalf("exchange for %s: %d %v", userID, code, out)
	}
	return &embedClient{t: t, base: e.srv.URL, session: out["session"].(string)}
}

func (c *embedClient) do(method, path string, in any) (int, string) {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	req.Header.Set("Authorization", "Bearer "+c.session)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// frameEval evaluates js in the host page's clawchat frame (an isolated world of that frame:
// the same DOM, so clicks and input events reach the frame's own listeners).
func (b *browser) frameEval(t testing.TB, js string) any {
	t.Helper()
	var out any
	err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		tree, err := cdp.Call(ctx, tg, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			return err
		}
		if len(tree.FrameTree.ChildFrames) == 0 {
			return fmt.Errorf("no frame yet")
		}
		w, err := cdp.Call(ctx, tg, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{FrameID: tree.FrameTree.ChildFrames[0].Frame.ID, WorldName: "e2e"})
		if err != nil {
			return err
		}
		yes := true
		res, err := cdp.Call(ctx, tg, runtime.Evaluate, runtime.EvaluateParams{Expression: js, ContextID: w.ExecutionContextID, ReturnByValue: &yes, AwaitPromise: &yes})
		if err != nil {
			return err
		}
		if res.ExceptionDetails != nil {
			desc := res.ExceptionDetails.Text
			if res.ExceptionDetails.Exception != nil {
				desc += " " + res.ExceptionDetails.Exception.Description
			}
			return fmt.Errorf("exception: %s", desc)
		}
		if res.Result != nil && len(res.Result.Value) > 0 {
			return json.Unmarshal(res.Result.Value, &out)
		}
		return nil
	}))
	if err != nil {
		t.Fatalf("frame eval %s: %v", js, err)
	}
	return out
}

// frameWait polls a predicate in the frame.
func (b *browser) frameWait(t testing.TB, what, js string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		func() {
			defer func() { _ = recover() }()
			ok = b.tryFrameBool(js)
		}()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			text := b.tryFrameText()
			t.Fatalf("waiting in the frame for %s\nframe text:\n%s", what, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) tryFrameBool(js string) bool {
	ft := &fakeT{}
	v := b.frameEval(ft, "!!("+js+")")
	ok, _ := v.(bool)
	return ok && !ft.failed
}

func (b *browser) tryFrameText() string {
	ft := &fakeT{}
	v := b.frameEval(ft, "document.body ? document.body.innerText.slice(0, 3000) : ''")
	s, _ := v.(string)
	return s
}

// fakeT lets frameEval be polled: a failure (no frame yet) is a "not yet", not a test failure.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Fatalf(string, ...any) { f.failed = true; panic(f) }

// openHost signs userID into the host page for doc and waits for the frame's ready event.
func (e *embedEnv) openHost(t *testing.T, b *browser, userID, doc string) {
	t.Helper()
	b.do(t, "open host", chromedp.Navigate(e.hostURL+"/?doc="+doc))
	b.wait(t, "host page", `!!document.getElementById('login-`+userID+`') || !!document.getElementById('doc')`, 20*time.Second)
	if b.eval(t, `!!document.getElementById('login-`+userID+`')`) == true {
		b.do(t, "sign in at the host", chromedp.Click(chromedp.CSS("#login-"+userID)))
	}
	b.waitAcrossNavigation(t, "frame ready", `(window.hostEvents||[]).some((e) => e.name === 'ready')`, 30*time.Second)
}

// waitAcrossNavigation is wait for a predicate that becomes true after a navigation the test
// started (a form post and its redirect): evaluation errors while the page changes are retried.
func (b *browser) waitAcrossNavigation(t testing.TB, what, js string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		if err == nil && v {
			return
		}
		if time.Now().After(deadline) {
			b.wait(t, what, js, time.Second) // fails with the page text and console problems
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// frameSend types text into the frame's composer and sends it.
func (b *browser) frameSend(t testing.TB, text string) {
	t.Helper()
	b.frameWait(t, "composer enabled", `document.querySelector('.composer textarea') && !document.querySelector('.composer textarea').disabled`, 20*time.Second)
	js, _ := json.Marshal(text)
	b.frameEval(t, `(() => { const ta = document.querySelector('.composer textarea');
		ta.value = `+string(js)+`; ta.dispatchEvent(new Event('input', { bubbles: true }));
		return true; })()`)
	b.frameWait(t, "send enabled", `!document.querySelector('.composer button[type=submit]').disabled`, 5*time.Second)
	b.frameEval(t, `document.querySelector('.composer button[type=submit]').click(), true`)
}

// selectInDoc selects the first occurrence of s in the host's textarea.
func (b *browser) selectInDoc(t testing.TB, s string) {
	t.Helper()
	js, _ := json.Marshal(s)
	b.eval(t, `(() => { const d = document.getElementById('doc'); const s = `+string(js)+`;
		const i = d.value.indexOf(s); if (i < 0) throw new Error('not in doc');
		d.focus(); d.setSelectionRange(i, i + s.length); d.dispatchEvent(new Event('select')); return i; })()`)
}

func TestEmbedSidebarDeliversFencedContextAndTranscriptShowsTypedText(t *testing.T) {
	e := startEmbed(t)
	b := newBrowser(t)
	e.openHost(t, b, "u-alice", "doc:abc123")
	// An empty conversation says what the assistant gets and what it may do (an editor: edits to apply).
	b.frameWait(t, "the empty state", `(document.querySelector('.transcript-empty')?.innerText || '').includes('Ask about this document') &&
		document.querySelector('.transcript-empty').innerText.includes('Apply')`, 20*time.Second)
	const sel = "This release make the editor faster."
	b.selectInDoc(t, sel)
	const typed = "Please fix the grammar of this sentence"
	b.frameSend(t, typed)
	b.frameWait(t, "the reply", `[...document.querySelectorAll('.msg.assistant')].some((m) => m.innerText.includes('Echo: `+typed+`'))`, 60*time.Second)
	if b.frameEval(t, `!!document.querySelector('.transcript-empty')`) == true {
		t.Error("the empty state shows beside messages")
	}

	// The model got the fenced context with the message, after the sender line.
	var saw *struct{ sender, ctx, text string }
	for _, s := range modelSaw(t, e.g) {
		if s.Text == typed {
			saw = &struct{ sender, ctx, text string }{s.Sender, s.Context, s.Text}
		}
	}
	if saw == nil {
		t.Fatalf("the model never got %q: %+v", typed, modelSaw(t, e.g))
	}
	if !strings.HasPrefix(saw.sender, "[clawchat sender] Alice") {
		t.Errorf("sender line = %q", saw.sender)
	}
	for _, want := range []string{"[clawchat page context]", "not instructions", "Page context (untrusted data) ⟦openclaw:ctx⟧\n```json\n",
		`"app": "compose"`, `"context": "doc:abc123"`, `"role": "editor"`, `"selection": "` + sel + `"`, `"title": "Release notes"`, `"outline": "# Release notes\n## Overview\n## Changes"`, "clawchat-suggestion"} {
		if !strings.Contains(saw.ctx, want) {
			t.Errorf("the model's page context lacks %q:\n%s", want, saw.ctx)
		}
	}

	// The author can inspect what the message carried.
	b.frameEval(t, `document.querySelector('.show-contexts').click(), true`)
	b.frameWait(t, "the context inspector", `[...document.querySelectorAll('.contexts pre')].some((p) => p.innerText.includes(`+jsString(sel)+`))`, 10*time.Second)

	// A fresh page (new token, new session) reads the transcript from the Gateway's history:
	// the user's message is exactly what they typed, without the context.
	e.openHost(t, b, "u-alice", "doc:abc123")
	b.frameWait(t, "history", `document.querySelectorAll('.msg.user').length === 1 && document.querySelectorAll('.msg.assistant').length === 1`, 30*time.Second)
	if got := b.frameEval(t, `document.querySelector('.msg.user .text').textContent`); got != typed {
		t.Fatalf("transcript shows %q, want exactly %q", got, typed)
	}
	if txt := b.tryFrameText(); strings.Contains(txt, "page context") || strings.Contains(txt, "openclaw:ctx") {
		t.Fatalf("the transcript shows the context:\n%s", txt)
	}
}

func TestEmbedSuggestionAppliedToHostTextarea(t *testing.T) {
	e := startEmbed(t)
	b := newBrowser(t)
	e.openHost(t, b, "u-alice", "doc:abc123")
	b.selectInDoc(t, "make the editor faster")
	b.frameSend(t, "improve the selection [suggest]")
	b.frameWait(t, "a suggestion card", `!!document.querySelector('.suggestion .apply') && !document.querySelector('.suggestion .apply').disabled`, 60*time.Second)
	if got := b.frameEval(t, `document.querySelector('.suggestion-text pre').textContent`); got != "MAKE THE EDITOR FASTER" {
		t.Fatalf("suggestion text = %v", got)
	}
	if b.eval(t, `document.getElementById('doc').value.includes('MAKE THE EDITOR FASTER')`) == true {
		t.Fatal("applied before Apply was clicked")
	}
	b.frameEval(t, `document.querySelector('.suggestion .apply').click(), true`)
	b.wait(t, "the host applied it", `document.getElementById('doc').value.includes('This release MAKE THE EDITOR FASTER.')`, 10*time.Second)
	ev := b.eval(t, `JSON.stringify(window.hostEvents.find((e) => e.name === 'suggestion'))`).(string)
	var s map[string]any
	_ = json.Unmarshal([]byte(ev), &s)
	if s["anchor"] != "make the editor faster" || s["text"] != "MAKE THE EDITOR FASTER" || s["context"] != "doc:abc123" {
		t.Fatalf("suggestion event = %s", ev)
	}
	b.frameWait(t, "the card says applied", `!!document.querySelector('.suggestion-done')`, 5*time.Second)

	// A viewer of a document is told not to propose edits, and is offered no Apply.
	e.openHost(t, b, "u-alice", "doc:roadmap")
	b.selectInDoc(t, "Ship the assistant sidebar.")
	b.frameSend(t, "improve it [suggest]")
	b.frameWait(t, "a suggestion card without Apply", `!!document.querySelector('.suggestion .apply') && document.querySelector('.suggestion .apply').disabled`, 60*time.Second)
	seen := false
	for _, s := range modelSaw(t, e.g) {
		if s.Text == "improve it [suggest]" {
			seen = true
			if !strings.Contains(s.Context, `"role": "viewer"`) || !strings.Contains(s.Context, "do not propose edits") {
				t.Errorf("viewer's page context:\n%s", s.Context)
			}
		}
	}
	if !seen {
		t.Error("the model never got the viewer's message")
	}
}

func TestEmbedUngrantedUserGetsNotFound(t *testing.T) {
	e := startEmbed(t)
	alice := e.signIn(t, "u-alice", nil)
	code, body := alice.do("POST", "/api/embed/conversations", map[string]string{"context": "doc:abc123"})
	if code != http.StatusCreated {
		t.Fatalf("alice create: %d %s", code, body)
	}
	var created struct{ Conversation chat.ConversationView }
	_ = json.Unmarshal([]byte(body), &created)
	id := created.Conversation.ID
	if created.Conversation.Context == nil || created.Conversation.Context.ID != "doc:abc123" {
		t.Fatalf("created = %s", body)
	}
	if code, body := alice.do("POST", "/api/embed/conversations/"+id+"/messages", map[string]any{"text": "hello", "clientId": "m1", "context": map[string]string{"selection": "x"}}); code != http.StatusAccepted {
		t.Fatalf("alice send: %d %s", code, body)
	}

	bob := e.signIn(t, "u-bob", nil)
	// The 404 for a conversation that never existed, to compare with.
	_, never := bob.do("GET", "/api/sessions/c-neverexisted/history", nil)
	probes := []struct {
		method, path string
		in           any
	}{
		{"GET", "/api/embed/conversations?context=doc:abc123", nil},
		{"GET", "/api/sessions/" + id + "/history", nil},
		{"POST", "/api/sessions/" + id + "/send", map[string]any{"message": "x"}},
		{"POST", "/api/sessions/" + id + "/abort", map[string]any{}},
		{"PATCH", "/api/sessions/" + id, map[string]any{"title": "x"}},
		{"DELETE", "/api/sessions/" + id, nil},
		{"POST", "/api/embed/conversations/" + id + "/messages", map[string]any{"text": "x", "clientId": "b1", "context": map[string]string{"selection": "x"}}},
		{"GET", "/api/embed/conversations/" + id + "/contexts", nil},
		{"GET", "/api/reactions/" + id, nil},
	}
	for _, p := range probes {
		code, body := bob.do(p.method, p.path, p.in)
		if code != http.StatusNotFound {
			t.Errorf("bob %s %s: %d %s, want 404", p.method, p.path, code, body)
		}
		if strings.Contains(body, "doc:abc123") || strings.Contains(body, id) {
			t.Errorf("bob %s %s: the answer names the context or conversation: %s", p.method, p.path, body)
		}
	}
	if code, body := bob.do("POST", "/api/embed/conversations", map[string]string{"context": "doc:abc123"}); code != http.StatusNotFound || body != never {
		t.Errorf("bob create in doc:abc123: %d %s, want the same 404 as %s", code, body, never)
	}
	if _, body := bob.do("GET", "/api/sessions", nil); strings.Contains(body, id) {
		t.Errorf("bob's conversation list shows alice's: %s", body)
	}
	// Alice with a new token that no longer grants doc:abc123: her own conversation is 404 too.
	revoked := e.signIn(t, "u-alice", func(c *host.TokenClaims) {
		c.Contexts = []host.ContextGrant{{ID: "doc:roadmap", Role: "viewer"}}
	})
	if code, body := revoked.do("GET", "/api/sessions/"+id+"/history", nil); code != http.StatusNotFound || body != never {
		t.Errorf("alice without the grant: %d %s, want the same 404 as %s", code, body, never)
	}
	if _, body := revoked.do("GET", "/api/sessions", nil); strings.Contains(body, id) {
		t.Errorf("alice without the grant lists it: %s", body)
	}
	// Bob's frame on the host page for doc:abc123 shows nothing of it.
	b := newBrowser(t)
	e.openHost(t, b, "u-bob", "doc:abc123")
	b.frameWait(t, "not found", `!!document.querySelector('.problem')`, 20*time.Second)
	if n := b.frameEval(t, `document.querySelectorAll('.msg').length`); n != float64(0) {
		t.Fatalf("bob's frame shows %v messages", n)
	}
}

// expireEmbedSessions runs the server's cleanup of expired embed sessions on its database as of
// now, and returns how many it removed.
func (e *embedEnv) expireEmbedSessions(t *testing.T, now time.Time) int {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(e.dataDir, "clawchat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.DeleteExpiredEmbedSessions(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// events opens the session's event stream (/api/events, as the frame reads it) and returns
// what it has received so far, as a function; the stream ends with the test.
func (c *embedClient) events(t *testing.T) func() string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+c.session)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		res.Body.Close()
		t.Fatalf("events: %d", res.StatusCode)
	}
	buf := &lockedBuffer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(buf, res.Body)
	}()
	t.Cleanup(func() {
		cancel()
		res.Body.Close()
		<-done
	})
	return buf.String
}

// awaitText polls got until it contains want.
func awaitText(t *testing.T, what string, got func() string, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(got(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s (%q) in:\n%s", what, want, got())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEmbedEventsOnlyOfGrantedContexts: the live events of an embed session carry only the
// conversations of the contexts its token grants. Alice has two sessions at once (two host
// pages): one granted doc:abc123, one doc:roadmap. Her reply in doc:roadmap streams to the
// roadmap session only; the doc:abc123 session's stream gets its own conversation's reply and
// nothing of the other (before the fix it got every run event of hers).
func TestEmbedEventsOnlyOfGrantedContexts(t *testing.T) {
	e := startEmbed(t)
	grant := func(id string) func(*host.TokenClaims) {
		return func(c *host.TokenClaims) { c.Contexts = []host.ContextGrant{{ID: id, Role: "editor"}} }
	}
	doc, roadmap := e.signIn(t, "u-alice", grant("doc:abc123")), e.signIn(t, "u-alice", grant("doc:roadmap"))
	docEvents, roadmapEvents := doc.events(t), roadmap.events(t)
	create := func(c *embedClient, ctxID string) string {
		code, body := c.do("POST", "/api/embed/conversations", map[string]string{"context": ctxID})
		var out struct{ Conversation chat.ConversationView }
		if err := json.Unmarshal([]byte(body), &out); code != http.StatusCreated || err != nil {
			t.Fatalf("create in %s: %d %s", ctxID, code, body)
		}
		return out.Conversation.ID
	}
	send := func(c *embedClient, conv, text string) {
		if code, body := c.do("POST", "/api/embed/conversations/"+conv+"/messages", map[string]any{"text": text, "clientId": "m-" + conv}); code != http.StatusAccepted {
			t.Fatalf("send %q: %d %s", text, code, body)
		}
	}
	secret := create(roadmap, "doc:roadmap")
	send(roadmap, secret, "roadmap secret question")
	awaitText(t, "the roadmap reply in the roadmap session", roadmapEvents, "Echo: roadmap secret question", 60*time.Second)
	mine := create(doc, "doc:abc123")
	send(doc, mine, "abc question")
	awaitText(t, "the doc reply in the doc session", docEvents, "Echo: abc question", 60*time.Second)
	if got := docEvents(); strings.Contains(got, secret) || strings.Contains(got, "roadmap") {
		t.Fatalf("the doc:abc123 session got events of the doc:roadmap conversation %s:\n%s", secret, got)
	}
	if got := roadmapEvents(); strings.Contains(got, mine) || strings.Contains(got, "abc question") {
		t.Fatalf("the doc:roadmap session got events of the doc:abc123 conversation %s:\n%s", mine, got)
	}
}

// auditEntries reads the audit log of the server's database.
func (e *embedEnv) auditEntries(t *testing.T) []chat.AuditEntry {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(e.dataDir, "clawchat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out, err := db.Audit(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEmbedBadTokensRefusedAndAudited(t *testing.T) {
	e := startEmbed(t)
	alice := e.user("u-alice")
	sign := func(m func(*host.TokenClaims)) string {
		tok, err := e.host.Sign(alice, m)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := sign(nil)
	expired := sign(func(c *host.TokenClaims) {
		c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-10 * time.Minute))
		c.Expiry = jwt.NewNumericDate(time.Now().Add(-5 * time.Minute))
	})
	wrongAud := sign(func(c *host.TokenClaims) { c.Audience = jwt.Audience{"https://elsewhere.example.com"} })
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	other := host.New(host.Config{ClawchatURL: e.srv.URL, App: "compose", Key: otherKey})
	wrongKey, _ := other.Sign(alice, nil)
	payload, _ := json.Marshal(map[string]any{"iss": "compose", "sub": "u-alice", "aud": e.srv.URL, "name": "Alice", "jti": "none-jti-123456",
		"exp": time.Now().Add(5 * time.Minute).Unix(), "ctx": []any{map[string]string{"id": "doc:abc123", "role": "editor"}}})
	algNone := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	parts := strings.Split(sign(nil), ".")
	evil, _ := json.Marshal(map[string]any{"iss": "compose", "sub": "u-bob", "aud": e.srv.URL, "name": "Bob", "jti": "tampered-jti-1",
		"exp": time.Now().Add(5 * time.Minute).Unix(), "ctx": []any{map[string]string{"id": "doc:abc123", "role": "editor"}}})
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(evil) + "." + parts[2]
	hsSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: host.PublicKeyPEM(e.key)}, nil)
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	claims["jti"] = "confused-jti-1"
	confused, err := jwt.Signed(hsSigner).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}

	if code, out := exchange(t, e.srv.URL, valid); code != http.StatusOK {
		t.Fatalf("valid token: %d %v", code, out)
	}
	cases := []struct{ name, tok, reason, says string }{
		{"replayed", valid, "replayed", "already used"},
		{"expired", expired, "expired", "expired"},
		{"wrong audience", wrongAud, "wrong_audience", "aud"},
		{"wrong key", wrongKey, "bad_signature", "signature"},
		{"alg none", algNone, "bad_algorithm", `"none"`},
		{"tampered", tampered, "bad_signature", "signature"},
		{"HS256 keyed with the public key", confused, "bad_algorithm", "HS256"},
	}
	for _, c := range cases {
		code, out := exchange(t, e.srv.URL, c.tok)
		errObj, _ := out["error"].(map[string]any)
		if code != http.StatusUnauthorized || errObj["code"] != "token_"+c.reason || !strings.Contains(fmt.Sprint(errObj["message"]), c.says) {
			t.Errorf("%s: %d %v; want 401 token_%s saying %q", c.name, code, out, c.reason, c.says)
		}
	}
	var accepted int
	refused := map[string]int{}
	for _, a := range e.auditEntries(t) {
		switch a.Action {
		case "embed.token.accepted":
			accepted++
			if a.Target != "compose:u-alice" || a.Actor == "" {
				t.Errorf("accepted entry = %+v", a)
			}
		case "embed.token.refused":
			reason, _, _ := strings.Cut(strings.TrimPrefix(a.Detail, "reason="), " ")
			refused[reason]++
		}
		if strings.Contains(a.Detail, parts[2]) {
			t.Errorf("an audit entry holds a token signature: %+v", a)
		}
	}
	if accepted != 1 {
		t.Errorf("accepted audit entries = %d, want 1", accepted)
	}
	want := map[string]int{"replayed": 1, "expired": 1, "wrong_audience": 1, "bad_signature": 2, "bad_algorithm": 2}
	for r, n := range want {
		if refused[r] != n {
			t.Errorf("refused audit entries for %s = %d, want %d (all: %v)", r, refused[r], n, refused)
		}
	}
}

func TestEmbedFrameOnlyOnConfiguredOrigins(t *testing.T) {
	e := startEmbed(t)
	// Headers: /embed for compose names only the host's origin; everything else stays 'none'.
	for _, c := range []struct{ path, want string }{
		{"/embed?app=compose", "frame-ancestors " + e.hostURL},
		{"/embed?app=other", "frame-ancestors 'none'"},
		{"/", "frame-ancestors 'none'"},
		{"/api/health", "frame-ancestors 'none'"},
	} {
		res, err := http.Get(e.srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, c.want+";") && !strings.HasSuffix(csp, c.want) {
			t.Errorf("%s: CSP %q, want %q", c.path, csp, c.want)
		}
	}
	// A page on another (unconfigured) origin frames /embed: Chromium refuses to show it.
	evilLn := listenLoopback(t)
	evilURL := "http://" + evilLn.Addr().String()
	serveOn(t, evilLn, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>evil</title><iframe id="f" src="%s/embed?app=compose"></iframe>`, e.srv.URL)
	}))
	frameURL := func(b *browser) (string, string) {
		var url, unreachable string
		b.do(t, "frame tree", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			tree, err := cdp.Call(ctx, tg, page.GetFrameTree, cdp.Empty{})
			if err != nil {
				return err
			}
			if len(tree.FrameTree.ChildFrames) != 1 {
				return fmt.Errorf("%d child frames", len(tree.FrameTree.ChildFrames))
			}
			f := tree.FrameTree.ChildFrames[0].Frame
			url, unreachable = f.URL, f.UnreachableURL
			return nil
		}))
		return url, unreachable
	}
	b := newBrowser(t)
	b.do(t, "open the unconfigured origin", chromedp.Navigate(evilURL))
	b.wait(t, "the framing was refused", `true`, time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		url, unreachable := frameURL(b)
		if strings.HasPrefix(url, "chrome-error:") || unreachable != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the frame on %s loaded %q (unreachable %q); it must be refused", evilURL, url, unreachable)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.mu.Lock()
	refusedMsg := strings.Join(b.problems, "\n")
	b.mu.Unlock()
	if !strings.Contains(refusedMsg, "frame-ancestors") {
		t.Errorf("no frame-ancestors refusal on the console: %q", refusedMsg)
	}
	// The configured host's page frames it.
	b2 := newBrowser(t)
	e.openHost(t, b2, "u-alice", "doc:abc123")
	if url, unreachable := frameURL(b2); !strings.HasPrefix(url, e.srv.URL+"/embed") || unreachable != "" {
		t.Fatalf("the configured host's frame: %q (unreachable %q)", url, unreachable)
	}
	b2.noConsoleProblems(t)
}

func TestEmbedProgressAndReadOnlyWhileGatewayUnreachable(t *testing.T) {
	g := sharedGateway(t)
	p := newCutProxy(t, strings.TrimPrefix(g.URL, "ws://"))
	e := startEmbedWith(t, g, "ws://"+p.addr())
	b := newBrowser(t)
	e.openHost(t, b, "u-alice", "doc:abc123")
	b.frameWait(t, "a writable composer", `document.querySelector('.composer textarea') && !document.querySelector('.composer textarea').disabled && !document.querySelector('.banner')`, 20*time.Second)
	// The agent's progress shows while it answers.
	b.frameSend(t, "a slow answer [delay=120] [words=30]")
	b.frameWait(t, "the typing indicator", `!!document.querySelector('.typing')`, 30*time.Second)
	b.frameWait(t, "the reply, and no indicator", `!document.querySelector('.typing') && [...document.querySelectorAll('.msg.assistant')].some((m) => m.innerText.includes('w30'))`, 60*time.Second)
	p.cut()
	b.frameWait(t, "the read-only state", `document.querySelector('.embed').dataset.state === 'read-only' && !!document.querySelector('.banner') && document.querySelector('.composer textarea').disabled`, 60*time.Second)
	p.restore()
	b.frameWait(t, "writable again", `document.querySelector('.embed').dataset.state === 'ready' && !document.querySelector('.composer textarea').disabled`, 90*time.Second)
}

func TestEmbedSessionExpiryAsksHostForNewToken(t *testing.T) {
	const ttl = 10 * time.Minute
	e := startEmbed(t, "CLAWCHAT_EMBED_SESSION_TTL="+ttl.String())
	b := newBrowser(t)
	e.openHost(t, b, "u-alice", "doc:abc123")
	b.frameWait(t, "a writable composer", `document.querySelector('.composer textarea') && !document.querySelector('.composer textarea').disabled`, 20*time.Second)
	// The session's TTL passes, without waiting for it: the server's own cleanup of expired embed
	// sessions, run with a clock past the TTL, removes the frame's session. (That a session still
	// stored but past its expiry is refused is embed's TestRevalidateEndsWithTheSessionOrTheAccount,
	// with an injected clock.)
	if n := e.expireEmbedSessions(t, time.Now().Add(ttl+time.Minute)); n != 1 {
		t.Fatalf("%d embed sessions expired, want the frame's one", n)
	}
	// The host page's clock moves on by as much (its loader asks the host for a token at most
	// every 5 s, counted from the first one).
	b.eval(t, `(() => { const now = Date.now; Date.now = () => now.call(Date) + `+fmt.Sprint((ttl+time.Minute).Milliseconds())+`; return true; })()`)
	b.frameSend(t, "are you there")
	b.wait(t, "unauthorized, then ready again with a new token", `(() => { const ev = window.hostEvents.map((e) => e.name);
		const u = ev.indexOf('unauthorized'); return u > 0 && ev.indexOf('ready', u) > u; })()`, 30*time.Second)
	ev := b.eval(t, `JSON.stringify(window.hostEvents.find((e) => e.name === 'unauthorized'))`).(string)
	if !strings.Contains(ev, `"code":"unauthorized"`) {
		t.Errorf("unauthorized event = %s", ev)
	}
	// The new session works.
	b.frameSend(t, "still there")
	b.frameWait(t, "the reply", `[...document.querySelectorAll('.msg.assistant')].some((m) => m.innerText.includes('Echo: still there'))`, 60*time.Second)
}

// TestEmbedSharedContextConversation: the host grants doc:team shared to Alice and Bob; their
// two browsers open one conversation for it (Alice first: she creates it; Bob's token makes him a
// participant). Alice sends; Bob's sidebar shows her message with her name and the reply while it
// streams. A token without the grant gets the 404 of a conversation that does not exist, and the
// grant is in the audit log.
func TestEmbedSharedContextConversation(t *testing.T) {
	e := startEmbed(t)
	alice, bob := newBrowser(t), newBrowser(t)
	e.openHost(t, alice, "u-alice", "doc:team")
	alice.frameWait(t, "alice's conversation", `!!document.querySelector('.show-contexts')`, 20*time.Second)
	e.openHost(t, bob, "u-bob", "doc:team")
	bob.frameWait(t, "bob's conversation", `!!document.querySelector('.show-contexts')`, 20*time.Second)

	const typed = "what is in the team notes [delay=150] [words=20]"
	alice.frameSend(t, typed)
	const echo = "Echo: what is in the team notes"
	bob.frameWait(t, "alice's message in bob's sidebar", `[...document.querySelectorAll('.msg.user.other')].some((m) =>
		m.querySelector('.sender')?.textContent === 'Alice' && m.querySelector('.text')?.textContent.includes('what is in the team notes'))`, 30*time.Second)
	bob.frameWait(t, "the reply streaming in bob's sidebar", `[...document.querySelectorAll('.msg.assistant')].some((m) =>
		m.innerText.includes(`+jsString(echo)+`) && m.innerText.includes('w3') && !m.innerText.includes('w20'))`, 60*time.Second)
	bob.frameWait(t, "the whole reply in bob's sidebar", `[...document.querySelectorAll('.msg.assistant')].some((m) => m.innerText.includes('w20'))`, 60*time.Second)
	alice.frameWait(t, "the whole reply in alice's sidebar", `[...document.querySelectorAll('.msg.assistant')].some((m) => m.innerText.includes('w20'))`, 60*time.Second)
	for name, b := range map[string]*browser{"alice": alice, "bob": bob} {
		if n := b.frameEval(t, `[document.querySelectorAll('.msg.user').length, document.querySelectorAll('.msg.assistant').length]`); fmt.Sprint(n) != "[1 1]" {
			t.Fatalf("%s's sidebar shows %v user and assistant messages, want alice's one and its reply", name, n)
		}
	}

	// Over the API: both list the same one conversation; a token without the grant gets 404.
	id := sharedConversationOf(t, e, "u-alice")
	if got := sharedConversationOf(t, e, "u-bob"); got != id {
		t.Fatalf("bob's shared conversation %q, alice's %q", got, id)
	}
	carol := e.signIn(t, "u-bob", func(c *host.TokenClaims) {
		c.Subject, c.Name = "u-carol", "Carol"
		c.Contexts = []host.ContextGrant{{ID: "doc:roadmap", Role: "editor", Shared: true}}
	})
	_, never := carol.do("GET", "/api/sessions/c-neverexisted/history", nil)
	for _, p := range []struct{ method, path string }{
		{"GET", "/api/embed/conversations?context=doc:team"},
		{"GET", "/api/sessions/" + id + "/history"},
	} {
		if code, body := carol.do(p.method, p.path, nil); code != http.StatusNotFound || body != never {
			t.Errorf("carol %s %s: %d %s, want the same 404 as %s", p.method, p.path, code, body, never)
		}
	}
	// Bob with a new token that no longer grants doc:team: 404 too, though he takes part.
	revoked := e.signIn(t, "u-bob", func(c *host.TokenClaims) {
		c.Contexts = []host.ContextGrant{{ID: "doc:roadmap", Role: "editor"}}
	})
	if code, body := revoked.do("GET", "/api/sessions/"+id+"/history", nil); code != http.StatusNotFound || body != never {
		t.Errorf("bob without the grant: %d %s, want the same 404 as %s", code, body, never)
	}

	// A viewer granted the context shared joins read-only: they read the transcript, and their
	// send is refused.
	dave := e.signIn(t, "u-bob", func(c *host.TokenClaims) {
		c.Subject, c.Name = "u-dave", "Dave"
		c.Contexts = []host.ContextGrant{{ID: "doc:team", Role: "viewer", Shared: true}}
	})
	code, body := dave.do("GET", "/api/embed/conversations?context=doc:team", nil)
	if code != http.StatusOK || !strings.Contains(body, id) || !strings.Contains(body, `"role":"read-only"`) {
		t.Fatalf("dave (viewer) lists doc:team: %d %s", code, body)
	}
	if code, body := dave.do("GET", "/api/sessions/"+id+"/history", nil); code != http.StatusOK || !strings.Contains(body, "what is in the team notes") {
		t.Fatalf("dave reads the history: %d %s", code, body)
	}
	if code, body := dave.do("POST", "/api/embed/conversations/"+id+"/messages", map[string]any{"text": "hi", "clientId": "d1"}); code != http.StatusForbidden {
		t.Fatalf("dave (read-only) sends: %d %s, want 403", code, body)
	}
	// The host makes Dave an editor: his next token's open makes him a member, and he sends.
	dave = e.signIn(t, "u-bob", func(c *host.TokenClaims) {
		c.Subject, c.Name = "u-dave", "Dave"
		c.Contexts = []host.ContextGrant{{ID: "doc:team", Role: "editor", Shared: true}}
	})
	if code, body := dave.do("GET", "/api/embed/conversations?context=doc:team", nil); code != http.StatusOK || !strings.Contains(body, `"role":"member"`) {
		t.Fatalf("dave (now an editor) opens doc:team: %d %s", code, body)
	}
	if code, body := dave.do("POST", "/api/embed/conversations/"+id+"/messages", map[string]any{"text": "dave here", "clientId": "d2"}); code != http.StatusAccepted {
		t.Fatalf("dave (member) sends: %d %s, want 202", code, body)
	}

	roles := map[string]int{}
	changed := false
	for _, a := range e.auditEntries(t) {
		if a.Action == "embed.shared.role" && a.Target == id && strings.HasSuffix(a.Detail, "from=read-only to=member") {
			changed = true
		}
		if a.Action == "embed.shared.grant" && a.Target == id {
			if !strings.Contains(a.Detail, "context=doc:team") {
				t.Errorf("grant audited as %q", a.Detail)
			}
			_, role, _ := strings.Cut(a.Detail, "role=")
			roles[role]++
		}
	}
	if fmt.Sprint(roles) != "map[member:1 read-only:1]" {
		t.Fatalf("grants of %s audited by role: %v, want bob a member and dave read-only", id, roles)
	}
	if !changed {
		t.Fatal("dave's role change is not audited (embed.shared.role from=read-only to=member)")
	}
}

// sharedConversationOf lists doc:team with a fresh token of userID and returns the one
// conversation.
func sharedConversationOf(t *testing.T, e *embedEnv, userID string) string {
	t.Helper()
	code, body := e.signIn(t, userID, nil).do("GET", "/api/embed/conversations?context=doc:team", nil)
	var out struct{ Conversations []chat.ConversationView }
	if err := json.Unmarshal([]byte(body), &out); code != http.StatusOK || err != nil || len(out.Conversations) != 1 {
		t.Fatalf("%s lists doc:team: %d %s", userID, code, body)
	}
	return out.Conversations[0].ID
}
