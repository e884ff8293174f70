package store

import (
	"context"
	"fmt"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// SavePushSubscription stores s, or replaces the subscription with the same Endpoint (which moves
// it to s.UserID: a browser that signs in as someone else re-subscribes for them). The caller
// checks the endpoint host against the allowlist first.
func (d *DB) SavePushSubscription(ctx context.Context, s chat.PushSubscription) error {
	if s.Endpoint == "" || s.UserID == "" {
		return fmt.Errorf("store: save push subscription: endpoint and user id are required: %w", chat.ErrInvalid)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at, last_used_at)
	VALUES ($1, $2, $3, $4, $5, $6)
	ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth,
	created_at = excluded.created_at, last_used_at = excluded.last_used_at`,
		s.Endpoint, s.UserID, s.P256dh, s.Auth, ms(s.CreatedAt), ms(s.LastUsedAt))
	return mapErr("store: save push subscription", err)
}

// PushSubscriptions returns userID's subscriptions, oldest first.
func (d *DB) PushSubscriptions(ctx context.Context, userID string) ([]chat.PushSubscription, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT endpoint, user_id, p256dh, auth, created_at, last_used_at
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
		if err := rows.Scan(&s.Endpoint, &s.UserID, &s.P256dh, &s.Auth, &created, &used); err != nil {
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
