package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/httpapi"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/share"
	"github.com/clawchat/clawchat/internal/store"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
	"github.com/clawchat/clawchat/internal/websec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var users = map[string]chat.User{
	"alice": {ID: "alice", Name: "Alice", Role: chat.RoleMember},
	"bob":   {ID: "bob", Name: "Bob", Role: chat.RoleMember},
	"olga":  {ID: "olga", Name: "Olga", Role: chat.RoleOwner},
}

type env struct {
	srv *httptest.Server
	svc *bridge.Service
	hub *hub.Hub
	up  *bridgetest.Upstream
	api *httpapi.API
	// share and db are set by newShareEnv (share_test.go).
	share *share.Service
	db    *store.DB
}

func newEnv(t *testing.T, hcfg hub.Config) *env {
	t.Helper()
	e := &env{up: bridgetest.NewUpstream(), hub: hub.New(hcfg)}
	svc, err := bridge.New(bridge.Config{Upstream: e.up, Store: bridgetest.NewStore(), Publisher: e.hub, SendRate: 1000, SendBurst: 1000, MaxConcurrentRuns: 100})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	svc.SetGatewayState(bridge.StateConnected)
	e.serve(t, users, httpapi.Deps{
		OriginAllowed: func(r *http.Request) bool {
			o := r.Header.Get("Origin")
			return o == "" || o == "http://"+r.Host
		},
	})
	return e
}

// serve starts the API over e's bridge and hub with deps (Bridge, Hub, Authenticate by the
// X-Test-User header against known, CrossOrigin and PingInterval are filled in) and closes it,
// and waits for the bridge, when the test ends.
func (e *env) serve(t *testing.T, known map[string]chat.User, deps httpapi.Deps) {
	t.Helper()
	cross, err := websec.CrossOrigin(nil)
	if err != nil {
		t.Fatal(err)
	}
	deps.Bridge, deps.Hub, deps.CrossOrigin, deps.PingInterval = e.svc, e.hub, cross, time.Hour
	deps.Authenticate = func(r *http.Request) (chat.User, bool) {
		u, ok := known[r.Header.Get("X-Test-User")]
		return u, ok
	}
	e.api = httpapi.New(deps)
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
		e.svc.Wait()
	})
}

