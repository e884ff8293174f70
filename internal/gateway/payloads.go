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
	// DeltaText is the increment (state delta), nil when absent (then Message is the whole text);
	// Replace means "replace, don't append".
	DeltaText *string `json:"deltaText,omitempty"`
	Replace   bool    `json:"replace,omitempty"`
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

// Delta returns DeltaText, "" when absent.
func (e *ChatEvent) Delta() string {
	if e.DeltaText == nil {
		return ""
	}
	return *e.DeltaText
}

// MessageText returns the text of Message and whether a message was present (SnapshotText).
func (e *ChatEvent) MessageText() (string, bool) { return SnapshotText(e.Message) }

// DecodeChatEvent decodes a chat event payload (lenient: unknown fields ignored) and checks that
// it names its run and state.
func DecodeChatEvent(payload json.RawMessage) (*ChatEvent, error) {
	var e ChatEvent
	if err := UnmarshalChatEvent(payload, &e); err != nil {
		return nil, fmt.Errorf("gateway: decode chat event: %s", shortJSONErr(err))
	}
	if e.RunID == "" || e.State == "" {
		return nil, fmt.Errorf("gateway: decode chat event: missing runId or state")
	}
	return &e, nil
}

// MessageText extracts the visible text of a transcript message (SnapshotText without the
// presence flag).
func MessageText(msg json.RawMessage) string {
	text, _ := SnapshotText(msg)
	return text
}

// SnapshotText returns the visible text of a message (a chat event's snapshot or a transcript
// row) and whether there was a message: content as a string, or the concatenation of its
// {type:"text"} blocks; when that is empty, the message's own "text" field. These are the one set
// of fallbacks clawchat applies to messages (SnapshotIs proves the same result without decoding).
func SnapshotText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var m struct {
		Content json.RawMessage `json:"content"`
		Text    *string         `json:"text"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return "", false
	}
	text, _, _ := ContentParts(m.Content)
	if text == "" && m.Text != nil {
		text = *m.Text
	}
	return text, true
}

// ContentBlock is one block of message content.
type ContentBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Input     json.RawMessage `json:"input"`
}

// ContentParts splits message content (a string or blocks) into text, reasoning and tool calls.
func ContentParts(raw json.RawMessage) (text, reasoning string, tools []ContentBlock) {
	if len(raw) == 0 {
		return "", "", nil
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str, "", nil
	}
	var blocks []ContentBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return "", "", nil
	}
	var tb, rb strings.Builder
	for _, b := range blocks {
		switch b.Type {
		case "text":
			tb.WriteString(b.Text)
		case "thinking":
			rb.WriteString(b.Thinking)
		case "toolCall", "tool_use", "toolUse", "tool_call":
			tools = append(tools, b)
		}
	}
	return tb.String(), rb.String(), tools
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
