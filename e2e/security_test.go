package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clawchat/clawchat/internal/gateway"
)

// Issue 16 (security review), end to end: the real clawchat binary, the real OpenID provider
// (internal/testkit/oidctest) and the real OpenClaw Gateway (internal/testkit/ochar). Items 1-3: owners by
// subject and never by username; sign-out, `clawchat user role` and `clawchat user del` (another
// process) reach sockets that are already open; a demoted owner stops receiving the events of a
// Gateway session they opened while owner.

// liveWS is a browser-like /ws client that records every frame and the close code.
type liveWS struct {
	t    *testing.T
	c    *websocket.Conn
	n    int
	mu   sync.Mutex
	fr   []map[string]any
	code websocket.StatusCode // set when closed
	done chan struct{}
	res  chan map[string]any
}

func dialLive(t *testing.T, base string, jar http.CookieJar) *liveWS {
	t.Helper()
	u, _ := url.Parse(base)
	hd := http.Header{}
	var cookies []string
	for _, c := range jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	hd.Set("Cookie", strings.Join(cookies, "; "))
	hd.Set("Origin", base)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", &websocket.DialOptions{HTTPHeader: hd})
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial /ws: %v (HTTP %d)", err, status)
	}
	c.SetReadLimit(8 << 20)
	w := &liveWS{t: t, c: c, done: make(chan struct{}), res: make(chan map[string]any, 16)}
	go w.read()
	t.Cleanup(func() { c.CloseNow(); <-w.done })
	w.waitFrame("hello", func(f map[string]any) bool { return f["event"] == "hello" })
	return w
}

func (w *liveWS) read() {
	defer close(w.done)
	for {
		_, b, err := w.c.Read(context.Background())
		if err != nil {
			w.mu.Lock()
			w.code = websocket.CloseStatus(err)
			w.mu.Unlock()
			return
		}
		var f map[string]any
		_ = json.Unmarshal(b, &f)
		if f["type"] == "res" {
			w.res <- f
			continue
		}
		w.mu.Lock()
		w.fr = append(w.fr, f)
		w.mu.Unlock()
	}
}

func (w *liveWS) frames() []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]map[string]any(nil), w.fr...)
}

// waitFrame waits until an event frame matches.
func (w *liveWS) waitFrame(what string, match func(map[string]any) bool) map[string]any {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, f := range w.frames() {
			if match(f) {
				return f
			}
		}
		select {
		case <-w.done:
			w.t.Fatalf("socket closed (%v) while waiting for %s", w.code, what)
		case <-time.After(20 * time.Millisecond): // frames arrive on the reader goroutine
		}
	}
	w.t.Fatalf("no %s within 30s; frames: %v", what, w.frames())
	return nil
}

// call sends a request and returns its response (nil when the socket closed first).
func (w *liveWS) call(method string, params any) map[string]any {
	w.t.Helper()
	w.n++
	b, _ := json.Marshal(map[string]any{"type": "req", "id": "r" + strings.Repeat("x", w.n), "method": method, "params": params})
	ctx, cancel := context.WithTimeout(w.t.Context(), 30*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		return nil
	}
	select {
	case f := <-w.res:
		return f
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.t.Fatalf("%s: no answer", method)
		return nil
	}
}

// waitClosed waits (bounded) for the server to close the socket and returns the close code.
func (w *liveWS) waitClosed(within time.Duration) websocket.StatusCode {
	w.t.Helper()
	select {
	case <-w.done:
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.code
	case <-time.After(within):
		w.t.Errorf("the server did not close the socket within %s", within)
		return 0
	}
}

// openSSE opens /api/events with jar and returns a channel that receives the event names of the
// stream and is closed when the stream ends.
func openSSE(t *testing.T, base string, jar http.CookieJar) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/api/events", nil)
	res, err := (&http.Client{Jar: jar}).Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/events: %v %v", res, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	out := make(chan string, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				select {
				case out <- name:
				default:
				}
			}
		}
	}()
	return out
}

// sseEndsWith waits for the stream to end and returns its last event name.
func sseEndsWith(t *testing.T, evs <-chan string, within time.Duration) string {
	t.Helper()
	last := ""
	timeout := time.After(within)
	for {
		select {
		case name, ok := <-evs:
			if !ok {
				return last
			}
			last = name
		case <-timeout:
			t.Fatalf("the SSE stream did not end within %s", within)
		}
	}
}

