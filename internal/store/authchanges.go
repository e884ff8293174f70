package store

import (
	"context"
	"time"
)

// NoteAuthChange appends userID to the feed of account and session changes (sign-out, sessions
// revoked, role changed, account disabled or deleted). Every clawchat process polls the feed with
// AuthChangesSince and re-checks that user's open connections, so a change made by one instance or
// by `clawchat user …` reaches connections held by any other.
func (d *DB) NoteAuthChange(ctx context.Context, userID string) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO auth_changes (user_id, at) VALUES ($1, $2)`, userID, ms(d.now()))
	return mapErr("store: note auth change", err)
}

// AuthChangesSince returns the users changed after feed position after (deduplicated, at most
// 1000 entries read) and the newest position read; pass that back next time. after < 0 returns
// no users and the current newest position (where a new poller starts).
func (d *DB) AuthChangesSince(ctx context.Context, after int64) ([]string, int64, error) {
	if after < 0 {
		var last int64
		err := d.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM auth_changes`).Scan(&last)
		return nil, last, mapErr("store: auth changes", err)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, user_id FROM auth_changes WHERE id > $1 ORDER BY id LIMIT 1000`, after)
	if err != nil {
		return nil, after, mapErr("store: auth changes", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	var users []string
	last := after
	for rows.Next() {
		var (
			id int64
			u  string
		)
		if err := rows.Scan(&id, &u); err != nil {
			return nil, after, mapErr("store: auth changes", err)
		}
		last = id
		if !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, after, mapErr("store: auth changes", err)
	}
	return users, last, nil
}

// PruneAuthChanges deletes feed entries older than before (pollers read every second; an hour of
// history is plenty).
func (d *DB) PruneAuthChanges(ctx context.Context, before time.Time) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM auth_changes WHERE at < $1`, ms(before))
	return mapErr("store: prune auth changes", err)
}
