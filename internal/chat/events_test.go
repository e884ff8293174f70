package chat

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestEventWireFormat pins the bytes of each event to the wire format of docs/api.md as the
// browser app and scripts read it (before the payloads were typed they were JSON maps: keys in
// sorted order, optional keys absent).
func TestEventWireFormat(t *testing.T) {
	text, empty := "hi", ""
	two, cost := int64(2), 0.5
	rev, reasoning := uint64(3), "plan"
	yes, ms := true, int64(12)
	at := time.Date(2026, 12, 3, 10, 0, 0, 5, time.FixedZone("x", 3600))
	cases := []struct {
		ev   Event
		want string
	}{
		{NewRunStarted("c", "r", "m", at, &text).Event(), `{"at":"2026-12-03T09:00:00.000000005Z","conversation":"c","messageId":"m","runId":"r","text":"hi"}`},
		{NewRunStarted("c", "r", "", at, nil).Event(), `{"at":"2026-12-03T09:00:00.000000005Z","conversation":"c","messageId":"","runId":"r"}`},
		{RunQueued{Conversation: "c", MessageID: "m", RunID: "r", Position: 1, Text: "x"}.Event(), `{"conversation":"c","messageId":"m","position":1,"runId":"r","text":"x"}`},
		{RunStatus{Conversation: "c", RunID: "r", Phase: "thinking"}.Event(), `{"conversation":"c","phase":"thinking","runId":"r"}`},
		{RunDelta{Conversation: "c", RunID: "r", Text: "a", Rev: 1}.Event(), `{"conversation":"c","rev":1,"runId":"r","text":"a"}`},
		{RunDelta{Conversation: "c", RunID: "r", Text: "a", Replace: true, Rev: 2}.Event(), `{"conversation":"c","replace":true,"rev":2,"runId":"r","text":"a"}`},
		{RunReasoning{Conversation: "c", RunID: "r", Text: "t"}.Event(), `{"conversation":"c","runId":"r","text":"t"}`},
		{RunTool{Conversation: "c", RunID: "r", ToolCallID: "t1", Name: "ls", Phase: "start", Args: "{}"}.Event(), `{"args":"{}","conversation":"c","name":"ls","phase":"start","runId":"r","toolCallId":"t1"}`},
		{RunTool{Conversation: "c", RunID: "r", ToolCallID: "t1", Name: "ls", Phase: "end", Error: &yes, DurationMs: &ms}.Event(), `{"conversation":"c","durationMs":12,"error":true,"name":"ls","phase":"end","runId":"r","toolCallId":"t1"}`},
		{RunUsage{Conversation: "c", RunID: "r", Input: &two, Cost: &cost}.Event(), `{"conversation":"c","cost":0.5,"input":2,"runId":"r"}`},
		{RunFinal{Conversation: "c", RunID: "r", Text: "done", Usage: &Usage{Output: &two}, StopReason: "stop"}.Event(), `{"conversation":"c","runId":"r","stopReason":"stop","text":"done","usage":{"output":2}}`},
		{RunFinal{Conversation: "c", RunID: "r", Text: ""}.Event(), `{"conversation":"c","runId":"r","text":""}`},
		{RunAborted{Conversation: "c", RunID: "r", Text: "part"}.Event(), `{"conversation":"c","runId":"r","text":"part"}`},
		{RunError{Conversation: "c", RunID: "r", Message: "m", Kind: "not_sent"}.Event(), `{"conversation":"c","kind":"not_sent","message":"m","runId":"r"}`},
		{RunError{Conversation: "c", RunID: "r", Message: "m", Kind: "merged", Text: &empty, ContinuedBy: "r2"}.Event(), `{"continuedBy":"r2","conversation":"c","kind":"merged","message":"m","runId":"r","text":""}`},
		{RunSnapshot{Conversation: "c", RunID: "r", Text: "a", Rev: &rev, Reasoning: &reasoning, Tools: []ToolView{}, State: "running"}.Event(), `{"conversation":"c","reasoning":"plan","rev":3,"runId":"r","state":"running","text":"a","tools":[]}`},
		{RunSnapshot{Conversation: "c", RunID: "r", State: "error", Message: "m", Kind: "lost"}.Event(), `{"conversation":"c","kind":"lost","message":"m","runId":"r","state":"error","text":""}`},
		{Resync{Reason: "x"}.Event(), `{"reason":"x"}`},
		{GatewayStatus{State: "down"}.Event(), `{"state":"down"}`},
		{ApprovalResolved{ID: "a", Decision: "deny"}.Event(), `{"decision":"deny","id":"a"}`},
		{ErrorEvent{Code: "limit_reached", Message: "m"}.Event(), `{"code":"limit_reached","message":"m"}`},
		{ErrorEvent{Code: "limit_reached", Message: "m", Conversation: "c"}.Event(), `{"code":"limit_reached","conversation":"c","message":"m"}`},
		{ConversationDeleted{ID: "c"}.Event(), `{"id":"c"}`},
		{ConversationCreated{ConversationView{ID: "c", Kind: "conversation"}}.Event(), `{"id":"c","title":"","agentId":"","kind":"conversation","archived":false,"pinned":false,"running":false,"runId":null,"queued":0}`},
		{ApprovalRequested{Approval{ID: "a", Command: "ls", ExpiresAtMs: 5}}.Event(), `{"id":"a","command":"ls","expiresAtMs":5}`},
		{ReactionChanged{Conversation: "c", MessageID: "m", Reactions: map[string][]string{"👍": {"al"}}}.Event(), `{"conversation":"c","messageId":"m","reactions":{"👍":["al"]}}`},
		{ServerRestart{}.Event(), `{}`},
	}
	for _, c := range cases {
		if got := string(c.ev.Payload); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.ev.Name, got, c.want)
		}
		if c.ev.Body == nil || c.ev.Body.EventName() != c.ev.Name {
			t.Errorf("%s: typed body %T", c.ev.Name, c.ev.Body)
		}
	}
}

// TestCatalogNamesUnique checks that every event of the catalog has its own wire name and
// encodes as a JSON object.
func TestCatalogNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Catalog() {
		n := p.EventName()
		if seen[n] {
			t.Errorf("event %s twice", n)
		}
		seen[n] = true
		b, err := json.Marshal(p)
		if err != nil || !strings.HasPrefix(string(b), "{") {
			t.Errorf("%s encodes as %s (%v)", n, b, err)
		}
	}
}
