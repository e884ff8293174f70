// Package transcript reads what the Gateway says about a conversation's text for browsers: chat
// transcript rows (chat.history) become Messages, tool arguments and results become bounded
// previews, usage objects become chat.Usage. Model output is hostile: everything here is bounded
// and only text is previewed (structured tool results may carry server paths). It holds no state.
package transcript

import (
	"cmp"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clawchat/clawchat/internal/bridge/sessionkey"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Preview bounds for tool arguments, tool results and error messages sent to clients.
const (
	MaxArgsPreview   = 500
	MaxResultPreview = 2000
	MaxErrorMessage  = 500
)

// Message is one history entry (docs/api.md "Message object").
type Message struct {
	ID        string      `json:"id"`
	Role      string      `json:"role"` // user | assistant | tool
	At        *time.Time  `json:"at,omitempty"`
	Text      string      `json:"text"`
	Reasoning string      `json:"reasoning,omitempty"`
	Tools     []Tool      `json:"tools,omitempty"`
	Usage     *chat.Usage `json:"usage,omitempty"`
	Aborted   bool        `json:"aborted"`
	Error     *string     `json:"error"`
	Kind      string      `json:"kind"` // message | compaction
	RunID     string      `json:"runId,omitempty"`
	// Attachments are the files a user row was sent with (media.go).
	Attachments []MediaAttachment `json:"attachments,omitempty"`
	// Sender is who typed a user row of a shared conversation (issue 13; from clawchat's store).
	Sender *chat.Sender `json:"sender,omitempty"`
	// UserRunID is the run id a user row was sent under (its idempotency key), for Sender.
	UserRunID string `json:"-"`
}

// Tool is a tool call with its result merged in.
type Tool struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Args   string `json:"args,omitempty"`
	Result string `json:"result,omitempty"`
	Error  bool   `json:"error"`
}

// Row is one transcript row of chat.history, as far as clawchat reads it.
type Row struct {
	Role           string          `json:"role"`
	Content        json.RawMessage `json:"content"`
	Timestamp      int64           `json:"timestamp"`
	Usage          json.RawMessage `json:"usage"`
	ToolCallID     string          `json:"toolCallId"`
	ToolName       string          `json:"toolName"`
	IsError        bool            `json:"isError"`
	StopReason     string          `json:"stopReason"`
	ErrorMessage   string          `json:"errorMessage"`
	IdempotencyKey string          `json:"idempotencyKey"`
	Provenance     *struct {
		Kind string `json:"kind"`
	} `json:"provenance"`
	OpenclawAbort *struct {
		Aborted bool   `json:"aborted"`
		RunID   string `json:"runId"`
	} `json:"openclawAbort"`
	Meta *struct {
		ID    string `json:"id"`
		Kind  string `json:"kind"`
		RunID string `json:"runId"`
	} `json:"__openclaw"`
}

// Time returns t in UTC, or nil when it is zero.
func Time(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// ConvertMessages maps transcript rows to Messages, merging tool results into the assistant
// message that made the call. Rows it cannot read are skipped.
func ConvertMessages(rows []json.RawMessage) []Message {
	out := make([]Message, 0, len(rows))
	where := map[string][2]int{} // toolCallId → (message index, tool index)
	for _, row := range rows {
		var m Row
		if json.Unmarshal(row, &m) != nil {
			continue
		}
		msg := Message{Kind: "message"}
		if m.Role == "user" {
			msg.UserRunID = strings.TrimSuffix(m.IdempotencyKey, ":user")
		}
		if m.Meta != nil {
			msg.ID = m.Meta.ID
			msg.RunID = m.Meta.RunID
			if m.Meta.Kind == "compaction" {
				msg.Kind = "compaction"
			}
		}
		if m.Timestamp > 0 {
			msg.At = Time(time.UnixMilli(m.Timestamp))
		}
		switch m.Role {
		case "toolResult", "tool":
			text, _, _ := gateway.ContentParts(m.Content)
			if pos, ok := where[m.ToolCallID]; ok && m.ToolCallID != "" {
				t := &out[pos[0]].Tools[pos[1]]
				t.Result = Truncate(text, MaxResultPreview)
				t.Error = m.IsError
				continue
			}
			msg.Role = "tool"
			msg.Tools = []Tool{{ID: m.ToolCallID, Name: m.ToolName, Result: Truncate(text, MaxResultPreview), Error: m.IsError}}
		case "user":
			msg.Role = "user"
			text, _, _ := gateway.ContentParts(m.Content)
			msg.Text = sessionkey.DisplayUserText(text)
			msg.Attachments = MediaAttachments(row)
		case "assistant":
			msg.Role = "assistant"
			text, reasoning, calls := gateway.ContentParts(m.Content)
			msg.Text, msg.Reasoning = text, reasoning
			for _, b := range calls {
				args := b.Arguments
				if len(args) == 0 {
					args = b.Input
				}
				msg.Tools = append(msg.Tools, Tool{ID: b.ID, Name: b.Name, Args: Preview(args, MaxArgsPreview)})
			}
			msg.Usage = UsageOf(m.Usage)
			if m.OpenclawAbort != nil && m.OpenclawAbort.Aborted {
				msg.Aborted = true
				if msg.RunID == "" {
					msg.RunID = m.OpenclawAbort.RunID
				}
			}
			if m.StopReason == "error" && m.ErrorMessage != "" {
				e := Truncate(m.ErrorMessage, MaxErrorMessage)
				msg.Error = &e
			}
		default:
			if msg.Kind != "compaction" {
				continue
			}
			msg.Role = "assistant"
		}
		for i, t := range msg.Tools {
			if t.ID != "" {
				where[t.ID] = [2]int{len(out), i}
			}
		}
		out = append(out, msg)
	}
	return out
}

// UsageOf reads the Gateway's usage (input/output or inputTokens/outputTokens, cost as a number
// or {total}); nil when it says nothing.
func UsageOf(raw json.RawMessage) *chat.Usage {
	if len(raw) == 0 {
		return nil
	}
	var u struct {
		Input        *int64          `json:"input"`
		Output       *int64          `json:"output"`
		InputTokens  *int64          `json:"inputTokens"`
		OutputTokens *int64          `json:"outputTokens"`
		Cost         json.RawMessage `json:"cost"`
	}
	if json.Unmarshal(raw, &u) != nil {
		return nil
	}
	var out chat.Usage
	out.Input = cmp.Or(u.Input, u.InputTokens)
	out.Output = cmp.Or(u.Output, u.OutputTokens)
	if len(u.Cost) > 0 {
		var f float64
		var c struct {
			Total float64 `json:"total"`
		}
		if json.Unmarshal(u.Cost, &f) == nil {
			out.Cost = &f
		} else if json.Unmarshal(u.Cost, &c) == nil {
			out.Cost = &c.Total
		}
	}
	if out.Empty() {
		return nil
	}
	return &out
}

// Truncate cuts s to at most n bytes at a rune boundary, marking a cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Preview is raw JSON as bounded text ("" for nothing or null).
func Preview(raw json.RawMessage, n int) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	return Truncate(string(raw), n)
}

// ResultPreview extracts the text of a tool result ({content:[{type:text,text}]} or a string).
func ResultPreview(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var r struct {
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &r) == nil && len(r.Content) > 0 {
		if t, _, _ := gateway.ContentParts(r.Content); t != "" {
			return Truncate(t, MaxResultPreview)
		}
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return Truncate(str, MaxResultPreview)
	}
	return "" // structured results may carry server paths; only text is previewed
}
