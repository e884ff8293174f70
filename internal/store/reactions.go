package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/clawchat/clawchat/internal/chat"
)

// AddReaction records r. Adding a reaction that exists is a no-op (the original CreatedAt stays).
// chat.ErrNotFound when the conversation (r.UserID, r.ConversationID) does not exist.
func (d *DB) AddReaction(ctx context.Context, r chat.Reaction) error {
	if r.MessageID == "" || r.Emoji == "" {
		return fmt.Errorf("store: add reaction: message id and emoji are required: %w", chat.ErrInvalid)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO reactions (user_id, conversation_id, message_id, emoji, created_at)
	VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, conversation_id, message_id, emoji) DO NOTHING`,
		r.UserID, r.ConversationID, r.MessageID, r.Emoji, ms(r.CreatedAt))
	return mapErr("store: add reaction", err)
}

// RemoveReaction deletes the reaction identified by (UserID, ConversationID, MessageID, Emoji).
// Removing one that does not exist is not an error.
func (d *DB) RemoveReaction(ctx context.Context, r chat.Reaction) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM reactions
	WHERE user_id = $1 AND conversation_id = $2 AND message_id = $3 AND emoji = $4`,
		r.UserID, r.ConversationID, r.MessageID, r.Emoji)
	return mapErr("store: remove reaction", err)
}

// Reactions returns every reaction of userID in conversationID, oldest first.
func (d *DB) Reactions(ctx context.Context, userID, conversationID string) ([]chat.Reaction, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT user_id, conversation_id, message_id, emoji, created_at
	FROM reactions WHERE user_id = $1 AND conversation_id = $2 ORDER BY created_at, message_id, emoji`,
		userID, conversationID)
	return scanReactions(rows, err)
}

// MessageReactions returns the reactions of userID on one message, oldest first.
func (d *DB) MessageReactions(ctx context.Context, userID, conversationID, messageID string) ([]chat.Reaction, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT user_id, conversation_id, message_id, emoji, created_at
	FROM reactions WHERE user_id = $1 AND conversation_id = $2 AND message_id = $3 ORDER BY created_at, emoji`,
		userID, conversationID, messageID)
	return scanReactions(rows, err)
}

func scanReactions(rows *sql.Rows, err error) ([]chat.Reaction, error) {
	if err != nil {
		return nil, mapErr("store: reactions", err)
	}
	defer rows.Close()
	var out []chat.Reaction
	for rows.Next() {
		var (
			r  chat.Reaction
			at int64
		)
		if err := rows.Scan(&r.UserID, &r.ConversationID, &r.MessageID, &r.Emoji, &at); err != nil {
			return nil, mapErr("store: reactions", err)
		}
		r.CreatedAt = fromMS(at)
		out = append(out, r)
	}
	return out, mapErr("store: reactions", rows.Err())
}
