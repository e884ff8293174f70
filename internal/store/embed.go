package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// CreateEmbedSession stores a session a host token was exchanged for (docs/embed.md).
// chat.ErrConflict when s.ID exists.
func (d *DB) CreateEmbedSession(ctx context.Context, s chat.EmbedSession) error {
	if s.ID == "" || s.UserID == "" || s.App == "" {
		return fmt.Errorf("store: create embed session: id, user id and app are required: %w", chat.ErrInvalid)
	}
	grants, err := marshalGrants(s.Grants, s.Shared)
	if err != nil {
		return fmt.Errorf("store: create embed session: %w", err)
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO embed_sessions (id, user_id, host_app, grants, created_at, expires_at)
	VALUES ($1, $2, $3, $4, $5, $6)`, s.ID, s.UserID, s.App, string(grants), ms(s.CreatedAt), ms(s.ExpiresAt))
	return mapErr("store: create embed session", err)
}

// EmbedSession returns the embed session id, or chat.ErrNotFound. It does not check expiry; the
// caller does.
func (d *DB) EmbedSession(ctx context.Context, id string) (chat.EmbedSession, error) {
	var (
		s                  chat.EmbedSession
		grants             string
		created, expiresAt int64
	)
	err := d.db.QueryRowContext(ctx, `SELECT id, user_id, host_app, grants, created_at, expires_at
	FROM embed_sessions WHERE id = $1`, id).Scan(&s.ID, &s.UserID, &s.App, &grants, &created, &expiresAt)
	if err != nil {
		return chat.EmbedSession{}, mapErr("store: embed session", err)
	}
	if s.Grants, s.Shared, err = unmarshalGrants(grants); err != nil {
		return chat.EmbedSession{}, fmt.Errorf("store: embed session grants: %w", err)
	}
	s.CreatedAt, s.ExpiresAt = fromMS(created), fromMS(expiresAt)
	return s, nil
}

// DeleteEmbedSession deletes the embed session id (no error when there is none).
func (d *DB) DeleteEmbedSession(ctx context.Context, id string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM embed_sessions WHERE id = $1`, id)
	return mapErr("store: delete embed session", err)
}

// DeleteExpiredEmbedSessions deletes the embed sessions expired at now and returns how many.
func (d *DB) DeleteExpiredEmbedSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM embed_sessions WHERE expires_at <= $1`, ms(now))
	if err != nil {
		return 0, mapErr("store: delete expired embed sessions", err)
	}
	n, err := res.RowsAffected()
	return int(n), mapErr("store: delete expired embed sessions", err)
}

// PutMessageContext records the context one embedded message carried (replacing an earlier
// record of the same message: a retried send carries the same context).
func (d *DB) PutMessageContext(ctx context.Context, m chat.MessageContext) error {
	if m.UserID == "" || m.ConversationID == "" || m.MessageID == "" {
		return fmt.Errorf("store: put message context: user, conversation and message ids are required: %w", chat.ErrInvalid)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO message_contexts (user_id, conversation_id, message_id, context, created_at)
	VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (user_id, conversation_id, message_id) DO UPDATE SET context = excluded.context`,
		m.UserID, m.ConversationID, m.MessageID, m.Context, ms(m.CreatedAt))
	return mapErr("store: put message context", err)
}

// MessageContexts returns the contexts recorded for userID's conversation, oldest first.
func (d *DB) MessageContexts(ctx context.Context, userID, conversationID string) ([]chat.MessageContext, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT message_id, context, created_at FROM message_contexts
	WHERE user_id = $1 AND conversation_id = $2 ORDER BY created_at, message_id`, userID, conversationID)
	if err != nil {
		return nil, mapErr("store: message contexts", err)
	}
	defer rows.Close()
	var out []chat.MessageContext
	for rows.Next() {
		m := chat.MessageContext{UserID: userID, ConversationID: conversationID}
		var at int64
		if err := rows.Scan(&m.MessageID, &m.Context, &at); err != nil {
			return nil, mapErr("store: message contexts", err)
		}
		m.CreatedAt = fromMS(at)
		out = append(out, m)
	}
	return out, mapErr("store: message contexts", rows.Err())
}

// sharedGrant is how a context granted shared is stored in the grants column; a context granted
// not shared is stored as its role alone (the column's original form, which sessions stored
// before shared contexts still have).
type sharedGrant struct {
	Role   string `json:"role"`
	Shared bool   `json:"shared"`
}

func marshalGrants(grants map[string]string, shared map[string]bool) ([]byte, error) {
	out := make(map[string]any, len(grants))
	for id, role := range grants {
		if shared[id] {
			out[id] = sharedGrant{Role: role, Shared: true}
		} else {
			out[id] = role
		}
	}
	return json.Marshal(out)
}

func unmarshalGrants(s string) (map[string]string, map[string]bool, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, nil, err
	}
	grants := make(map[string]string, len(raw))
	var shared map[string]bool
	for id, v := range raw {
		var role string
		if json.Unmarshal(v, &role) == nil {
			grants[id] = role
			continue
		}
		var g sharedGrant
		if err := json.Unmarshal(v, &g); err != nil {
			return nil, nil, err
		}
		grants[id] = g.Role
		if g.Shared {
			if shared == nil {
				shared = map[string]bool{}
			}
			shared[id] = true
		}
	}
	return grants, shared, nil
}
