package stream

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/runs"
	"github.com/clawchat/clawchat/internal/chat"
)

// fakeRuns routes every event of session "agent:main:clawchat:u:c" to one run and records what
// is published and how runs end.
type fakeRuns struct {
	run      *runs.Run
	events   []chat.Event
	finished []chat.Payload
	bare     int
	dropped  int
	renew    bool // what Dropped answers
}

func (f *fakeRuns) Route(runID, key string, _ bool) *runs.Run {
	if key != "agent:main:clawchat:u:c" {
		return nil
	}
	return f.run
}
func (f *fakeRuns) Publish(_ *runs.Run, ev chat.Event) { f.events = append(f.events, ev) }
func (f *fakeRuns) Finish(_ *runs.Run, p chat.Payload) bool {
	f.finished = append(f.finished, p)
	return true
}
func (f *fakeRuns) Bare(*runs.Run) { f.bare++ }
func (f *fakeRuns) Dropped(*runs.Run) bool {
	f.dropped++
	return f.renew
}

func newFake() *fakeRuns { return &fakeRuns{run: new(runs.Run)} }

func js(v any) json.RawMessage { b, _ := json.Marshal(v); return b }

func msg(text string) map[string]any {
	return map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": text}}}
}

func TestChatEventsBecomeRunEvents(t *testing.T) {
	f := newFake()
	tr := New(f, nil, time.Now)
	key := "AGENT:main:clawchat:u:c" // keys are matched lower-cased
	tr.HandleChat(js(map[string]any{"runId": "r", "sessionKey": key, "state": "delta", "deltaText": "Hel", "message": msg("Hel")}))
	tr.HandleChat(js(map[string]any{"runId": "r", "sessionKey": key, "state": "delta", "deltaText": "lo", "message": msg("Hello"), "usage": map[string]any{"input": 3}}))
	tr.HandleChat(js(map[string]any{"runId": "r", "sessionKey": "agent:main:clawchat:x:y", "state": "delta", "deltaText": "nobody's"}))
	tr.HandleChat(js(map[string]any{"runId": "r", "sessionKey": key, "state": "final", "message": msg("Hello!"), "stopReason": "stop", "secret": "/srv/x"}))
	var names []string
	for _, ev := range f.events {
		names = append(names, ev.Name)
		if strings.Contains(string(ev.Payload), "nobody") || strings.Contains(string(ev.Payload), "/srv/x") {
			t.Fatalf("leaked: %s", ev.Payload)
		}
	}
	if strings.Join(names, ",") != "run.delta,run.delta,run.usage" {
		t.Fatalf("events %v", names)
	}
	if len(f.finished) != 1 {
		t.Fatalf("finished %v", f.finished)
	}
	if fin, ok := f.finished[0].(chat.RunFinal); !ok || fin.Text != "Hello!" || fin.StopReason != "stop" {
		t.Fatalf("final %+v", f.finished[0])
	}
	// A final with neither message nor text is not the reply: history decides.
	g := newFake()
	New(g, nil, time.Now).HandleChat(js(map[string]any{"runId": "r", "sessionKey": key, "state": "final"}))
	if g.bare != 1 || len(g.finished) != 0 {
		t.Fatalf("bare final: %+v", g)
	}
}

// The Gateway's "pending input ownership ended" error is not the run's end when clawchat can
// send the message once more; otherwise the run ends "lost" (send it again), not with the
// Gateway's internal wording. Any other error ends the run with the Gateway's message and kind.
func TestDroppedInputIsRenewedOrLost(t *testing.T) {
	key := "agent:main:clawchat:u:c"
	dropped := js(map[string]any{"runId": "r", "sessionKey": key, "state": "error",
		"errorMessage": "Error: Pending input ownership ended; submit a new turn to continue"})

	f := newFake()
	f.renew = true
	New(f, nil, time.Now).HandleChat(dropped)
	if f.dropped != 1 || len(f.finished) != 0 {
		t.Fatalf("renewable: dropped %d, finished %+v", f.dropped, f.finished)
	}

	g := newFake()
	New(g, nil, time.Now).HandleChat(dropped)
	if e, ok := g.finished[0].(chat.RunError); len(g.finished) != 1 || !ok || e.Kind != "lost" || strings.Contains(e.Message, "ownership") {
		t.Fatalf("not renewable: %+v", g.finished)
	}

	h := newFake()
	New(h, nil, time.Now).HandleChat(js(map[string]any{"runId": "r", "sessionKey": key, "state": "error", "errorMessage": "model overloaded", "errorKind": "provider"}))
	if e, ok := h.finished[0].(chat.RunError); h.dropped != 0 || len(h.finished) != 1 || !ok || e.Kind != "provider" || e.Message != "model overloaded" {
		t.Fatalf("other error: dropped %d, %+v", h.dropped, h.finished)
	}
}

func TestAgentEventsBecomeRunEvents(t *testing.T) {
	f := newFake()
	tr := New(f, nil, time.Now)
	key := "agent:main:clawchat:u:c"
	tr.HandleAgent(js(map[string]any{"runId": "r", "sessionKey": key, "stream": "thinking", "data": map[string]any{"delta": "hm"}}))
	tr.HandleAgent(js(map[string]any{"runId": "r", "sessionKey": key, "stream": "tool", "data": map[string]any{"phase": "start", "name": "exec", "toolCallId": "t1", "args": map[string]any{"cmd": "ls"}}}))
	tr.HandleAgent(js(map[string]any{"runId": "r", "sessionKey": key, "stream": "tool", "data": map[string]any{"phase": "result", "toolCallId": "t1", "result": map[string]any{"path": "/etc/shadow"}}}))
	tr.HandleAgent(js(map[string]any{"runId": "r", "sessionKey": key, "stream": "approval", "data": map[string]any{"phase": "requested", "kind": "exec", "approvalId": "a1", "command": "rm -rf /"}}))
	var names []string
	for _, ev := range f.events {
		names = append(names, ev.Name)
		if strings.Contains(string(ev.Payload), "/etc/shadow") || strings.Contains(string(ev.Payload), "rm -rf") {
			t.Fatalf("leaked: %s", ev.Payload)
		}
	}
	if strings.Join(names, ",") != "run.reasoning,run.tool,run.tool,run.tool" {
		t.Fatalf("events %v", names)
	}
	_, _, reasoning, tools := f.run.Content().View()
	if reasoning != "hm" || len(tools) != 2 || tools[1].Name != "exec approval" {
		t.Fatalf("content: %q %+v", reasoning, tools)
	}
}
