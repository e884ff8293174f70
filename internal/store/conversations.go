package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

const conversationColumns = `user_id, id, agent_id, session_key, title, archived, created_at, updated_at, last_activity_at, pinned, host_app, context_id`

func scanConversation(row interface{ Scan(...any) error }) (chat.Conversation, error) {
	var (
		c                        chat.Conversation
		created, updated, active int64
	)
	if err := row.Scan(&c.UserID, &c.ID, &c.AgentID, &c.SessionKey, &c.Title, &c.Archived,
		&created, &updated, &active, &c.Pinned, &c.HostApp, &c.ContextID); err != nil {
		return chat.Conversation{}, err
	}
	c.CreatedAt, c.UpdatedAt, c.LastActivityAt = fromMS(created), fromMS(updated), fromMS(active)
	return c, nil
}

// CreateConversation stores a new conversation. chat.ErrConflict when (UserID, ID) or SessionKey
// exists, when a conversation shared with UserID has the id, or when its host context (HostApp
// not empty) already holds a conversation with the id, whoever made it (one statement, so two
// instances creating a shared context's conversation at once make one); chat.ErrInvalid when
// UserID, ID or SessionKey is empty.
func (d *DB) CreateConversation(ctx context.Context, c chat.Conversation) error {
	if c.UserID == "" || c.ID == "" || c.SessionKey == "" {
		return fmt.Errorf("store: create conversation: user id, id and session key are required: %w", chat.ErrInvalid)
	}
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		// A conversation shared with the user under this id takes the id (issue 13).
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM conversation_members WHERE user_id = $1 AND conversation_id = $2`,
			c.UserID, c.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errTaken
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO conversations (`+conversationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			c.UserID, c.ID, c.AgentID, c.SessionKey, c.Title, c.Archived,
			ms(c.CreatedAt), ms(c.UpdatedAt), ms(c.LastActivityAt), c.Pinned, c.HostApp, c.ContextID)
		return err
	})
	return mapErr("store: create conversation", err)
}

// Conversation returns userID's conversation id, or chat.ErrNotFound (also when id belongs to
// another user: ownership is part of the key).
func (d *DB) Conversation(ctx context.Context, userID, id string) (chat.Conversation, error) {
	c, err := scanConversation(d.db.QueryRowContext(ctx,
		`SELECT `+conversationColumns+` FROM conversations WHERE user_id = $1 AND id = $2`, userID, id))
	return c, mapErr("store: conversation", err)
}

// ConversationByKey returns the conversation backed by the Gateway session key sessionKey, or
// chat.ErrNotFound. Keys are stored as given (canonical, lower-case) and matched exactly.
func (d *DB) ConversationByKey(ctx context.Context, sessionKey string) (chat.Conversation, error) {
	c, err := scanConversation(d.db.QueryRowContext(ctx,
		`SELECT `+conversationColumns+` FROM conversations WHERE session_key = $1`, sessionKey))
	return c, mapErr("store: conversation", err)
}

// ContextConversationByID returns the conversation with id in host context (app, ctxID),
// whoever created it, or chat.ErrNotFound. A context holds at most one conversation with a given
// id (migration 00007): of two created at once on two instances, CreateConversation refuses the
// second with chat.ErrConflict (docs/embed.md "Shared contexts").
func (d *DB) ContextConversationByID(ctx context.Context, app, ctxID, id string) (chat.Conversation, error) {
	if app == "" || ctxID == "" {
		return chat.Conversation{}, fmt.Errorf("store: context conversation: %w", chat.ErrNotFound)
	}
	c, err := scanConversation(d.db.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations
	WHERE host_app = $1 AND context_id = $2 AND id = $3 ORDER BY created_at, user_id LIMIT 1`, app, ctxID, id))
	return c, mapErr("store: context conversation", err)
}

// Conversations returns all of userID's conversations, archived ones included, newest
// LastActivityAt first (ties broken by id).
func (d *DB) Conversations(ctx context.Context, userID string) ([]chat.Conversation, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+conversationColumns+` FROM conversations
	WHERE user_id = $1 ORDER BY last_activity_at DESC, id`, userID)
	if err != nil {
		return nil, mapErr("store: conversations", err)
	}
	defer rows.Close()
	var out []chat.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, mapErr("store: conversations", err)
		}
		out = append(out, c)
	}
	return out, mapErr("store: conversations", rows.Err())
}

// UpdateConversation sets Title, Archived, Pinned, UpdatedAt and LastActivityAt of the conversation
// (c.UserID, c.ID); the other fields are immutable. chat.ErrNotFound when there is none.
func (d *DB) UpdateConversation(ctx context.Context, c chat.Conversation) error {
	res, err := d.db.ExecContext(ctx, `UPDATE conversations SET title = $3, archived = $4, updated_at = $5,
	last_activity_at = $6, pinned = $7 WHERE user_id = $1 AND id = $2`,
		c.UserID, c.ID, c.Title, c.Archived, ms(c.UpdatedAt), ms(c.LastActivityAt), c.Pinned)
	return affectedOne("store: update conversation", res, err)
}

// RetitleConversation sets the title of userID's conversation id to to (and updated_at to at)
// only when its title is still from, and reports whether it did: an automatic title never
// overwrites a rename that came first. chat.ErrNotFound when there is no such conversation.
func (d *DB) RetitleConversation(ctx context.Context, userID, id, from, to string, at time.Time) (bool, error) {
	res, err := d.db.ExecContext(ctx, `UPDATE conversations SET title = $4, updated_at = $5
	WHERE user_id = $1 AND id = $2 AND title = $3`, userID, id, from, to, ms(at))
	if err != nil {
		return false, mapErr("store: retitle conversation", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return n == 1, mapErr("store: retitle conversation", err)
	}
	if _, err := d.Conversation(ctx, userID, id); err != nil {
		return false, err
	}
	return false, nil
}

// DeleteConversation deletes userID's conversation id and its reactions. chat.ErrNotFound when
// there is none.
func (d *DB) DeleteConversation(ctx context.Context, userID, id string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM conversations WHERE user_id = $1 AND id = $2`, userID, id)
	if err := affectedOne("store: delete conversation", res, err); err != nil {
		return err
	}
	// The page contexts its embedded messages carried (issue 12) go with it.
	_, err = d.db.ExecContext(ctx, `DELETE FROM message_contexts WHERE user_id = $1 AND conversation_id = $2`, userID, id)
	return mapErr("store: delete conversation contexts", err)
}

// CountConversations returns how many conversations userID created that count toward their
// conversation limit, archived ones included: all but the shared conversations of host contexts
// (host_app set, id "ctx-…", embed.SharedConversationID), which exist because a host granted the
// context shared to several people; the host decides who has them (docs/embed.md "Shared
// contexts"). A context's other conversations ("c-…" ids) count.
func (d *DB) CountConversations(ctx context.Context, userID string) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM conversations WHERE user_id = $1
	AND NOT (host_app <> '' AND id LIKE 'ctx-%')`, userID).Scan(&n)
	return n, mapErr("store: count conversations", err)
}