// cli runs `clawchat args…` against the server's data directory, in another process.
func (st *oidcStack) cli(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), st.srv.bin, args...)
	cmd.Env = st.srv.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("clawchat %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestSecurityReviewOIDCAndOpenConnections(t *testing.T) {
	st := startOIDCStack(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("clawchat log:\n%s", st.srv.log.String())
		}
	})

	t.Run("an IdP user who picks an owner's username is a member", func(t *testing.T) {
		// Repro of the review: sub mallory-sub, preferred_username alice, group staff, against
		// CLAWCHAT_OWNERS=alice. It signed in as owner.
		status, u := st.me(t, st.signInOK(t, "mallory-sub"))
		if status != http.StatusOK || u.Role != "member" {
			t.Fatalf("mallory (preferred_username alice): /api/me %d %+v, want a member", status, u)
		}
		if u.Name == "alice" {
			t.Errorf("the IdP user got the username alice, reserved by CLAWCHAT_OWNERS for the local account")
		}
		// The operator was told at start that CLAWCHAT_OWNERS no longer reaches OIDC users.
		st.waitLog(t, "does not make OIDC users owners")
		// The local alice is still the owner and a different account.
		local := signIn(t, st.srv.URL, "alice", alicePass)
		if id := userID(t, local); id == u.ID {
			t.Fatal("the IdP user was linked to the local alice")
		}
	})

	t.Run("an owner named by subject is an owner", func(t *testing.T) {
		if status, u := st.me(t, st.signInOK(t, "sam-sub")); status != http.StatusOK || u.Role != "owner" {
			t.Fatalf("sam (CLAWCHAT_OIDC_OWNER_SUBJECTS): /api/me %d %+v, want an owner", status, u)
		}
	})

	t.Run("sign-out closes the session's open WebSocket and SSE stream at once", func(t *testing.T) {
		jar := st.signInOK(t, "ann")
		ws := dialLive(t, st.srv.URL, jar)
		if r := ws.call("subscribe", map[string]any{}); r == nil || r["ok"] != true {
			t.Fatalf("subscribe: %v", r)
		}
		sse := openSSE(t, st.srv.URL, jar)
		// The same person signed in on another device keeps that device's socket.
		other := dialLive(t, st.srv.URL, st.signInOK(t, "ann"))
		req, _ := http.NewRequest(http.MethodPost, st.srv.URL+"/logout", nil)
		req.Header.Set("Origin", st.srv.URL)
		res, err := (&http.Client{Jar: jar}).Do(req)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("POST /logout: %v %v", res, err)
		}
		res.Body.Close()
		// POST /logout answers after this instance re-checked the user's connections.
		if code := ws.waitClosed(2 * time.Second); code != 4401 {
			t.Fatalf("close code %d, want 4401 (session ended)", code)
		}
		if last := sseEndsWith(t, sse, 5*time.Second); last != "session.ended" {
			t.Fatalf("SSE stream ended after %q, want session.ended", last)
		}
		if r := other.call("conversations.list", map[string]any{}); r == nil || r["ok"] != true {
			t.Fatalf("ann's other session lost its socket: %v", r)
		}
	})

	t.Run("a demotion by the CLI reaches the open socket and Gateway session events stop", func(t *testing.T) {
		g := sharedGateway(t)
		direct := startClient(t, g.URL, g.Token) // another channel writing to the Gateway session
		direct.waitState(connectTimeout, gateway.StateConnected)
		key := sessionKey(t)
		gwID := "gw:" + key
		sendDirect := func(msg string) string {
			runID := newRunID()
			if _, err := direct.ChatSend(ctxT(t, 30*time.Second), gateway.ChatSendParams{SessionKey: key, Message: msg, IdempotencyKey: runID}); err != nil {
				t.Fatalf("chat.send: %v", err)
			}
			direct.waitTerminal(runTimeout, runID)
			// The session is idle once the agent's lifecycle ended: a message sent before that
			// would join this turn instead of starting its own.
			direct.waitFor(30*time.Second, "agent lifecycle end", func(ev []gateway.Event, _ []gateway.Status) bool {
				for _, a := range agentEvents(ev, runID) {
					if a.Stream == "lifecycle" && a.Phase() == "end" {
						return true
					}
				}
				return false
			})
			return runID
		}
		sendDirect("create the session")

		jar := st.signInOK(t, "olga") // owner through the admins group
		ws := dialLive(t, st.srv.URL, jar)
		ws.call("subscribe", map[string]any{})
		if r := ws.call("history", map[string]any{"conversation": gwID}); r == nil || r["ok"] != true {
			t.Fatalf("owner opening %s: %v", gwID, r)
		}
		// Control: while owner, a run from another channel reaches olga.
		first := sendDirect("while owner")
		ws.waitFrame("run.final of the Gateway session while owner", func(f map[string]any) bool {
			p, _ := f["payload"].(map[string]any)
			return f["event"] == "run.final" && p["runId"] == first
		})

		if out := st.cli(t, "user", "role", "olga", "member"); !strings.Contains(out, "now member") {
			t.Fatalf("clawchat user role: %s", out)
		}
		// The server polls the change feed every second.
		if code := ws.waitClosed(10 * time.Second); code != 4012 {
			t.Errorf("close code %d, want 4012 (account changed)", code) // go on: item 3 below
		}
		again := dialLive(t, st.srv.URL, jar)
		hello := again.waitFrame("hello", func(f map[string]any) bool { return f["event"] == "hello" })
		if u, _ := hello["payload"].(map[string]any)["user"].(map[string]any); u["role"] != "member" {
			t.Fatalf("hello after the demotion: %v, want role member", hello["payload"])
		}
		again.call("subscribe", map[string]any{})
		if r := again.call("approvals.list", map[string]any{}); r == nil || r["ok"] == true {
			t.Fatalf("approvals.list as a demoted owner: %v, want refused", r)
		}
		second := sendDirect("after the demotion: secret text")
		// The Gateway sends one session's runs in order on clawchat's single connection: once a
		// later run of an owner (oscar) in the same session has reached oscar, clawchat has handled
		// every event of the run above.
		sam := dialLive(t, st.srv.URL, st.signInOK(t, "oscar"))
		sam.call("subscribe", map[string]any{})
		if r := sam.call("send", map[string]any{"conversation": gwID, "id": "sam-1", "text": "marker"}); r == nil || r["ok"] != true {
			t.Fatalf("sam's send: %v", r)
		}
		sam.waitFrame("oscar's run.final", func(f map[string]any) bool {
			p, _ := f["payload"].(map[string]any)
			return f["event"] == "run.final" && p["conversation"] == gwID
		})
		again.call("ping", map[string]any{})
		for _, f := range again.frames() {
			b, _ := json.Marshal(f)
			if strings.Contains(string(b), second) || strings.Contains(string(b), "secret text") || strings.Contains(string(b), gwID) {
				t.Fatalf("the demoted owner received %s", b)
			}
		}
	})

	t.Run("deleting the user by the CLI ends their open socket", func(t *testing.T) {
		jar := st.signInOK(t, "bea")
		ws := dialLive(t, st.srv.URL, jar)
		ws.call("subscribe", map[string]any{})
		st.cli(t, "user", "del", "bea")
		if code := ws.waitClosed(10 * time.Second); code != 4401 {
			t.Fatalf("close code %d, want 4401", code)
		}
		if status, _ := st.me(t, jar); status != http.StatusUnauthorized {
			t.Fatalf("/api/me after deletion: %d, want 401", status)
		}
	})
}

