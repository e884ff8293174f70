package httpapi_test

import (
	"context"
	"encoding/json"
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

// approvalsEnv is newEnv with exec approvals on and olga as the deployment's owner.
func approvalsEnv(t *testing.T) *env {
	t.Helper()
	e := &env{up: bridgetest.NewUpstream(), hub: hub.New(hub.Config{})}
	svc, err := bridge.New(bridge.Config{Upstream: e.up, Store: bridgetest.NewStore(), Publisher: e.hub, Approvals: true,
		Owners: func(context.Context) ([]string, error) { return []string{"olga"}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	svc.SetGatewayState(bridge.StateConnected)
	svc.Wait() // the connect backfill
	e.api = httpapi.New(httpapi.Deps{
		Bridge: svc, Hub: e.hub,
		Authenticate: func(r *http.Request) (chat.User, bool) {
			u, ok := users[r.Header.Get("X-Test-User")]
			return u, ok
		},
		PingInterval: time.Hour,
	})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
		svc.Wait()
	})
	return e
}

func (e *env) requestApproval(t *testing.T, id string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"id": id, "expiresAtMs": time.Now().Add(time.Hour).UnixMilli(),
		"request": map[string]any{"command": "make deploy", "cwd": "/srv/app", "sessionKey": "agent:main:main", "sessionId": "secret-session-id"}})
	e.svc.HandleGatewayEvent("exec.approval.requested", b)
	e.svc.Wait() // approval events are handled on the bridge's ordered worker
}

func TestApprovalsREST(t *testing.T) {
	e := approvalsEnv(t)
	e.requestApproval(t, "ap-1")
	code, body := e.do(t, "olga", "GET", "/api/approvals", "")
	if code != 200 || !strings.Contains(body, `"id":"ap-1"`) || !strings.Contains(body, `"command":"make deploy"`) || !strings.Contains(body, `"conversation":"gw:agent:main:main"`) {
		t.Fatalf("owner list %d %s", code, body)
	}
	if strings.Contains(body, "secret-session-id") {
		t.Fatalf("raw request leaked: %s", body)
	}
	// Members: the same 404 as any unknown thing, for list and resolve, valid body or not.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/approvals", ""},
		{"POST", "/api/approvals/ap-1", `{"decision":"allow-once"}`},
		{"POST", "/api/approvals/ap-1", `{"nonsense":1}`},
	} {
		if code, body := e.do(t, "alice", c.method, c.path, c.body); code != 404 || body != notFoundBody {
			t.Fatalf("member %s %s: %d %s", c.method, c.path, code, body)
		}
	}
	if code, body := e.do(t, "olga", "POST", "/api/approvals/ap-1", `{"decision":"sure"}`); code != 400 {
		t.Fatalf("bad decision %d %s", code, body)
	}
	if code, body := e.do(t, "olga", "POST", "/api/approvals/nope", `{"decision":"deny"}`); code != 404 {
		t.Fatalf("unknown id %d %s", code, body)
	}
	if n := len(e.up.Calls("exec.approval.resolve")); n != 0 {
		t.Fatalf("refused requests reached the Gateway: %d", n)
	}
	if code, body := e.do(t, "olga", "POST", "/api/approvals/ap-1", `{"decision":"deny"}`); code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("resolve %d %s", code, body)
	}
	if calls := e.up.Calls("exec.approval.resolve"); len(calls) != 1 || calls[0].Params["id"] != "ap-1" || calls[0].Params["decision"] != "deny" {
		t.Fatalf("gateway calls %+v", calls)
	}
	if code, body := e.do(t, "olga", "GET", "/api/approvals", ""); code != 200 || !strings.Contains(body, `{"approvals":[]}`) {
		t.Fatalf("after resolve %d %s", code, body)
	}
}

func TestApprovalsWS(t *testing.T) {
	e := approvalsEnv(t)
	o := e.dial(t, "olga")
	a := e.dial(t, "alice")
	for _, w := range []*wsClient{o, a} {
		if f := w.call("subscribe", map[string]any{}); !f.OK {
			t.Fatalf("subscribe %+v", f)
		}
	}
	if f := a.call("approvals.list", map[string]any{}); f.OK || f.Error == nil || f.Error.Code != "not_found" {
		t.Fatalf("member list %+v", f)
	}
	e.requestApproval(t, "ap-2")
	o.waitEvent("approval.requested", `"id":"ap-2"`)
	f := o.call("approvals.list", map[string]any{})
	if !f.OK || !strings.Contains(string(f.Payload), `"id":"ap-2"`) {
		t.Fatalf("owner list %+v %s", f, f.Payload)
	}
	if f := a.call("approvals.resolve", map[string]any{"id": "ap-2", "decision": "allow-once"}); f.OK || f.Error.Code != "not_found" {
		t.Fatalf("member resolve %+v", f)
	}
	if f := o.call("approvals.resolve", map[string]any{"id": "ap-2", "decision": "allow-always"}); !f.OK {
		t.Fatalf("owner resolve %+v", f.Error)
	}
	o.waitEvent("approval.resolved", `"decision":"allow-always"`)
	// alice's own event after the owner's ones: everything for her before it has arrived.
	if _, err := e.svc.Create(context.Background(), users["alice"], bridge.CreateParams{ID: "marker"}); err != nil {
		t.Fatal(err)
	}
	a.waitEvent("conversation.created", `"id":"marker"`)
	for _, f := range a.evts {
		if strings.HasPrefix(f.Event, "approval.") {
			t.Fatalf("member got %s", f.Event)
		}
	}
}

// waitEvent reads until an event named name whose payload contains substr arrives (each read is
// bounded by read's timeout), keeping everything in w.evts.
func (w *wsClient) waitEvent(name, substr string) {
	w.t.Helper()
	for _, f := range w.evts {
		if f.Event == name && strings.Contains(string(f.Payload), substr) {
			return
		}
	}
	for {
		f := w.read()
		w.evts = append(w.evts, f)
		if f.Event == name && strings.Contains(string(f.Payload), substr) {
			return
		}
	}
}