func (e *env) do(t *testing.T, user, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const notFoundBody = `{"error":{"code":"not_found","message":"conversation not found"}}` + "\n"

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t, hub.Config{})
	client := e.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, p := range []string{"/api/sessions", "/api/sessions/default/history", "/api/events", "/ws", "/api/me",
		"/api/sessions/../sessions", "/api/nope", "/api/sessions/%2e%2e/history", "/api//sessions"} {
		resp, err := client.Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(string(b), `"unauthorized"`) {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
	if code, body := e.do(t, "", "GET", "/api/health", ""); code != 200 || !strings.Contains(body, `"gateway":"connected"`) {
		t.Fatalf("health %d %s", code, body)
	}
	if code, _ := e.do(t, "", "GET", "/healthz", ""); code != 200 {
		t.Fatal("healthz")
	}
	if code, _ := e.do(t, "", "GET", "/readyz", ""); code != 200 {
		t.Fatal("readyz")
	}
	e.svc.SetGatewayState(bridge.StateDown)
	if code, body := e.do(t, "", "GET", "/readyz", ""); code != 503 || !strings.Contains(body, `"ready":false`) {
		t.Fatalf("readyz down: %d %s", code, body)
	}
}

func TestRESTFlow(t *testing.T) {
	e := newEnv(t, hub.Config{})
	code, body := e.do(t, "alice", "POST", "/api/sessions/default/send", `{"message":"hi","id":"m1"}`)
	if code != 202 || !strings.Contains(body, `"status":"started"`) {
		t.Fatalf("send %d %s", code, body)
	}
	code, body = e.do(t, "alice", "POST", "/api/sessions/default/send", `{"message":"hi","id":"m1"}`)
	if code != 202 || !strings.Contains(body, `"status":"duplicate"`) {
		t.Fatalf("retry %d %s", code, body)
	}
	code, body = e.do(t, "bob", "POST", "/api/sessions/default/send", `{"message":"hi","id":"m1"}`)
	if code != 202 || !strings.Contains(body, `"status":"started"`) {
		t.Fatalf("bob send %d %s", code, body)
	}
	keys := map[string]bool{}
	for _, c := range e.up.Calls("chat.send") {
		keys[c.Params["sessionKey"].(string)] = true
	}
	if !keys["agent:main:clawchat:alice:default"] || !keys["agent:main:clawchat:bob:default"] {
		t.Fatalf("two users' default must be two sessions: %v", keys)
	}
	code, body = e.do(t, "alice", "GET", "/api/sessions", "")
	if code != 200 || !strings.Contains(body, `"id":"default"`) || !strings.Contains(body, `"running":true`) {
		t.Fatalf("list %d %s", code, body)
	}
	if code, body = e.do(t, "alice", "POST", "/api/sessions/default/abort", `{}`); code != 200 || !strings.Contains(body, `"aborted":true`) {
		t.Fatalf("abort %d %s", code, body)
	}
	if code, body = e.do(t, "alice", "POST", "/api/sessions/default/send", `{"message":"hi","bogus":1}`); code != 400 || !strings.Contains(body, "bad_request") {
		t.Fatalf("unknown field %d %s", code, body)
	}
	// Regression (issue 16, item 10): NUL bytes were accepted (202) and refused by the Gateway later.
	if code, body = e.do(t, "alice", "POST", "/api/sessions/default/send", `{"message":"a\u0000b","id":"nul1"}`); code != 400 || !strings.Contains(body, "NUL") {
		t.Fatalf("message with NUL: %d %s, want 400 naming the NUL", code, body)
	}
	if code, body = e.do(t, "alice", "POST", "/api/sessions", `{"title":"a\u0000b"}`); code != 400 || !strings.Contains(body, "NUL") {
		t.Fatalf("title with NUL: %d %s, want 400", code, body)
	}
	if code, _ = e.do(t, "alice", "POST", "/api/sessions/default/send", `{"message":"`+strings.Repeat("x", 40<<10)+`"}`); code != 413 {
		t.Fatalf("too large %d", code)
	}
	if code, body = e.do(t, "alice", "POST", "/api/sessions", `{"title":"Trip"}`); code != 201 || !strings.Contains(body, `"title":"Trip"`) {
		t.Fatalf("create %d %s", code, body)
	}
	if code, body = e.do(t, "alice", "PATCH", "/api/sessions/default", `{"title":"Renamed","archived":true}`); code != 200 || !strings.Contains(body, `"archived":true`) {
		t.Fatalf("patch %d %s", code, body)
	}
	e.up.Handle("chat.history", func(map[string]any) (any, error) {
		return map[string]any{"messages": []any{map[string]any{"role": "user", "content": "hi"}}}, nil
	})
	if code, body = e.do(t, "alice", "GET", "/api/sessions/default/history?limit=5", ""); code != 200 || !strings.Contains(body, `"text":"hi"`) {
		t.Fatalf("history %d %s", code, body)
	}
	if code, _ = e.do(t, "alice", "GET", "/api/sessions/default/history?limit=x", ""); code != 400 {
		t.Fatalf("bad limit %d", code)
	}
	if code, _ = e.do(t, "alice", "DELETE", "/api/sessions/default", ""); code != 204 {
		t.Fatalf("delete %d", code)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/sessions", strings.NewReader(`{}`))
	req.Header.Set("X-Test-User", "alice")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("cross-origin POST = %d", resp.StatusCode)
	}
}

var forged = []string{"secret", "never", "SECRET", "agent:main:main", "agent%3amain%3amain", "gw:agent:main:main", "gw%3aagent%3amain%3amain",
	"agent:main:clawchat:alice:secret", "..%2fsecret", "%2e%2e", "main", "se", "secret%00", "a%2fb", "-x", strings.Repeat("a", 65),
	"agent:other:clawchat:alice:secret", "olga"}

func TestCrossUserREST(t *testing.T) {
	e := newEnv(t, hub.Config{})
	if code, _ := e.do(t, "alice", "POST", "/api/sessions/secret/send", `{"message":"hi","id":"m1"}`); code != 202 {
		t.Fatal("setup")
	}
	if code, _ := e.do(t, "olga", "POST", "/api/sessions/olga/send", `{"message":"hi","id":"m1"}`); code != 202 {
		t.Fatal("setup")
	}
	e.svc.Wait() // background naming and labelling of the conversations above
	before := len(e.up.Calls(""))
	for _, k := range forged {
		for _, rt := range []struct{ method, path, body string }{
			{"GET", "/api/sessions/" + k + "/history", ""},
			{"POST", "/api/sessions/" + k + "/abort", `{}`},
			{"PATCH", "/api/sessions/" + k, `{"title":"x"}`},
			{"DELETE", "/api/sessions/" + k, ""},
			{"GET", "/api/reactions/" + k, ""},
			{"GET", "/api/messages/m1/reactions?session=" + k, ""},
			{"POST", "/api/messages/m1/reactions", `{"session":"` + k + `","emoji":"x"}`},
		} {
			code, body := e.do(t, "bob", rt.method, rt.path, rt.body)
			if code != 404 || body != notFoundBody {
				t.Errorf("bob %s %s: %d %q", rt.method, rt.path, code, body)
			}
		}
	}
	if after := len(e.up.Calls("")); after != before {
		t.Fatalf("refused requests reached the Gateway: %+v", e.up.Calls("")[before:])
	}
	// Sending to alice's id creates bob's own conversation; never touches alice's session.
	if code, _ := e.do(t, "bob", "POST", "/api/sessions/secret/send", `{"message":"hi","id":"m1"}`); code != 202 {
		t.Fatal("bob send")
	}
	last := e.up.Calls("chat.send")
	if k := last[len(last)-1].Params["sessionKey"]; k != "agent:main:clawchat:bob:secret" {
		t.Fatalf("bob's send went to %v", k)
	}
	// Sends to malformed keys are refused without creating anything.
	for _, k := range []string{"SECRET", "agent:main:main", "gw:agent:main:main", "%2e%2e", "a%2fb"} {
		code, body := e.do(t, "bob", "POST", "/api/sessions/"+k+"/send", `{"message":"hi"}`)
		if code != 404 || body != notFoundBody {
			t.Errorf("bob send %s: %d %q", k, code, body)
		}
	}
	_, body := e.do(t, "bob", "GET", "/api/sessions", "")
	if strings.Contains(body, "alice") || strings.Contains(body, `"olga"`) {
		t.Fatalf("bob's list leaks: %s", body)
	}
}

// wsClient is a test WebSocket client.
type wsClient struct {
	t    *testing.T
	c    *websocket.Conn
	n    int
	evts []frame
}

type frame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	OK      bool            `json:"ok"`
	Event   string          `json:"event"`
	Seq     uint64          `json:"seq"`
	Payload json.RawMessage `json:"payload"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (e *env) dial(t *testing.T, user string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("X-Test-User", user)
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	w := &wsClient{t: t, c: c}
	t.Cleanup(func() { c.Close(websocket.StatusNormalClosure, "") })
	if f := w.read(); f.Event != "hello" {
		t.Fatalf("first frame %+v", f)
	}
	return w
}

func (w *wsClient) read() frame {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		w.t.Fatal(err)
	}
	return f
}

// call sends a request and returns its response, keeping events seen meanwhile.
func (w *wsClient) call(method string, params any) frame {
	w.t.Helper()
	w.n++
	id := fmt.Sprint(w.n)
	b, _ := json.Marshal(map[string]any{"type": "req", "id": id, "method": method, "params": params})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
	for {
		f := w.read()
		if f.Type == "res" && f.ID == id {
			return f
		}
		w.evts = append(w.evts, f)
	}
}

func TestCrossUserWS(t *testing.T) {
	e := newEnv(t, hub.Config{})
	a := e.dial(t, "alice")
	a.call("subscribe", map[string]any{})
	if r := a.call("send", map[string]any{"conversation": "secret", "id": "m1", "text": "hi"}); r.OK {
		t.Fatal("WS send must not create conversations implicitly")
	}
	if r := a.call("conversations.create", map[string]any{"id": "secret"}); !r.OK {
		t.Fatalf("create %+v", r)
	}
	if r := a.call("send", map[string]any{"conversation": "secret", "id": "m1", "text": "hi"}); !r.OK {
		t.Fatalf("send %+v", r)
	}
	b := e.dial(t, "bob")
	b.call("subscribe", map[string]any{})
	e.svc.Wait() // background naming and labelling of the conversations above
	before := len(e.up.Calls(""))
	for _, k := range append(forged, "../secret", "gw:agent:main:clawchat:alice:secret") {
		for _, m := range []struct {
			method string
			params map[string]any
		}{
			{"history", map[string]any{"conversation": k}},
			{"send", map[string]any{"conversation": k, "id": "x", "text": "hi"}},
			{"abort", map[string]any{"conversation": k}},
			{"conversations.update", map[string]any{"id": k, "title": "x"}},
			{"conversations.delete", map[string]any{"id": k}},
		} {
			r := b.call(m.method, m.params)
			if r.OK || r.Error == nil || r.Error.Code != "not_found" || r.Error.Message != "conversation not found" {
				t.Errorf("bob %s %q: %+v", m.method, k, r.Error)
			}
		}
	}
	if after := len(e.up.Calls("")); after != before {
		t.Fatalf("refused requests reached the Gateway: %+v", e.up.Calls("")[before:])
	}
	// Alice's run events reach alice, never bob.
	runID := e.up.Calls("chat.send")[0].Params["idempotencyKey"]
	ev, _ := json.Marshal(map[string]any{"runId": runID, "sessionKey": "agent:main:clawchat:alice:secret", "state": "final",
		"message": map[string]any{"role": "assistant", "content": "private reply"}})
	e.svc.HandleGatewayEvent("chat", ev)
	for {
		f := a.read()
		if f.Event == "run.final" {
			if !strings.Contains(string(f.Payload), "private reply") {
				t.Fatalf("final %s", f.Payload)
			}
			break
		}
	}
	r := b.call("ping", map[string]any{})
	if !r.OK {
		t.Fatal("ping")
	}
	for _, f := range b.evts {
		if strings.Contains(string(f.Payload), "private") || strings.HasPrefix(f.Event, "run.") {
			t.Fatalf("bob saw %s %s", f.Event, f.Payload)
		}
	}
	l := b.call("conversations.list", map[string]any{})
	if strings.Contains(string(l.Payload), "secret") || strings.Contains(string(l.Payload), `"gateway"`) {
		t.Fatalf("bob list %s", l.Payload)
	}
}

func TestWSOriginChecked(t *testing.T) {
	e := newEnv(t, hub.Config{})
	h := http.Header{}
	h.Set("X-Test-User", "alice")
	h.Set("Origin", "https://evil.example")
	_, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("cross-site upgrade: %v %v", err, resp)
	}
}

func TestWSResumeNoGapNoDup(t *testing.T) {
	e := newEnv(t, hub.Config{})
	a := e.dial(t, "alice")
	sr := a.call("subscribe", map[string]any{})
	var sub struct {
		Epoch string
		Seq   uint64
	}
	_ = json.Unmarshal(sr.Payload, &sub)
	for i := range 5 {
		e.hub.Publish("alice", chat.NewEvent("run.delta", map[string]int{"i": i}))
	}
	var last uint64
	for last < 3 {
		f := a.read()
		last = f.Seq
	}
	a.c.Close(websocket.StatusNormalClosure, "")
	for i := 5; i < 8; i++ {
		e.hub.Publish("alice", chat.NewEvent("run.delta", map[string]int{"i": i}))
	}
	a2 := e.dial(t, "alice")
	r := a2.call("subscribe", map[string]any{"epoch": sub.Epoch, "since": last})
	if !strings.Contains(string(r.Payload), `"replayed":5`) {
		t.Fatalf("subscribe %s", r.Payload)
	}
	for want := last + 1; want <= 8; want++ {
		if f := a2.read(); f.Seq != want {
			t.Fatalf("seq %d, want %d", f.Seq, want)
		}
	}
	a3 := e.dial(t, "alice")
	r = a3.call("subscribe", map[string]any{"epoch": "old", "since": 3})
	if !strings.Contains(string(r.Payload), `"resync":true`) {
		t.Fatalf("resync %s", r.Payload)
	}
	if f := a3.read(); f.Event != "resync" {
		t.Fatalf("want resync event, got %+v", f)
	}
}

func TestWSSlowConsumerClosed1008(t *testing.T) {
	e := newEnv(t, hub.Config{QueueSize: 4})
	a := e.dial(t, "alice")
	a.call("subscribe", map[string]any{})
	// Never read: publish far more than the queue and the socket buffers hold.
	big := strings.Repeat("x", 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for e.hub.Connections("alice") > 0 && time.Now().Before(deadline) {
		e.hub.Publish("alice", chat.NewEvent("run.delta", map[string]string{"text": big}))
	}
	if e.hub.Connections("alice") != 0 {
		t.Fatal("slow consumer never evicted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := a.c.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st != websocket.StatusPolicyViolation {
				t.Fatalf("close = %v (%v)", st, err)
			}
			return
		}
	}
}

func TestSSEReplay(t *testing.T) {
	e := newEnv(t, hub.Config{Epoch: "ep"})
	e.hub.Publish("alice", chat.NewEvent("run.delta", map[string]string{"text": "a"}))
	e.hub.Publish("alice", chat.NewEvent("run.delta", map[string]string{"text": "b"}))
	e.hub.Publish("bob", chat.NewEvent("run.delta", map[string]string{"text": "bob-secret"}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/events", nil)
	req.Header.Set("X-Test-User", "alice")
	req.Header.Set("Last-Event-ID", "ep-1")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	var lines []string
	for len(lines) < 3 {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "id:") || strings.HasPrefix(l, "data:") || strings.HasPrefix(l, "event:") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	want := []string{"id: ep-2", "event: run.delta", `data: {"text":"b"}`}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("sse = %v", lines)
	}
	e.hub.Publish("alice", chat.NewEvent("run.final", map[string]string{"text": "c"}))
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(l, "bob-secret") {
			t.Fatal("bob's event in alice's stream")
		}
		if strings.HasPrefix(l, "id: ep-3") {
			break
		}
	}
	cancel()
}

func TestErrorsNeverLeakInternals(t *testing.T) {
	e := newEnv(t, hub.Config{})
	e.up.Handle("chat.history", func(map[string]any) (any, error) {
		return nil, errors.New("dial tcp 10.1.2.3:18789: token=SECRET /srv/openclaw/state.db")
	})
	e.do(t, "alice", "POST", "/api/sessions", `{"id":"x"}`)
	code, body := e.do(t, "alice", "GET", "/api/sessions/x/history", "")
	if code != 503 || strings.Contains(body, "SECRET") || strings.Contains(body, "10.1.2.3") || strings.Contains(body, "/srv") {
		t.Fatalf("history error: %d %s", code, body)
	}
}

func TestShutdownClosesWebSocketsWith1012(t *testing.T) {
	e := newEnv(t, hub.Config{})
	a := e.dial(t, "alice")
	a.call("subscribe", map[string]any{})
	e.api.Shutdown()
	if f := a.read(); f.Event != "server.restart" {
		t.Fatalf("frame before close = %+v, want server.restart", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := a.c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusServiceRestart {
		t.Fatalf("close status = %v (%v), want 1012", got, err)
	}
	// A connection opened after Shutdown is turned away with 1012 too.
	h := http.Header{}
	h.Set("X-Test-User", "bob")
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, _, err = c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusServiceRestart {
		t.Fatalf("late connection: close status = %v (%v), want 1012", got, err)
	}
}

func TestConnectionCapPerUser(t *testing.T) {
	e := newEnv(t, hub.Config{})
	h := httpapi.New(httpapi.Deps{
		Bridge: e.svc, Hub: e.hub, MaxConnectionsPerUser: 2, PingInterval: time.Hour,
		Authenticate: func(r *http.Request) (chat.User, bool) {
			u, ok := users[r.Header.Get("X-Test-User")]
			return u, ok
		},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	dial := func(user string) (*websocket.Conn, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hd := http.Header{}
		hd.Set("X-Test-User", user)
		c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: hd})
		if err != nil {
			if res == nil {
				t.Fatalf("dial: %v", err)
			}
			return nil, res.StatusCode
		}
		// The hub counts a connection once it subscribes.
		b, _ := json.Marshal(map[string]any{"type": "req", "id": "1", "method": "subscribe", "params": map[string]any{}})
		_ = c.Write(ctx, websocket.MessageText, b)
		for {
			_, data, err := c.Read(ctx)
			if err != nil || strings.Contains(string(data), `"type":"res"`) {
				break
			}
		}
		return c, 101
	}
	var open []*websocket.Conn
	for i := range 2 {
		c, st := dial("alice")
		if c == nil {
			t.Fatalf("connection %d refused with %d", i+1, st)
		}
		open = append(open, c)
	}
	if c, st := dial("alice"); c != nil || st != http.StatusTooManyRequests {
		t.Fatalf("third connection: %v, status %d; want 429", c, st)
	}
	if c, _ := dial("bob"); c == nil {
		t.Fatal("another user is refused by alice's cap")
	} else {
		c.CloseNow()
	}
	for _, c := range open {
		c.CloseNow()
	}
}

// A client that resyncs learns how the runs that ended in its gap ended: a run.snapshot with the
// terminal state and the reply text, after the resync event; another user's runs are not told.
func TestWSResyncTellsHowRunsEnded(t *testing.T) {
	e := newEnv(t, hub.Config{})
	a := e.dial(t, "alice")
	a.call("subscribe", map[string]any{})
	r := a.call("send", map[string]any{"conversation": "default", "id": "m1", "text": "hi"})
	if !r.OK {
		// the WebSocket send does not create conversations
		if st, body := e.do(t, "alice", "POST", "/api/sessions/default/send", `{"message":"hi","id":"m1"}`); st != http.StatusAccepted {
			t.Fatalf("send: %d %s", st, body)
		}
	}
	var runID string
	for runID == "" {
		f := a.read()
		if f.Event == "run.started" {
			var p struct{ RunID string }
			_ = json.Unmarshal(f.Payload, &p)
			runID = p.RunID
		}
	}
	a.c.Close(websocket.StatusNormalClosure, "")
	b, _ := json.Marshal(map[string]any{"runId": runID, "sessionKey": "agent:main:clawchat:alice:default", "state": "final",
		"message": map[string]any{"role": "assistant", "content": "Echo: hi"}})
	e.svc.HandleGatewayEvent("chat", b)

	a2 := e.dial(t, "alice")
	if res := a2.call("subscribe", map[string]any{"epoch": "gone", "since": 1}); !strings.Contains(string(res.Payload), `"resync":true`) {
		t.Fatalf("subscribe %s", res.Payload)
	}
	if f := a2.read(); f.Event != "resync" {
		t.Fatalf("want resync, got %+v", f)
	}
	f := a2.read()
	var p map[string]any
	_ = json.Unmarshal(f.Payload, &p)
	if f.Event != "run.snapshot" || p["runId"] != runID || p["state"] != "final" || p["text"] != "Echo: hi" || p["conversation"] != "default" {
		t.Fatalf("after resync: %s %v", f.Event, p)
	}
	bob := e.dial(t, "bob")
	bob.call("subscribe", map[string]any{"epoch": "gone", "since": 1})
	if f := bob.read(); f.Event != "resync" {
		t.Fatalf("bob: %+v", f)
	}
	bob.call("ping", map[string]any{})
	for _, f := range bob.evts {
		if f.Event == "run.snapshot" {
			t.Fatalf("bob was told about alice's run: %+v", f)
		}
	}
}

// The WebSocket send takes the REST name `message` for the text, and still the older `text`
// (issue 14: one field name on both APIs).
func TestWSSendAcceptsMessageAndText(t *testing.T) {
	e := newEnv(t, hub.Config{})
	if st, body := e.do(t, "alice", "POST", "/api/sessions", `{"id":"names"}`); st >= 300 {
		t.Fatalf("create: %d %s", st, body)
	}
	a := e.dial(t, "alice")
	a.call("subscribe", map[string]any{})
	for i, field := range []string{"message", "text"} {
		want := "hello via " + field
		if r := a.call("send", map[string]any{"conversation": "names", "id": fmt.Sprint("m", i), field: want}); !r.OK {
			t.Fatalf("send with %q: %+v", field, r.Error)
		}
		var runID string
		for {
			var f frame
			if len(a.evts) > 0 { // events that arrived before the send's answer
				f, a.evts = a.evts[0], a.evts[1:]
			} else {
				f = a.read()
			}
			if f.Event != "run.started" {
				continue
			}
			var p struct{ Text, RunID string }
			_ = json.Unmarshal(f.Payload, &p)
			runID = p.RunID
			if p.Text != want {
				t.Fatalf("send with %q started a run with text %q; want %q", field, p.Text, want)
			}
			break
		}
		// end the run so the next send starts one instead of queueing
		b, _ := json.Marshal(map[string]any{"runId": runID, "sessionKey": "agent:main:clawchat:alice:names", "state": "final",
			"message": map[string]any{"role": "assistant", "content": "ok"}})
		e.svc.HandleGatewayEvent("chat", b)
	}
}
