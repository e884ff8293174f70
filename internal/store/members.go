package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/clawchat/clawchat/internal/chat"
)

// Shared conversations (issue 13). A conversation without rows in conversation_members is its
// creator's alone (Conversation.UserID is the owner). Once shared, every participant has a row,
// the owner included, and only the rows give access; Conversation.UserID stays the creator, whose
// id is part of the session key.

const memberColumns = `session_key, user_id, conversation_id, role, added_by, added_at, muted`

func scanMember(row interface{ Scan(...any) error }) (chat.Member, error) {
	var (
		m    chat.Member
		role string
		at   int64
	)
	if err := row.Scan(&m.SessionKey, &m.UserID, &m.ConversationID, &role, &m.AddedBy, &at, &m.Muted); err != nil {
		return chat.Member{}, err
	}
	m.Role, m.AddedAt = chat.ShareRole(role), fromMS(at)
	return m, nil
}

// Access returns the conversation userID sees under id and userID's role in it, or
// chat.ErrNotFound when userID may not see it: userID is a participant of a shared conversation
// with that id, or created an unshared one. A creator who left (or was removed from) their own
// shared conversation has no access to it.
func (d *DB) Access(ctx context.Context, userID, id string) (chat.Conversation, chat.ShareRole, error) {
	var role string
	c, err := scanConversationWith(d.db.QueryRowContext(ctx, `SELECT `+prefixed("c.", conversationColumns)+`, m.role
	FROM conversation_members m JOIN conversations c ON c.session_key = m.session_key
	WHERE m.user_id = $1 AND m.conversation_id = $2`, userID, id), &role)
	if err == nil {
		c.Role, c.Shared = chat.ShareRole(role), true
		return c, c.Role, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return chat.Conversation{}, "", mapErr("store: access", err)
	}
	c, err = scanConversation(d.db.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations c
	WHERE c.user_id = $1 AND c.id = $2
	AND NOT EXISTS (SELECT 1 FROM conversation_members m WHERE m.session_key = c.session_key)`, userID, id))
	if err != nil {
		return chat.Conversation{}, "", mapErr("store: access", err)
	}
	c.Role = chat.ShareOwner
	return c, chat.ShareOwner, nil
}

// AccessibleConversations returns every conversation userID may see (Access), archived ones
// included, newest LastActivityAt first, each with userID's role.
func (d *DB) AccessibleConversations(ctx context.Context, userID string) ([]chat.Conversation, []chat.ShareRole, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+prefixed("c.", conversationColumns)+`, COALESCE(m.role, 'owner'),
	m.user_id IS NOT NULL
	FROM conversations c LEFT JOIN conversation_members m ON m.session_key = c.session_key AND m.user_id = $1
	WHERE m.user_id = $1 OR (c.user_id = $1
		AND NOT EXISTS (SELECT 1 FROM conversation_members x WHERE x.session_key = c.session_key))
	ORDER BY c.last_activity_at DESC, c.id`, userID)
	if err != nil {
		return nil, nil, mapErr("store: accessible conversations", err)
	}
	defer rows.Close()
	var (
		out   []chat.Conversation
		roles []chat.ShareRole
		c0    chat.Conversation // scan target of the shared flag
	)
	for rows.Next() {
		var role string
		c, err := scanConversationWith(rows, &role, &c0.Shared)
		if err != nil {
			return nil, nil, mapErr("store: accessible conversations", err)
		}
		c.Role, c.Shared = chat.ShareRole(role), c0.Shared
		out, roles = append(out, c), append(roles, c.Role)
	}
	return out, roles, mapErr("store: accessible conversations", rows.Err())
}

// SharedWithMember reports whether a participant of the conversation with sessionKey holds the
// member account role (or has no account any more): then its session runs under the member
// policy, the most restrictive of its participants' (issue 13). False when it is not shared.
func (d *DB) SharedWithMember(ctx context.Context, sessionKey string) (bool, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM conversation_members m
	LEFT JOIN accounts a ON a.id = m.user_id
	WHERE m.session_key = $1 AND (a.id IS NULL OR a.role <> 'owner')`, sessionKey).Scan(&n)
	return n > 0, mapErr("store: shared with member", err)
}

