package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/httpapi"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
)

// sessions is a test double of the auth service: credential "s:<token>" → user, revocable.
type sessions struct {
	mu sync.Mutex
	m  map[string]chat.User // by token
}

func (s *sessions) set(token string, u chat.User) {
	s.mu.Lock()
	s.m[token] = u
	s.mu.Unlock()
}

func (s *sessions) revoke(token string) {
	s.mu.Lock()
	delete(s.m, token)
	s.mu.Unlock()
}

func (s *sessions) authenticate(r *http.Request) (chat.User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[r.Header.Get("X-Token")]
	return u, ok
}

func (s *sessions) credential(r *http.Request) string {
	if _, ok := s.authenticate(r); !ok {
		return ""
	}
	return "s:" + r.Header.Get("X-Token")
}

func (s *sessions) revalidate(_ context.Context, cred string) (chat.User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[strings.TrimPrefix(cred, "s:")]
	return u, ok
}

type liveEnv struct {
	srv  *httptest.Server
	api  *httpapi.API
	sess *sessions
}

func newLiveEnv(t *testing.T, maxConns int) *liveEnv {
	t.Helper()
	h := hub.New(hub.Config{})
	svc, err := bridge.New(bridge.Config{Upstream: bridgetest.NewUpstream(), Store: bridgetest.NewStore(), Publisher: h, SendRate: 1000, SendBurst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetGatewayState(bridge.StateConnected)
	e := &liveEnv{sess: &sessions{m: map[string]chat.User{}}}
	e.api = httpapi.New(httpapi.Deps{
		Bridge: svc, Hub: h, PingInterval: time.Hour, MaxConnectionsPerUser: maxConns,
		Authenticate: e.sess.authenticate, Credential: e.sess.credential, Revalidate: e.sess.revalidate,
	})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
		svc.Wait()
	})
	return e
}

func (e *liveEnv) dial(t *testing.T, token string) (*websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hd := http.Header{}
	hd.Set("X-Token", token)
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: hd})
	if err != nil {
		if res == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, res.StatusCode
	}
	t.Cleanup(func() { c.CloseNow() })
	if _, _, err := c.Read(ctx); err != nil { // hello
		t.Fatal(err)
	}
	return c, http.StatusSwitchingProtocols
}

// sse opens /api/events and returns a reader of its lines (nil and the status when refused).
func (e *liveEnv) sse(t *testing.T, token string) (*bufio.Reader, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/events", nil)
	req.Header.Set("X-Token", token)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 {
		return nil, res.StatusCode
	}
	br := bufio.NewReader(res.Body)
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "retry:") {
		t.Fatalf("first SSE line %q %v", l, err)
	}
	return br, 200
}

// sseEnd reads the stream to its end and returns the last event name.
func sseEnd(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	last := ""
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return last
		}
		if name, ok := strings.CutPrefix(strings.TrimSpace(l), "event: "); ok {
			last = name
		}
	}
}

func wsCall(t *testing.T, c *websocket.Conn, method string) (map[string]any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, _ := json.Marshal(map[string]any{"type": "req", "id": "1", "method": method, "params": map[string]any{}})
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		return nil, err
	}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return nil, err
		}
		var f map[string]any
		_ = json.Unmarshal(data, &f)
		if f["type"] == "res" {
			return f, nil
		}
	}
}

