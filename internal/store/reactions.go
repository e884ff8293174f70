package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/clawchat/clawchat/internal/chat"
)

// Reactions belong to a conversation by its session key and stay private to who made them. The
// API names a conversation as the user sees it, (userID, conversationID), and resolves it the way
// Access does: the participant's row of a shared conversation, else the user's own unshared one.
// Removing a participant (RemoveMember) deletes their reactions in the conversation; deleting
// the conversation deletes all of its reactions.

// reactionKey is the session key (userID=$1, conversationID=$2) resolves to, as a subquery
// yielding at most one row (a person never sees two conversations with one id).
const reactionKey = `(SELECT m.session_key FROM conversation_members m WHERE m.user_id = $1 AND m.conversation_id = $2
	UNION ALL SELECT c.session_key FROM conversations c WHERE c.user_id = $1 AND c.id = $2
	AND NOT EXISTS (SELECT 1 FROM conversation_members x WHERE x.session_key = c.session_key))`

// AddReaction records r. Adding a reaction that exists is a no-op (the original CreatedAt stays).
// chat.ErrNotFound when r.UserID may not see a conversation r.ConversationID (Access).
func (d *DB) AddReaction(ctx context.Context, r chat.Reaction) error {
	if r.MessageID == "" || r.Emoji == "" {
		return fmt.Errorf("store: add reaction: message id and emoji are required: %w", chat.ErrInvalid)
	}
	var key string
	if err := d.db.QueryRowContext(ctx, `SELECT k.session_key FROM `+reactionKey+` k`,
		r.UserID, r.ConversationID).Scan(&key); err != nil {
		return mapErr("store: add reaction", err)
	}
	// A conversation deleted meanwhile fails the foreign key: chat.ErrNotFound too.
	_, err := d.db.ExecContext(ctx, `INSERT INTO reactions (user_id, session_key, message_id, emoji, created_at)
	VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, session_key, message_id, emoji) DO NOTHING`,
		r.UserID, key, r.MessageID, r.Emoji, ms(r.CreatedAt))
	return mapErr("store: add reaction", err)
}

// RemoveReaction deletes the reaction identified by (UserID, ConversationID, MessageID, Emoji).
// Removing one that does not exist is not an error.
func (d *DB) RemoveReaction(ctx context.Context, r chat.Reaction) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM reactions
	WHERE user_id = $1 AND session_key IN `+reactionKey+` AND message_id = $3 AND emoji = $4`,
		r.UserID, r.ConversationID, r.MessageID, r.Emoji)
	return mapErr("store: remove reaction", err)
}

// Reactions returns every reaction of userID in conversationID, oldest first.
func (d *DB) Reactions(ctx context.Context, userID, conversationID string) ([]chat.Reaction, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT user_id, message_id, emoji, created_at
	FROM reactions WHERE user_id = $1 AND session_key IN `+reactionKey+` ORDER BY created_at, message_id, emoji`,
		userID, conversationID)
	return scanReactions(conversationID, rows, err)
}

// MessageReactions returns the reactions of userID on one message, oldest first.
func (d *DB) MessageReactions(ctx context.Context, userID, conversationID, messageID string) ([]chat.Reaction, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT user_id, message_id, emoji, created_at
	FROM reactions WHERE user_id = $1 AND session_key IN `+reactionKey+` AND message_id = $3 ORDER BY created_at, emoji`,
		userID, conversationID, messageID)
	return scanReactions(conversationID, rows, err)
}

// scanReactions reads reactions of the conversation the reader sees as conversationID.
func scanReactions(conversationID string, rows *sql.Rows, err error) ([]chat.Reaction, error) {
	if err != nil {
		return nil, mapErr("store: reactions", err)
	}
	defer rows.Close()
	var out []chat.Reaction
	for rows.Next() {
		var (
			r  = chat.Reaction{ConversationID: conversationID}
			at int64
		)
		if err := rows.Scan(&r.UserID, &r.MessageID, &r.Emoji, &at); err != nil {
			return nil, mapErr("store: reactions", err)
		}
		r.CreatedAt = fromMS(at)
		out = append(out, r)
	}
	return out, mapErr("store: reactions", rows.Err())
}