// Members returns the participants of the conversation with sessionKey (owner first, then by
// the time they were added); empty when it is not shared.
func (d *DB) Members(ctx context.Context, sessionKey string) ([]chat.Member, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+memberColumns+` FROM conversation_members
	WHERE session_key = $1 ORDER BY CASE WHEN role = 'owner' THEN 0 ELSE 1 END, added_at, user_id`, sessionKey)
	if err != nil {
		return nil, mapErr("store: members", err)
	}
	defer rows.Close()
	var out []chat.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, mapErr("store: members", err)
		}
		out = append(out, m)
	}
	return out, mapErr("store: members", rows.Err())
}

// AddMember adds m to the conversation c (which must exist). When c is not shared yet, its
// creator becomes its owner row first, in the same transaction. m.Role must be member or
// read-only. chat.ErrConflict when m.UserID already takes part, or already sees another
// conversation with the same id; chat.ErrNotFound when c does not exist.
func (d *DB) AddMember(ctx context.Context, c chat.Conversation, m chat.Member) error {
	if m.UserID == "" || c.SessionKey == "" || (m.Role != chat.ShareMember && m.Role != chat.ShareReadOnly) {
		return fmt.Errorf("store: add member: user, conversation and a member or read-only role are required: %w", chat.ErrInvalid)
	}
	err := d.inTx(ctx, func(tx *sql.Tx) error { return addMemberTx(ctx, tx, c, m) })
	return mapErr("store: add member", err)
}

var errTaken = fmt.Errorf("the person already has a conversation with this id: %w", chat.ErrConflict)

func addMemberTx(ctx context.Context, tx *sql.Tx, c chat.Conversation, m chat.Member) error {
	var creator string
	if err := tx.QueryRowContext(ctx, `SELECT user_id FROM conversations WHERE session_key = $1 AND id = $2`,
		c.SessionKey, c.ID).Scan(&creator); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM conversation_members WHERE session_key = $1`, c.SessionKey).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO conversation_members (`+memberColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.SessionKey, creator, c.ID, string(chat.ShareOwner), creator, ms(m.AddedAt), false); err != nil {
			return err
		}
	}
	// The new participant must not see another conversation under this id: their own (unshared,
	// or shared with them as participant: the unique index covers that case).
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM conversations c WHERE c.user_id = $1 AND c.id = $2
	AND c.session_key <> $3`, m.UserID, c.ID, c.SessionKey).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errTaken
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO conversation_members (`+memberColumns+`)
	VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.SessionKey, m.UserID, c.ID, string(m.Role), m.AddedBy, ms(m.AddedAt), m.Muted)
	return err
}

// SetMemberRole changes a non-owner participant's role to member or read-only. chat.ErrNotFound
// when userID does not take part or is the owner.
func (d *DB) SetMemberRole(ctx context.Context, sessionKey, userID string, role chat.ShareRole) error {
	if role != chat.ShareMember && role != chat.ShareReadOnly {
		return fmt.Errorf("store: set member role: member or read-only: %w", chat.ErrInvalid)
	}
	res, err := d.db.ExecContext(ctx, `UPDATE conversation_members SET role = $3
	WHERE session_key = $1 AND user_id = $2 AND role <> 'owner'`, sessionKey, userID, string(role))
	return affectedOne("store: set member role", res, err)
}

// SetMuted sets a participant's per-conversation mute. chat.ErrNotFound when userID does not
// take part.
func (d *DB) SetMuted(ctx context.Context, sessionKey, userID string, muted bool) error {
	res, err := d.db.ExecContext(ctx, `UPDATE conversation_members SET muted = $3
	WHERE session_key = $1 AND user_id = $2`, sessionKey, userID, muted)
	return affectedOne("store: set muted", res, err)
}

// Muted reports whether userID muted push notifications of the shared conversation they see as
// conversationID (false when they do not take part or it is not shared).
func (d *DB) Muted(ctx context.Context, userID, conversationID string) (bool, error) {
	var muted bool
	err := d.db.QueryRowContext(ctx, `SELECT muted FROM conversation_members WHERE user_id = $1 AND conversation_id = $2`,
		userID, conversationID).Scan(&muted)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return muted, mapErr("store: muted", err)
}

// RecordSender records that userID (shown as name) sent the message of run runID in the
// conversation with sessionKey. Recording it again keeps the first.
func (d *DB) RecordSender(ctx context.Context, sessionKey, runID, userID, name string, at int64) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO message_senders (session_key, run_id, user_id, name, at)
	VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_key, run_id) DO NOTHING`, sessionKey, runID, userID, name, at)
	return mapErr("store: record sender", err)
}

