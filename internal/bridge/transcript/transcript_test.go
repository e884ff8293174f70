package transcript

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestConvertMessagesMergesToolResults(t *testing.T) {
	rows := []json.RawMessage{
		json.RawMessage(`{"role":"user","content":"\u200b/help"}`),
		json.RawMessage(`{"role":"assistant","__openclaw":{"id":"e1","runId":"r1"},"timestamp":1795275302834,"content":[{"type":"thinking","thinking":"plan"},{"type":"toolCall","id":"call_1","name":"ls","arguments":{"path":"."}}]}`),
		json.RawMessage(`{"role":"toolResult","toolCallId":"call_1","toolName":"ls","content":[{"type":"text","text":"a.txt"}]}`),
		json.RawMessage(`{"role":"assistant","stopReason":"error","errorMessage":"boom","content":[{"type":"text","text":"partial"}],"usage":{"inputTokens":3,"cost":0.25},"openclawAbort":{"aborted":true,"runId":"r2"}}`),
		json.RawMessage(`{"role":"system"}`),
		json.RawMessage(`not json`),
	}
	got := ConvertMessages(rows)
	if len(got) != 3 {
		t.Fatalf("got %d messages: %+v", len(got), got)
	}
	if got[0].Text != "/help" || got[0].Role != "user" {
		t.Errorf("user row: %+v", got[0])
	}
	m := got[1]
	if m.ID != "e1" || m.RunID != "r1" || m.At == nil || m.Reasoning != "plan" || len(m.Tools) != 1 || m.Tools[0].Result != "a.txt" || m.Tools[0].Args != `{"path":"."}` {
		t.Errorf("assistant row: %+v", m)
	}
	m = got[2]
	if !m.Aborted || m.RunID != "r2" || m.Error == nil || *m.Error != "boom" || m.Usage == nil || *m.Usage.Input != 3 || *m.Usage.Cost != 0.25 {
		t.Errorf("aborted row: %+v", m)
	}
}

func TestBounds(t *testing.T) {
	if got := Truncate("héllo", 2); got != "h…" {
		t.Errorf("Truncate cut a rune: %q", got)
	}
	if ResultPreview(json.RawMessage(`{"path":"/etc/secret"}`)) != "" {
		t.Error("a structured result was previewed")
	}
	if got := ResultPreview(json.RawMessage(`"` + strings.Repeat("x", 3000) + `"`)); len(got) > MaxResultPreview+len("…") {
		t.Errorf("result preview not bounded: %d", len(got))
	}
	if UsageOf(json.RawMessage(`{}`)) != nil || UsageOf(nil) != nil {
		t.Error("empty usage is not nil")
	}
}
