package store

import (
	"context"
	"fmt"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// SavePushSubscription stores s, or updates the subscription with the same Endpoint when it
// already belongs to s.UserID. An endpoint registered to another user is never moved: that is
// chat.ErrConflict (issue 16: posting someone else's endpoint took their subscription over). The
// check and the write are one statement, so concurrent posts cannot race past it. The caller
// checks the endpoint host against the allowlist first.
func (d *DB) SavePushSubscription(ctx context.Context, s chat.PushSubscription) error {
	if s.Endpoint == "" || s.UserID == "" {
		return fmt.Errorf("store: save push subscription: endpoint and user id are required: %w", chat.ErrInvalid)
	}
	res, err := d.db.ExecContext(ctx, `INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at, last_used_at, session_id)
	VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth,
	created_at = excluded.created_at, last_used_at = excluded.last_used_at, session_id = excluded.session_id
	WHERE push_subscriptions.user_id = excluded.user_id`,
		s.Endpoint, s.UserID, s.P256dh, s.Auth, ms(s.CreatedAt), ms(s.LastUsedAt), s.SessionID)
	if err != nil {
		return mapErr("store: save push subscription", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("store: save push subscription: endpoint registered to another user: %w", chat.ErrConflict)
	}
	return nil
}

// DeleteSessionPushSubscriptions deletes the subscriptions registered by session sessionID (at
// its sign-out), so a shared device stops receiving the previous user's notifications.
func (d *DB) DeleteSessionPushSubscriptions(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return nil
	}
	_, err := d.db.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE session_id = $1`, sessionID)
	return mapErr("store: delete session push subscriptions", err)
}

// DeleteUserPushSubscriptions deletes every subscription of userID (all sessions revoked, account
// deleted).
func (d *DB) DeleteUserPushSubscriptions(ctx context.Context, userID string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE user_id = $1`, userID)
	return mapErr("store: delete user push subscriptions", err)
}

// DeleteOrphanPushSubscriptions deletes subscriptions whose registering session no longer exists
// in the sessions table (expired and swept). Only meaningful when sessions live in this database.
func (d *DB) DeleteOrphanPushSubscriptions(ctx context.Context) (int, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE session_id <> ''
	AND NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.id = push_subscriptions.session_id)`)
	if err != nil {
		return 0, mapErr("store: delete orphan push subscriptions", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// PushSubscriptions returns userID's subscriptions, oldest first.
func (d *DB) PushSubscriptions(ctx context.Context, userID string) ([]chat.PushSubscription, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT endpoint, user_id, p256dh, auth, created_at, last_used_at, session_id
	FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at, endpoint`, userID)
	if err != nil {
		return nil, mapErr("store: push subscriptions", err)
	}
	defer rows.Close()
	var out []chat.PushSubscription
	for rows.Next() {
		var (
			s             chat.PushSubscription
			created, used int64
		)
		if err := rows.Scan(&s.Endpoint, &s.UserID, &s.P256dh, &s.Auth, &created, &used, &s.SessionID); err != nil {
			return nil, mapErr("store: push subscriptions", err)
		}
		s.CreatedAt, s.LastUsedAt = fromMS(created), fromMS(used)
		out = append(out, s)
	}
	return out, mapErr("store: push subscriptions", rows.Err())
}

// DeletePushSubscription deletes the subscription with endpoint (e.g. after a 404/410 from the push
// service). Deleting one that does not exist is not an error.
func (d *DB) DeletePushSubscription(ctx context.Context, endpoint string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE endpoint = $1`, endpoint)
	return mapErr("store: delete push subscription", err)
}

// TouchPushSubscription sets LastUsedAt of the subscription with endpoint. chat.ErrNotFound when it
// is gone.
func (d *DB) TouchPushSubscription(ctx context.Context, endpoint string, at time.Time) error {
	res, err := d.db.ExecContext(ctx, `UPDATE push_subscriptions SET last_used_at = $2 WHERE endpoint = $1`,
		endpoint, ms(at))
	return affectedOne("store: touch push subscription", res, err)
}
