package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
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
}

// Tool is a tool call with its result merged in.
type Tool struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Args   string `json:"args,omitempty"`
	Result string `json:"result,omitempty"`
	Error  bool   `json:"error"`
}

// HistoryPage is one page of a conversation, oldest first.
type HistoryPage struct {
	Messages []Message `json:"messages"`
	HasMore  bool      `json:"hasMore"`
	Cursor   string    `json:"cursor,omitempty"`
	Running  bool      `json:"running"`
	RunID    *string   `json:"runId"`
}

// rawHistory is a chat.history answer.
type rawHistory = gateway.ChatHistoryResult

type rawMessage struct {
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

const (
	defaultHistoryLimit = 50
	maxHistoryLimit     = 200
)

// History returns a page of one of u's conversations: limit messages (default 50, max 200) before
// the cursor (an opaque value from a previous page; empty for the newest page).
func (s *Service) History(ctx context.Context, u chat.User, conversation string, limit int, before string) (HistoryPage, error) {
	page, err := s.history(ctx, u, conversation, limit, before)
	if gatewayAction(u, conversation, err) {
		s.audit(ctx, u, "gateway.history", conversation, map[string]any{"ok": err == nil})
	}
	return page, err
}

func (s *Service) history(ctx context.Context, u chat.User, conversation string, limit int, before string) (HistoryPage, error) {
	c, err := s.lookup(ctx, u, conversation)
	if err != nil {
		return HistoryPage{}, err
	}
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	limit = min(limit, maxHistoryLimit)
	params := gateway.ChatHistoryParams{SessionKey: c.SessionKey, Limit: limit}
	if before != "" {
		off, err := strconv.Atoi(before)
		if err != nil || off < 0 || off > 1_000_000 {
			return HistoryPage{}, fmt.Errorf("invalid cursor: %w", chat.ErrInvalid)
		}
		params.Offset = off
	}
	if isGateway(c) {
		s.mu.Lock()
		s.watchLocked(c.SessionKey, u.ID)
		s.mu.Unlock()
	}
	raw, err := s.gw.ChatHistory(ctx, params)
	if err != nil {
		return HistoryPage{}, err
	}
	page := HistoryPage{Messages: convertMessages(raw.Messages), HasMore: raw.HasMore}
	if raw.HasMore && raw.NextOffset != nil {
		page.Cursor = strconv.Itoa(*raw.NextOffset)
	}
	s.mu.Lock()
	if cs := s.convs[c.SessionKey]; cs != nil && cs.active != nil {
		page.Running = true
		id := cs.active.id
		page.RunID = &id
	}
	s.mu.Unlock()
	return page, nil
}

// convertMessages maps transcript rows to Messages, merging tool results into the assistant
// message that made the call.
func convertMessages(rows []json.RawMessage) []Message {
	out := make([]Message, 0, len(rows))
	where := map[string][2]int{} // toolCallId → (message index, tool index)
	for _, row := range rows {
		var m rawMessage
		if json.Unmarshal(row, &m) != nil {
			continue
		}
		msg := Message{Kind: "message"}
		if m.Meta != nil {
			msg.ID = m.Meta.ID
			msg.RunID = m.Meta.RunID
			if m.Meta.Kind == "compaction" {
				msg.Kind = "compaction"
			}
		}
		if m.Timestamp > 0 {
			msg.At = tp(time.UnixMilli(m.Timestamp))
		}
		switch m.Role {
		case "toolResult", "tool":
			text, _, _ := gateway.ContentParts(m.Content)
			if pos, ok := where[m.ToolCallID]; ok && m.ToolCallID != "" {
				t := &out[pos[0]].Tools[pos[1]]
				t.Result = truncate(text, maxResultPreview)
				t.Error = m.IsError
				continue
			}
			msg.Role = "tool"
			msg.Tools = []Tool{{ID: m.ToolCallID, Name: m.ToolName, Result: truncate(text, maxResultPreview), Error: m.IsError}}
		case "user":
			msg.Role = "user"
			text, _, _ := gateway.ContentParts(m.Content)
			msg.Text = displayUserText(text)
			msg.Attachments = mediaAttachments(row)
		case "assistant":
			msg.Role = "assistant"
			text, reasoning, calls := gateway.ContentParts(m.Content)
			msg.Text, msg.Reasoning = text, reasoning
			for _, b := range calls {
				args := b.Arguments
				if len(args) == 0 {
					args = b.Input
				}
				msg.Tools = append(msg.Tools, Tool{ID: b.ID, Name: b.Name, Args: preview(args, maxArgsPreview)})
			}
			msg.Usage = usageOf(m.Usage)
			if m.OpenclawAbort != nil && m.OpenclawAbort.Aborted {
				msg.Aborted = true
				if msg.RunID == "" {
					msg.RunID = m.OpenclawAbort.RunID
				}
			}
			if m.StopReason == "error" && m.ErrorMessage != "" {
				e := truncate(m.ErrorMessage, maxErrorMessage)
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
