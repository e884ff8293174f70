package transcript

import (
	"encoding/json"
	"testing"

	"github.com/clawchat/clawchat/internal/gateway"
)

func rows(s ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(s))
	for i, r := range s {
		out[i] = json.RawMessage(r)
	}
	return out
}

func TestJudge(t *testing.T) {
	var raw gateway.ChatHistoryResult
	raw.Messages = rows(
		`{"role":"user","idempotencyKey":"r1:user","content":"hi"}`,
		`{"role":"user","provenance":{"kind":"internal_system"},"content":"[System] Your previous turn was interrupted"}`,
		`{"role":"assistant","content":[{"type":"text","text":"hello"}]}`,
		`{"role":"user","idempotencyKey":"r2:user","content":"again"}`,
	)
	active := []string{"r2", "r3"}
	raw.SessionInfo.ActiveRunIDs = &active
	v := Judge(&raw, "r1")
	if !v.UserRow || !v.Replied || v.Reply != "hello" || v.Running || len(v.Others) != 2 {
		t.Fatalf("r1: %+v", v)
	}
	v = Judge(&raw, "r2")
	if !v.UserRow || v.Replied || !v.Running || len(v.Others) != 1 || v.Others[0] != "r3" {
		t.Fatalf("r2: %+v", v)
	}
	if v = Judge(&raw, "r9"); v.UserRow || v.Replied {
		t.Fatalf("r9: %+v", v)
	}
	if text, aborted, found := ReplyOf(rows(`{"role":"assistant","openclawAbort":{"aborted":true,"runId":"r4"},"content":[{"type":"text","text":"part"}]}`), "r4"); text != "part" || !aborted || !found {
		t.Fatalf("tagged abort: %q %v %v", text, aborted, found)
	}
}
