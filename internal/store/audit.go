package store

import (
	"context"
	"fmt"

	"github.com/clawchat/clawchat/internal/chat"
)

// MaxAuditLimit caps how many entries one Audit call returns.
const MaxAuditLimit = 1000

// AppendAudit appends e to the audit log. e.ID is ignored: the store assigns increasing ids.
// Detail must hold no secrets; the store writes it as given.
func (d *DB) AppendAudit(ctx context.Context, e chat.AuditEntry) error {
	if e.Action == "" {
		return fmt.Errorf("store: append audit: action is required: %w", chat.ErrInvalid)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, target, ip, detail)
	VALUES ($1, $2, $3, $4, $5, $6)`, ms(e.At), e.Actor, e.Action, e.Target, e.IP, e.Detail)
	return mapErr("store: append audit", err)
}

// Audit returns up to limit audit entries, newest (highest id) first. limit ≤ 0 means 100; it is
// capped at MaxAuditLimit.
func (d *DB) Audit(ctx context.Context, limit int) ([]chat.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, MaxAuditLimit)
	rows, err := d.db.QueryContext(ctx, `SELECT id, at, actor, action, target, ip, detail
	FROM audit_log ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, mapErr("store: audit", err)
	}
	defer rows.Close()
	var out []chat.AuditEntry
	for rows.Next() {
		var (
			e  chat.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.IP, &e.Detail); err != nil {
			return nil, mapErr("store: audit", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, mapErr("store: audit", rows.Err())
}
