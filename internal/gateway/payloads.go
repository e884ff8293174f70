package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Chat event states.
const (
	ChatStateStatus  = "status"
	ChatStateDelta   = "delta"
	ChatStateFinal   = "final"
	ChatStateAborted = "aborted"
	ChatStateError   = "error"
)

// ChatEvent is the payload of a "chat" event. Do not dedupe by Seq: the last delta and
// the final share it.
type ChatEvent struct {
	RunID      string `json:"runId"`
	SessionKey string `json:"sessionKey"`
	AgentID    string `json:"agentId,omitempty"`
	Seq        int64  `json:"seq"`
	State      string `json:"state"`
	// DeltaText is the increment (state delta); Replace means "replace, don't append".
	DeltaText string `json:"deltaText,omitempty"`
	Replace   bool   `json:"replace,omitempty"`
	// Message is the cumulative assistant snapshot ({role, content, timestamp}); may be
	// absent. Use MessageText.
	Message      json.RawMessage `json:"message,omitempty"`
	Usage        json.RawMessage `json:"usage,omitempty"`
	StopReason   string          `json:"stopReason,omitempty"`
	ErrorMessage string          `json:"errorMessage,omitempty"`
	ErrorKind    string          `json:"errorKind,omitempty"`
	Phase        string          `json:"phase,omitempty"`
}

// Terminal reports whether the state ends the run (final, aborted, error).
func (e *ChatEvent) Terminal() bool {
	return e.State == ChatStateFinal || e.State == ChatStateAborted || e.State == ChatStateError
}

// MessageText returns the text of Message and whether a message was present.
func (e *ChatEvent) MessageText() (string, bool) {
	if len(e.Message) == 0 || string(e.Message) == "null" {
		return "", false
	}
	return MessageText(e.Message), true
}

// DecodeChatEvent decodes a chat event payload (lenient: unknown fields ignored).
func DecodeChatEvent(payload json.RawMessage) (*ChatEvent, error) {
	var e ChatEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("gateway: decode chat event: %s", shortJSONErr(err))
	}
	if e.RunID == "" || e.State == "" {
		return nil, fmt.Errorf("gateway: decode chat event: missing runId or state")
	}
	return &e, nil
}

// MessageText extracts the visible text of a transcript message: content as a string,
// or the concatenation of its {type:"text", text} blocks. Other blocks (thinking, tool
// calls, images) are skipped.
func MessageText(msg json.RawMessage) string {
	var m struct {
		Content json.RawMessage `json:"content"`
		Text    string          `json:"text"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return ""
	}
	if len(m.Content) == 0 {
		return m.Text
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &blocks) != nil {
		return ""
	}
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Type == "text" {
			b.WriteString(bl.Text)
		}
	}
	return b.String()
}

// AgentEvent is the payload of an "agent" event. Data depends on Stream (lifecycle,
// assistant, thinking, tool, item, plan, run_status, usage, approval, error, …).
type AgentEvent struct {
	RunID      string          `json:"runId"`
	Seq        int64           `json:"seq"`
	Stream     string          `json:"stream"`
	TS         int64           `json:"ts,omitempty"`
	SessionKey string          `json:"sessionKey,omitempty"`
	AgentID    string          `json:"agentId,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// Phase returns data.phase ("" when absent).
func (e *AgentEvent) Phase() string {
	var d struct {
		Phase string `json:"phase"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.Phase
}

// DecodeData decodes Data into v.
func (e *AgentEvent) DecodeData(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("gateway: decode agent %s data: %s", e.Stream, shortJSONErr(err))
	}
	return nil
}

// DecodeAgentEvent decodes an agent event payload (lenient).
func DecodeAgentEvent(payload json.RawMessage) (*AgentEvent, error) {
	var e AgentEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("gateway: decode agent event: %s", shortJSONErr(err))
	}
	if e.RunID == "" || e.Stream == "" {
		return nil, fmt.Errorf("gateway: decode agent event: missing runId or stream")
	}
	return &e, nil
}
