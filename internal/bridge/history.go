package bridge

import (
	"context"
	"fmt"
	"strconv"

	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Message is one history entry (docs/api.md "Message object").
type Message = transcript.Message

// Tool is a tool call with its result merged in.
type Tool = transcript.Tool

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

// rawMessage is one transcript row.
type rawMessage = transcript.Row

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
		s.ownersOf.Watch(c.SessionKey, u.ID)
	}
	raw, err := s.gw.ChatHistory(ctx, params)
	if err != nil {
		return HistoryPage{}, err
	}
	page := HistoryPage{Messages: transcript.ConvertMessages(raw.Messages), HasMore: raw.HasMore}
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
