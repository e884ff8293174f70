package httpapi

import (
	"time"

	"github.com/clawchat/clawchat/internal/bridge"
)

// miso-chat compatibility: the REST routes answer with clawchat's own fields plus the fields
// miso-chat's web client and scripts read (docs/migrate-from-miso.md). Only additions: a
// clawchat client never sees a field change meaning.

// misoSession is a conversation in GET /api/sessions: miso-chat's clients read key or
// sessionKey and displayName.
type misoSession struct {
	bridge.Conversation
	Key         string `json:"key"`
	SessionKey  string `json:"sessionKey"`
	DisplayName string `json:"displayName"`
}

func misoSessions(list []bridge.Conversation) []misoSession {
	out := make([]misoSession, len(list))
	for i, c := range list {
		name := c.Title
		if name == "" {
			name = c.ID
		}
		out[i] = misoSession{Conversation: c, Key: c.ID, SessionKey: c.ID, DisplayName: name}
	}
	return out
}

// misoMessage is a history message: miso-chat's clients read content (the visible text),
// timestamp and thinking.
type misoMessage struct {
	bridge.Message
	Content   string     `json:"content"`
	Timestamp *time.Time `json:"timestamp"`
	Thinking  string     `json:"thinking"`
}

// misoHistory is GET /api/sessions/{key}/history: clawchat's page plus sessionKey.
type misoHistory struct {
	SessionKey string        `json:"sessionKey"`
	Messages   []misoMessage `json:"messages"`
	HasMore    bool          `json:"hasMore"`
	Cursor     string        `json:"cursor,omitempty"`
	Running    bool          `json:"running"`
	RunID      *string       `json:"runId"`
}

func misoHistoryPage(key string, p bridge.HistoryPage) misoHistory {
	msgs := make([]misoMessage, len(p.Messages))
	for i, m := range p.Messages {
		msgs[i] = misoMessage{Message: m, Content: m.Text, Timestamp: m.At, Thinking: m.Reasoning}
	}
	return misoHistory{SessionKey: key, Messages: msgs, HasMore: p.HasMore, Cursor: p.Cursor, Running: p.Running, RunID: p.RunID}
}

// misoHealth maps the Gateway state to miso-chat's realtime.state words.
func misoRealtimeState(st string) string {
	switch st {
	case bridge.StateConnected:
		return "healthy"
	case bridge.StateReconnecting:
		return "reconnecting"
	default:
		return "disconnected"
	}
}
