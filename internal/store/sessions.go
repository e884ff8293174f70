package store

import (
	"context"
	"fmt"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// CreateSession stores a new sign-in session. chat.ErrConflict when s.ID exists. The store does
// not require an account row for s.UserID.
func (d *DB) CreateSession(ctx context.Context, s chat.Session) error {
	if s.ID == "" || s.UserID == "" {
		return fmt.Errorf("store: create session: id and user id are required: %w", chat.ErrInvalid)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, id_token_hint)
	VALUES ($1, $2, $3, $4, $5, $6)`,
		s.ID, s.UserID, ms(s.CreatedAt), ms(s.LastSeenAt), ms(s.ExpiresAt), s.IDTokenHint)
	return mapErr("store: create session", err)
}

// Session returns the session id, or chat.ErrNotFound. It does not check expiry; the caller does.
func (d *DB) Session(ctx context.Context, id string) (chat.Session, error) {
	var (
		s                        chat.Session
		created, seen, expiresAt int64
	)
	err := d.db.QueryRowContext(ctx, `SELECT id, user_id, created_at, last_seen_at, expires_at, id_token_hint
	FROM sessions WHERE id = $1`, id).Scan(&s.ID, &s.UserID, &created, &seen, &expiresAt, &s.IDTokenHint)
	if err != nil {
		return chat.Session{}, mapErr("store: session", err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expiresAt)
	return s, nil
}

// TouchSession sets the session's LastSeenAt. chat.ErrNotFound when the session is gone.
func (d *DB) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	res, err := d.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id = $1`, id, ms(lastSeen))
	return affectedOne("store: touch session", res, err)
}

// DeleteSession deletes the session id. Deleting a session that does not exist is not an error
// (sign-out is idempotent).
func (d *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return mapErr("store: delete session", err)
}

// DeleteUserSessions deletes every session of userID (sign out everywhere, password change,
// account disabled). No sessions is not an error.
func (d *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	return mapErr("store: delete user sessions", err)
}

// DeleteExpiredSessions deletes every session that is expired at now: now ≥ ExpiresAt, or, when
// idle > 0, now ≥ LastSeenAt + idle. It returns how many it deleted.
func (d *DB) DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int, error) {
	idleCutoff := int64(-1 << 62) // matches nothing
	if idle > 0 {
		idleCutoff = ms(now.Add(-idle))
	}
	res, err := d.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2`,
		ms(now), idleCutoff)
	if err != nil {
		return 0, mapErr("store: delete expired sessions", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return int(n), nil
}
