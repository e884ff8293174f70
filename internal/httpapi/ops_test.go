package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/clawchat/clawchat/internal/hub"
)

// jsonEqual reports whether two JSON documents hold the same value.
func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// The operations REST and the WebSocket both offer answer alike: the same checks, the same
// object (history: REST's page is the WebSocket's plus miso-chat's aliases).
func TestRESTAndWebSocketAnswerAlike(t *testing.T) {
	e := newEnv(t, hub.Config{})
	e.up.Handle("chat.history", func(map[string]any) (any, error) {
		return map[string]any{"messages": []any{
			map[string]any{"role": "user", "content": "hi", "timestamp": 1795275302834},
			map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": "hello"}}},
		}}, nil
	})
	e.up.Handle("chat.abort", func(map[string]any) (any, error) { return map[string]any{"aborted": true}, nil })
	if code, body := e.do(t, "alice", http.MethodPost, "/api/sessions", `{"id":"c1"}`); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	ws := e.dial(t, "alice")

	code, rest := e.do(t, "alice", http.MethodGet, "/api/sessions/c1/history?limit=5", "")
	f := ws.call("history", map[string]any{"conversation": "c1", "limit": 5})
	if code != http.StatusOK || f.Error != nil {
		t.Fatalf("history: %d %s / %+v", code, rest, f.Error)
	}
	var restPage, wsPage map[string]json.RawMessage
	_ = json.Unmarshal([]byte(rest), &restPage)
	_ = json.Unmarshal(f.Payload, &wsPage)
	for k, v := range wsPage {
		if k == "messages" {
			continue
		}
		if !jsonEqual(t, string(v), string(restPage[k])) {
			t.Errorf("history %q: REST %s, WebSocket %s", k, restPage[k], v)
		}
	}
	var restMsgs, wsMsgs []map[string]json.RawMessage
	_ = json.Unmarshal(restPage["messages"], &restMsgs)
	_ = json.Unmarshal(wsPage["messages"], &wsMsgs)
	if len(wsMsgs) != 2 || len(restMsgs) != 2 {
		t.Fatalf("messages: REST %s, WebSocket %s", restPage["messages"], wsPage["messages"])
	}
	for i := range wsMsgs {
		for k, v := range wsMsgs[i] {
			if !jsonEqual(t, string(v), string(restMsgs[i][k])) {
				t.Errorf("message %d %q: REST %s, WebSocket %s", i, k, restMsgs[i][k], v)
			}
		}
	}

	// The same limit check on both.
	code, _ = e.do(t, "alice", http.MethodGet, "/api/sessions/c1/history?limit=5000", "")
	if f := ws.call("history", map[string]any{"conversation": "c1", "limit": 5000}); code != http.StatusBadRequest || f.Error == nil || f.Error.Code != "bad_request" {
		t.Fatalf("limit 5000: REST %d, WebSocket %+v", code, f.Error)
	}

	code, rest = e.do(t, "alice", http.MethodPost, "/api/sessions/c1/abort", `{}`)
	if f := ws.call("abort", map[string]any{"conversation": "c1"}); code != http.StatusOK || f.Error != nil || !jsonEqual(t, rest, string(f.Payload)) {
		t.Fatalf("abort: REST %d %s, WebSocket %s %+v", code, rest, f.Payload, f.Error)
	}

	olga := e.dial(t, "olga")
	code, rest = e.do(t, "olga", http.MethodGet, "/api/approvals", "")
	if f := olga.call("approvals.list", map[string]any{}); code != http.StatusOK || !jsonEqual(t, rest, string(f.Payload)) || rest == `{"approvals":null}` {
		t.Fatalf("approvals: REST %d %s, WebSocket %s", code, rest, f.Payload)
	}
	code, _ = e.do(t, "alice", http.MethodPost, "/api/approvals/a1", `{"decision":"deny"}`)
	if f := ws.call("approvals.resolve", map[string]any{"id": "a1", "decision": "deny"}); code != http.StatusNotFound || f.Error == nil || f.Error.Code != "not_found" {
		t.Fatalf("member resolve: REST %d, WebSocket %+v", code, f.Error)
	}
}
