package gateway_test

import (
	"encoding/json"
	"testing"

	"github.com/clawchat/clawchat/internal/gateway"
)

func TestDecodeChatEventFromTranscript(t *testing.T) {
	// verbatim from transcripts/11-chat-send-stream.jsonl (run1 final)
	raw := `{"runId":"probe-1795275190-chat-run1","sessionKey":"agent:main:probe-1795275190-chat","agentId":"main","seq":16,"state":"final","stopReason":"stop","message":{"role":"assistant","content":[{"type":"text","text":"Echo: Hello gateway, please stream this back"}],"timestamp":1795275302834},"unknownFutureField":{"x":1}}`
	e, err := gateway.DecodeChatEvent(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	if e.RunID != "probe-1795275190-chat-run1" || e.Seq != 16 || e.State != gateway.ChatStateFinal || !e.Terminal() || e.StopReason != "stop" || e.AgentID != "main" {
		t.Errorf("decoded %+v", e)
	}
	if txt, ok := e.MessageText(); !ok || txt != "Echo: Hello gateway, please stream this back" {
		t.Errorf("text %q %v", txt, ok)
	}

	delta := `{"runId":"r","sessionKey":"k","seq":3,"state":"delta","deltaText":"","replace":true}`
	e, err = gateway.DecodeChatEvent(json.RawMessage(delta))
	if err != nil || !e.Replace || e.Terminal() {
		t.Fatalf("delta: %+v %v", e, err)
	}
	if _, ok := e.MessageText(); ok {
		t.Errorf("message reported present")
	}
	errEv := `{"runId":"r","sessionKey":"k","seq":58,"state":"error","errorMessage":"boom","errorKind":"timeout"}`
	e, err = gateway.DecodeChatEvent(json.RawMessage(errEv))
	if err != nil || e.ErrorKind != "timeout" || e.ErrorMessage != "boom" {
		t.Errorf("error event %+v %v", e, err)
	}
	if _, err := gateway.DecodeChatEvent(json.RawMessage(`{"state":"final"}`)); err == nil {
		t.Errorf("event without runId accepted")
	}
}

func TestMessageText(t *testing.T) {
	cases := map[string]string{
		`{"role":"user","content":"plain"}`: "plain",
		`{"role":"assistant","content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"a"},{"type":"toolCall","id":"1"},{"type":"text","text":"b"}]}`: "ab",
		`{"role":"assistant"}`: "",
		`not json`:             "",
	}
	for in, want := range cases {
		if got := gateway.MessageText(json.RawMessage(in)); got != want {
			t.Errorf("MessageText(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeAgentEvent(t *testing.T) {
	raw := `{"runId":"r","stream":"lifecycle","data":{"phase":"start","startedAt":1},"sessionKey":"agent:main:x","agentId":"main","seq":3,"ts":9,"isHeartbeat":false}`
	e, err := gateway.DecodeAgentEvent(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 3 || e.Stream != "lifecycle" || e.Phase() != "start" || e.SessionKey != "agent:main:x" || e.TS != 9 {
		t.Errorf("decoded %+v", e)
	}
	var d struct{ StartedAt int64 }
	if err := e.DecodeData(&d); err != nil || d.StartedAt != 1 {
		t.Errorf("data %+v %v", d, err)
	}
	if _, err := gateway.DecodeAgentEvent(json.RawMessage(`{"runId":"r"}`)); err == nil {
		t.Errorf("agent event without stream accepted")
	}
}