func closeStatus(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// Regression (issue 16, item 2): the user and role were fixed at the upgrade, so a socket opened
// before POST /logout kept listing conversations and sending. Every request is authorized with
// the session as it is now, and Recheck ends the connections of a revoked session at once.
func TestRevokedSessionEndsOpenConnections(t *testing.T) {
	e := newLiveEnv(t, 0)
	alice := chat.User{ID: "alice", Name: "Alice", Role: chat.RoleMember}
	e.sess.set("t1", alice)
	e.sess.set("t2", alice)

	// A request on an open socket after the session is gone, before anyone calls Recheck.
	ws1, _ := e.dial(t, "t1")
	e.sess.revoke("t1")
	res, err := wsCall(t, ws1, "conversations.list")
	if err != nil {
		t.Fatal(err)
	}
	if res["ok"] == true || !strings.Contains(fmtJSON(res["error"]), "unauthorized") {
		t.Fatalf("conversations.list on a signed-out socket = %v, want unauthorized", res)
	}
	if st := closeStatus(t, ws1); st != websocket.StatusCode(httpapi.CloseSessionEnded) {
		t.Fatalf("close status %v, want %d", st, httpapi.CloseSessionEnded)
	}

	// Idle connections (WebSocket and SSE) of a revoked session end when Recheck runs; the
	// user's other session keeps its connection.
	e.sess.set("t1", alice)
	ws2, _ := e.dial(t, "t1")
	sse, _ := e.sse(t, "t1")
	other, _ := e.dial(t, "t2")
	e.sess.revoke("t1")
	e.api.Recheck(context.Background(), "alice")
	if st := closeStatus(t, ws2); st != websocket.StatusCode(httpapi.CloseSessionEnded) {
		t.Fatalf("idle socket: close status %v, want %d", st, httpapi.CloseSessionEnded)
	}
	if ev := sseEnd(t, sse); ev != "session.ended" {
		t.Fatalf("SSE stream ended with %q, want session.ended", ev)
	}
	if res, err := wsCall(t, other, "ping"); err != nil || res["ok"] != true {
		t.Fatalf("the other session's socket: %v %v", res, err)
	}
	// The server forgets a closed connection right after the close reaches the client: await it.
	deadline := time.Now().Add(5 * time.Second)
	for e.api.LiveConnections("alice") != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // async boundary: the connection's own goroutine deregisters it
	}
	if n := e.api.LiveConnections("alice"); n != 1 {
		t.Fatalf("registry holds %d connections of alice, want 1", n)
	}
}

// Regression (issue 16, item 2): `clawchat user role eve member` left eve's open socket an owner.
// A role change closes it with 4012 (the client reconnects with the new role), on a request or
// on Recheck.
func TestRoleChangeEndsOpenConnections(t *testing.T) {
	e := newLiveEnv(t, 0)
	e.sess.set("t", chat.User{ID: "eve", Name: "Eve", Role: chat.RoleOwner})
	ws, _ := e.dial(t, "t")
	sse, _ := e.sse(t, "t")
	e.sess.set("t", chat.User{ID: "eve", Name: "Eve", Role: chat.RoleMember})
	res, err := wsCall(t, ws, "approvals.list")
	if err != nil {
		t.Fatal(err)
	}
	if res["ok"] == true {
		t.Fatalf("approvals.list by a demoted owner's open socket succeeded: %v", res)
	}
	if st := closeStatus(t, ws); st != websocket.StatusCode(httpapi.CloseAccountChanged) {
		t.Fatalf("close status %v, want %d", st, httpapi.CloseAccountChanged)
	}
	e.api.Recheck(context.Background(), "eve")
	if ev := sseEnd(t, sse); ev != "account.changed" {
		t.Fatalf("SSE stream ended with %q, want account.changed", ev)
	}
	// Reconnecting gives the new role.
	ws2, _ := e.dial(t, "t")
	if res, err := wsCall(t, ws2, "ping"); err != nil || res["ok"] != true {
		t.Fatalf("reconnected socket: %v %v", res, err)
	}
}

// Regression (issue 16, item 5): CLAWCHAT_MAX_CONNECTIONS_PER_USER was not applied, and the check
// counted only subscribed WebSockets. WebSocket and SSE count together, at the upgrade.
func TestConnectionCapCountsWebSocketAndSSE(t *testing.T) {
	e := newLiveEnv(t, 2)
	e.sess.set("a", chat.User{ID: "alice", Role: chat.RoleMember})
	e.sess.set("b", chat.User{ID: "bob", Role: chat.RoleMember})
	if c, st := e.dial(t, "a"); c == nil { // never subscribes
		t.Fatalf("first connection refused: %d", st)
	}
	if br, st := e.sse(t, "a"); br == nil {
		t.Fatalf("SSE refused: %d", st)
	}
	if c, st := e.dial(t, "a"); c != nil || st != http.StatusTooManyRequests {
		t.Fatalf("third connection (WebSocket): status %d, want 429", st)
	}
	if br, st := e.sse(t, "a"); br != nil || st != http.StatusTooManyRequests {
		t.Fatalf("third connection (SSE): status %d, want 429", st)
	}
	if c, st := e.dial(t, "b"); c == nil {
		t.Fatalf("bob refused by alice's cap: %d", st)
	}
}

func fmtJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