// Senders returns the recorded senders of the conversation with sessionKey by run id.
func (d *DB) Senders(ctx context.Context, sessionKey string) (map[string]chat.Sender, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT run_id, user_id, name FROM message_senders WHERE session_key = $1`, sessionKey)
	if err != nil {
		return nil, mapErr("store: senders", err)
	}
	defer rows.Close()
	out := map[string]chat.Sender{}
	for rows.Next() {
		var run string
		var s chat.Sender
		if err := rows.Scan(&run, &s.UserID, &s.Name); err != nil {
			return nil, mapErr("store: senders", err)
		}
		out[run] = s
	}
	return out, mapErr("store: senders", rows.Err())
}

// RemoveMember removes a non-owner participant (removal by the owner, or leaving) together with
// their reactions in the conversation, in one transaction. The owner cannot be removed (transfer
// ownership first): chat.ErrNotFound for the owner and for someone who does not take part.
func (d *DB) RemoveMember(ctx context.Context, sessionKey, userID string) error {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM conversation_members
		WHERE session_key = $1 AND user_id = $2 AND role <> 'owner'`, sessionKey, userID)
		if err := one(res, err); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM reactions WHERE session_key = $1 AND user_id = $2`, sessionKey, userID)
		return err
	})
	return mapErr("store: remove member", err)
}

// TransferOwnership makes the participant to the owner of the shared conversation and the
// current owner from a member, in one transaction. chat.ErrNotFound when from is not the owner
// or to does not take part.
func (d *DB) TransferOwnership(ctx context.Context, sessionKey, from, to string) error {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE conversation_members SET role = 'owner'
		WHERE session_key = $1 AND user_id = $2 AND role <> 'owner'`, sessionKey, to)
		if err := one(res, err); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `UPDATE conversation_members SET role = 'member'
		WHERE session_key = $1 AND user_id = $2 AND role = 'owner'`, sessionKey, from)
		return one(res, err)
	})
	return mapErr("store: transfer ownership", err)
}

// one turns a result that touched no row into sql.ErrNoRows (inside transactions).
func one(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return sql.ErrNoRows
	}
	return nil
}

// MemberIDs returns the account ids of the participants of the conversation with sessionKey
// (owner first); empty when it is not shared.
func (d *DB) MemberIDs(ctx context.Context, sessionKey string) ([]string, error) {
	ms, err := d.Members(ctx, sessionKey)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.UserID
	}
	return out, nil
}

const inviteColumns = `id, token_hash, session_key, role, created_by, created_at, expires_at, used_by, used_at, revoked`

func scanInvite(row interface{ Scan(...any) error }) (chat.Invite, error) {
	var (
		i                   chat.Invite
		role                string
		created, exp, usedA int64
	)
	if err := row.Scan(&i.ID, &i.TokenHash, &i.SessionKey, &role, &i.CreatedBy, &created, &exp, &i.UsedBy, &usedA, &i.Revoked); err != nil {
		return chat.Invite{}, err
	}
	i.Role, i.CreatedAt, i.ExpiresAt = chat.ShareRole(role), fromMS(created), fromMS(exp)
	if usedA != 0 {
		i.UsedAt = fromMS(usedA)
	}
	return i, nil
}