// Issue 16 item 2, across instances: a sign-out on instance A closes the same session's socket and
// SSE stream held by instance B (the store's change feed, polled every second).
func TestSignOutReachesOtherInstance(t *testing.T) {
	a, b := startPair(t)
	onA := signIn(t, a.URL, "alice", alicePass)
	jar, _ := cookiejar.New(nil)
	name, value, _ := strings.Cut(onA.cookie, "=")
	for _, base := range []string{a.URL, b.URL} {
		u, _ := url.Parse(base)
		jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value}})
	}
	ws := dialLive(t, b.URL, jar)
	if r := ws.call("conversations.list", map[string]any{}); r == nil || r["ok"] != true {
		t.Fatalf("conversations.list on B: %v", r)
	}
	sse := openSSE(t, b.URL, jar)
	if st := onA.do("POST", "/logout", nil, nil); st != http.StatusOK {
		t.Fatalf("POST /logout on A: %d", st)
	}
	if code := ws.waitClosed(10 * time.Second); code != 4401 {
		t.Fatalf("B's socket: close code %d, want 4401", code)
	}
	if last := sseEndsWith(t, sse, 10*time.Second); last != "session.ended" {
		t.Fatalf("B's SSE stream ended after %q, want session.ended", last)
	}
}

// Issue 16 item 2, in the browser: when the session is revoked while the app is open (here by
// `clawchat user passwd` in another process), the server closes the socket with 4401 and the app
// shows the sign-in page instead of reconnecting.
func TestBrowserGoesToSignInWhenSessionRevoked(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	b := newBrowser(t)
	b.signIn(t, srv.URL, "alice", alicePass)
	cmd := exec.CommandContext(t.Context(), srv.bin, "user", "passwd", "alice")
	cmd.Env = srv.env
	cmd.Stdin = strings.NewReader("a-new-password-for-alice-1\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clawchat user passwd: %v\n%s", err, out)
	}
	b.wait(t, "the sign-in page after the revocation", `!document.querySelector('.app') && !!document.querySelector('form input[name=username]')`, 15*time.Second)
}
