package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/httpapi"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
)

// newScopeEnv is newEnv whose users include two embedded sessions of alice (docs/embed.md):
// "alice@doc:a", whose token grants doc:a, and "alice@doc:a+b", granting doc:a and doc:b (to
// create conversations in both).
func newScopeEnv(t *testing.T) *env {
	t.Helper()
	e := &env{up: bridgetest.NewUpstream(), hub: hub.New(hub.Config{})}
	svc, err := bridge.New(bridge.Config{Upstream: e.up, Store: bridgetest.NewStore(), Publisher: e.hub, SendRate: 1000, SendBurst: 1000, MaxConcurrentRuns: 100})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	svc.SetGatewayState(bridge.StateConnected)
	known := maps.Clone(users)
	known["alice@doc:a"] = chat.User{ID: "alice", Name: "Alice", Role: chat.RoleMember,
		Embed: &chat.EmbedScope{App: "compose", Grants: map[string]string{"doc:a": chat.EmbedRoleEditor}}}
	known["alice@doc:a+b"] = chat.User{ID: "alice", Name: "Alice", Role: chat.RoleMember,
		Embed: &chat.EmbedScope{App: "compose", Grants: map[string]string{"doc:a": chat.EmbedRoleEditor, "doc:b": chat.EmbedRoleEditor}}}
	e.serve(t, known, httpapi.Deps{})
	return e
}

// TestEmbedSessionGetsOnlyGrantedContextsEvents: the hub fans a user's events out to all their
// connections; an embedded session's WebSocket and SSE stream carry only the events of
// conversations in the contexts its token grants (and events of no conversation). Alice's
// cookie session, on the same hub, gets everything (the control). Events of a conversation in
// doc:b, of her plain conversation, of doc:b conversations created later, relayed events (JSON
// only) and the running-reply snapshot of a doc:b run never reach her doc:a session.
func TestEmbedSessionGetsOnlyGrantedContextsEvents(t *testing.T) {
	e := newScopeEnv(t)
	ctx := context.Background()
	both := chat.User{ID: "alice", Name: "Alice", Role: chat.RoleMember,
		Embed: &chat.EmbedScope{App: "compose", Grants: map[string]string{"doc:a": chat.EmbedRoleEditor, "doc:b": chat.EmbedRoleEditor}}}
	convA, err := e.svc.CreateInContext(ctx, both, "compose", "doc:a", "A")
	if err != nil {
		t.Fatal(err)
	}
	convB, err := e.svc.CreateInContext(ctx, both, "compose", "doc:b", "B")
	if err != nil {
		t.Fatal(err)
	}
	// A running reply in doc:b: a fresh connection gets snapshots of running replies.
	if code, body := e.do(t, "alice", "POST", "/api/sessions/"+convB.ID+"/send", `{"message":"hi","id":"m1"}`); code != 202 {
		t.Fatalf("send in doc:b: %d %s", code, body)
	}

	// Over HTTP/2 the stream cannot leave net/http: it is served by a goroutine (sse.go), not on
	// the event loop (sse_stream.go).
	h2 := httptest.NewUnstartedServer(e.api)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	defer h2.Close()
	sseOn := func(srv *httptest.Server, user string) (*bufio.Reader, func()) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a missing event fails, not hangs
		req, _ := http.NewRequestWithContext(cctx, "GET", srv.URL+"/api/events", nil)
		req.Header.Set("X-Test-User", user)
		resp, err := srv.Client().Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("events as %s: %v %v", user, resp, err)
		}
		return bufio.NewReader(resp.Body), func() { cancel(); resp.Body.Close() }
	}
	sse := func(user string) (*bufio.Reader, func()) { return sseOn(e.srv, user) }
	embedSSE, closeEmbed := sse("alice@doc:a")
	defer closeEmbed()
	embedH2, closeH2 := sseOn(h2, "alice@doc:a")
	defer closeH2()
	cookieSSE, closeCookie := sse("alice")
	defer closeCookie()
	ws := e.dial(t, "alice@doc:a")
	if r := ws.call("subscribe", map[string]any{}); !r.OK {
		t.Fatalf("subscribe: %+v", r)
	}

	typing, _ := json.Marshal(chat.Typing{Conversation: convB.ID, Name: "Bob", Typing: true, UserID: "bob"})
	for _, ev := range []chat.Event{
		chat.RunDelta{Conversation: convB.ID, RunID: "r1", Text: "secret-delta-b", Rev: 1}.Event(),
		{Name: "typing", Payload: typing}, // as relayed from another instance: no typed payload
		chat.ConversationUpdated{ConversationView: chat.ConversationView{ID: "default", Title: "secret-plain"}}.Event(),
		chat.RunDelta{Conversation: convA.ID, RunID: "r2", Text: "visible-delta-a", Rev: 1}.Event(),
		chat.ConversationCreated{ConversationView: chat.ConversationView{ID: "c-newb", Title: "secret-new-b", Context: &chat.HostContext{App: "compose", ID: "doc:b"}}}.Event(),
		chat.RunDelta{Conversation: "c-newb", RunID: "r3", Text: "secret-delta-newb", Rev: 1}.Event(),
		chat.ConversationCreated{ConversationView: chat.ConversationView{ID: "c-newa", Title: "visible-new-a", Context: &chat.HostContext{App: "compose", ID: "doc:a"}}}.Event(),
		chat.RunDelta{Conversation: "c-newa", RunID: "r4", Text: "visible-delta-newa", Rev: 1}.Event(),
		chat.ApprovalRequested{Approval: chat.Approval{ID: "ap1", Command: "secret-approval"}}.Event(),
		chat.GatewayStatus{State: "connected"}.Event(),
		chat.RunFinal{Conversation: convA.ID, RunID: "r2", Text: "visible-end"}.Event(),
	} {
		e.hub.Publish("alice", ev)
	}

	readSSE := func(br *bufio.Reader) string {
		var all strings.Builder
		for !strings.Contains(all.String(), "visible-end") {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v\n%s", err, all.String())
			}
			all.WriteString(l)
		}
		return all.String()
	}
	var wsAll strings.Builder
	for !strings.Contains(wsAll.String(), "visible-end") {
		f := ws.read()
		wsAll.WriteString(f.Event + " " + string(f.Payload) + "\n")
	}
	for name, got := range map[string]string{"embedded SSE": readSSE(embedSSE), "embedded SSE over HTTP/2": readSSE(embedH2), "embedded WebSocket": wsAll.String()} {
		for _, want := range []string{"visible-delta-a", "visible-new-a", "visible-delta-newa", "gateway.status"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, got)
			}
		}
		if strings.Contains(got, "secret") || strings.Contains(got, convB.ID) {
			t.Errorf("%s carries events of conversations its token does not grant:\n%s", name, got)
		}
	}
	// The control: alice's own (cookie) session gets every event of hers.
	cookie := readSSE(cookieSSE)
	for _, want := range []string{"event: run.snapshot\ndata: {\"conversation\":\"" + convB.ID, "secret-delta-b", "event: typing", "secret-plain", "secret-new-b", "secret-delta-newb", "secret-approval", "visible-delta-a"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("alice's cookie stream lacks %q:\n%s", want, cookie)
		}
	}
}