// CreateInvite stores a new invite. chat.ErrNotFound when its conversation does not exist.
func (d *DB) CreateInvite(ctx context.Context, i chat.Invite) error {
	if i.ID == "" || len(i.TokenHash) != 64 || i.SessionKey == "" || (i.Role != chat.ShareMember && i.Role != chat.ShareReadOnly) {
		return fmt.Errorf("store: create invite: id, token hash, conversation and role are required: %w", chat.ErrInvalid)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO conversation_invites (`+inviteColumns+`)
	VALUES ($1, $2, $3, $4, $5, $6, $7, '', 0, FALSE)`,
		i.ID, i.TokenHash, i.SessionKey, string(i.Role), i.CreatedBy, ms(i.CreatedAt), ms(i.ExpiresAt))
	return mapErr("store: create invite", err)
}

// Invites returns the conversation's invites that can still be redeemed at now (unused,
// unrevoked, unexpired), oldest first.
func (d *DB) Invites(ctx context.Context, sessionKey string, now int64) ([]chat.Invite, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+inviteColumns+` FROM conversation_invites
	WHERE session_key = $1 AND used_by = '' AND NOT revoked AND expires_at > $2 ORDER BY created_at, id`, sessionKey, now)
	if err != nil {
		return nil, mapErr("store: invites", err)
	}
	defer rows.Close()
	var out []chat.Invite
	for rows.Next() {
		i, err := scanInvite(rows)
		if err != nil {
			return nil, mapErr("store: invites", err)
		}
		out = append(out, i)
	}
	return out, mapErr("store: invites", rows.Err())
}

// RevokeInvite revokes the conversation's invite id. chat.ErrNotFound when there is no such
// invite of that conversation.
func (d *DB) RevokeInvite(ctx context.Context, sessionKey, id string) error {
	res, err := d.db.ExecContext(ctx, `UPDATE conversation_invites SET revoked = TRUE
	WHERE session_key = $1 AND id = $2`, sessionKey, id)
	return affectedOne("store: revoke invite", res, err)
}

// RedeemInvite uses the invite whose token hashes to tokenHash for userID at time now (unix ms)
// in one transaction: the invite is marked used and userID becomes a participant with its role.
// It returns the conversation. An unknown, used, revoked or expired token is chat.ErrNotFound,
// the same answer for each; a token of a conversation userID already takes part in is
// chat.ErrConflict and leaves the invite unused.
func (d *DB) RedeemInvite(ctx context.Context, tokenHash, userID string, now int64) (chat.Conversation, error) {
	var c chat.Conversation
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		i, err := scanInvite(tx.QueryRowContext(ctx, `SELECT `+inviteColumns+` FROM conversation_invites
		WHERE token_hash = $1`, tokenHash))
		if err != nil {
			return err
		}
		if i.UsedBy != "" || i.Revoked || ms(i.ExpiresAt) <= now {
			return sql.ErrNoRows
		}
		c, err = scanConversation(tx.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations
		WHERE session_key = $1`, i.SessionKey))
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM conversation_members WHERE session_key = $1 AND user_id = $2`,
			i.SessionKey, userID).Scan(&n); err != nil {
			return err
		}
		if n == 0 && c.UserID == userID {
			// The creator of a conversation that is not shared yet is its owner already.
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM conversation_members WHERE session_key = $1`,
				i.SessionKey).Scan(&n); err != nil {
				return err
			}
			n = 1 - min(n, 1)
		}
		if n > 0 {
			return fmt.Errorf("already in this conversation: %w", chat.ErrConflict)
		}
		// Claim the invite first: of two concurrent redemptions only one updates the row.
		res, err := tx.ExecContext(ctx, `UPDATE conversation_invites SET used_by = $2, used_at = $3
		WHERE id = $1 AND used_by = '' AND NOT revoked`, i.ID, userID, now)
		if err := one(res, err); err != nil {
			return err
		}
		return addMemberTx(ctx, tx, c, chat.Member{UserID: userID, Role: i.Role, AddedBy: i.CreatedBy, AddedAt: fromMS(now)})
	})
	if err != nil {
		return chat.Conversation{}, mapErr("store: redeem invite", err)
	}
	return c, nil
}

// prefixed qualifies each column of a comma-separated list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// scanConversationWith scans a conversation row followed by extra columns.
func scanConversationWith(row interface{ Scan(...any) error }, extra ...any) (chat.Conversation, error) {
	var (
		c                        chat.Conversation
		created, updated, active int64
	)
	dst := append([]any{&c.UserID, &c.ID, &c.AgentID, &c.SessionKey, &c.Title, &c.Archived, &created, &updated, &active, &c.Pinned, &c.HostApp, &c.ContextID}, extra...)
	if err := row.Scan(dst...); err != nil {
		return chat.Conversation{}, err
	}
	c.CreatedAt, c.UpdatedAt, c.LastActivityAt = fromMS(created), fromMS(updated), fromMS(active)
	return c, nil
}
