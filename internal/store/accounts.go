package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

const accountColumns = `id, username, display_name, role, password_hash, oidc_issuer, oidc_subject, email,
	disabled, created_at, updated_at, password_changed_at`

func scanAccount(row interface{ Scan(...any) error }) (chat.Account, error) {
	var (
		a                          chat.Account
		role                       string
		created, updated, pwChange int64
	)
	err := row.Scan(&a.ID, &a.Username, &a.DisplayName, &role, &a.PasswordHash, &a.OIDCIssuer,
		&a.OIDCSubject, &a.Email, &a.Disabled, &created, &updated, &pwChange)
	if err != nil {
		return chat.Account{}, err
	}
	a.Role = chat.Role(role)
	a.CreatedAt, a.UpdatedAt, a.PasswordChangedAt = fromMS(created), fromMS(updated), fromMS(pwChange)
	return a, nil
}

// usernameKey is the case-folded form usernames are unique and looked up by. It is computed here,
// not by the engine, so that SQLite and PostgreSQL fold exactly alike.
func usernameKey(u string) string { return strings.ToLower(u) }

func validAccount(a chat.Account) error {
	if a.ID == "" || a.Username == "" || !a.Role.Valid() {
		return fmt.Errorf("store: account: id, username and a valid role are required: %w", chat.ErrInvalid)
	}
	if (a.OIDCIssuer == "") != (a.OIDCSubject == "") {
		return fmt.Errorf("store: account: OIDC issuer and subject go together: %w", chat.ErrInvalid)
	}
	return nil
}

// CreateAccount stores a new account. It fails with chat.ErrConflict when the id, the username
// (case-insensitively) or the (OIDCIssuer, OIDCSubject) pair is taken, and with chat.ErrInvalid
// when the id, username or role is missing.
func (d *DB) CreateAccount(ctx context.Context, a chat.Account) error {
	if err := validAccount(a); err != nil {
		return err
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO accounts (id, username, username_key, display_name, role,
	password_hash, oidc_issuer, oidc_subject, email, disabled, created_at, updated_at, password_changed_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		a.ID, a.Username, usernameKey(a.Username), a.DisplayName, string(a.Role), a.PasswordHash,
		a.OIDCIssuer, a.OIDCSubject, a.Email, a.Disabled, ms(a.CreatedAt), ms(a.UpdatedAt), ms(a.PasswordChangedAt))
	return mapErr("store: create account", err)
}

// Account returns the account with id, or chat.ErrNotFound.
func (d *DB) Account(ctx context.Context, id string) (chat.Account, error) {
	a, err := scanAccount(d.db.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
	return a, mapErr("store: account", err)
}

// AccountByUsername returns the account whose username equals username case-insensitively, or
// chat.ErrNotFound.
func (d *DB) AccountByUsername(ctx context.Context, username string) (chat.Account, error) {
	a, err := scanAccount(d.db.QueryRowContext(ctx,
		`SELECT `+accountColumns+` FROM accounts WHERE username_key = $1`, usernameKey(username)))
	return a, mapErr("store: account", err)
}

// AccountByOIDC returns the account linked to the OIDC (issuer, subject) pair, or
// chat.ErrNotFound. Empty arguments never match.
func (d *DB) AccountByOIDC(ctx context.Context, issuer, subject string) (chat.Account, error) {
	if issuer == "" || subject == "" {
		return chat.Account{}, fmt.Errorf("store: account: %w", chat.ErrNotFound)
	}
	a, err := scanAccount(d.db.QueryRowContext(ctx,
		`SELECT `+accountColumns+` FROM accounts WHERE oidc_issuer = $1 AND oidc_subject = $2`, issuer, subject))
	return a, mapErr("store: account", err)
}

// UpdateAccount replaces every mutable field (all but ID and CreatedAt) of the account a.ID. It
// fails with chat.ErrNotFound when there is no such account and chat.ErrConflict when the new
// username or OIDC pair is taken.
func (d *DB) UpdateAccount(ctx context.Context, a chat.Account) error {
	if err := validAccount(a); err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, `UPDATE accounts SET username = $2, username_key = $3, display_name = $4,
	role = $5, password_hash = $6, oidc_issuer = $7, oidc_subject = $8, email = $9, disabled = $10,
	updated_at = $11, password_changed_at = $12 WHERE id = $1`,
		a.ID, a.Username, usernameKey(a.Username), a.DisplayName, string(a.Role), a.PasswordHash,
		a.OIDCIssuer, a.OIDCSubject, a.Email, a.Disabled, ms(a.UpdatedAt), ms(a.PasswordChangedAt))
	return affectedOne("store: update account", res, err)
}

// DeleteAccount deletes the account id together with its sessions (embed sessions too), its
// places in shared conversations, its unshared conversations (and so their reactions), the page
// contexts its embedded messages carried and its push subscriptions, in one transaction. chat.ErrNotFound when there is no such account (nothing is deleted then).
//
// A shared conversation belongs to its participants, not to its creator, so it outlives any one
// account (docs/shared-conversations.md "Deleted accounts"): the person's row and reactions go;
// when they held the owner role, ownership passes to the longest-standing remaining participant
// with role member (earliest added, then account id), and when there is none (only read-only
// participants, or nobody) the conversation is deleted for everyone. Every remaining participant
// of a conversation whose owner changed or that was deleted is appended to the auth change feed
// in the same transaction, so that every instance tells them (share.Service.Refresh); the ids of
// the conversations deleted that way are kept for them a while (GoneConversations).
func (d *DB) DeleteAccount(ctx context.Context, id string) error {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		if err := handOverTx(ctx, tx, id, ms(d.now())); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM sessions WHERE user_id = $1`,
			`DELETE FROM reactions WHERE user_id = $1`,
			// Unshared conversations only: a shared one the person created stays with its
			// participants (handOverTx removed the person's own row).
			`DELETE FROM conversations WHERE user_id = $1
			AND NOT EXISTS (SELECT 1 FROM conversation_members m WHERE m.session_key = conversations.session_key)`,
			`DELETE FROM push_subscriptions WHERE user_id = $1`,
			`DELETE FROM embed_sessions WHERE user_id = $1`,
			`DELETE FROM message_contexts WHERE user_id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sql.ErrNoRows
		}
		return nil
	})
	return mapErr("store: delete account", err)
}

// handOverTx takes userID out of every shared conversation they take part in (DeleteAccount),
// passing on or deleting the ones they own, and notes the remaining participants of those in the
// auth change feed at time at (unix ms).
func handOverTx(ctx context.Context, tx *sql.Tx, userID string, at int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT session_key, role FROM conversation_members WHERE user_id = $1
	ORDER BY session_key`, userID)
	if err != nil {
		return err
	}
	type place struct{ key, role string }
	var places []place
	for rows.Next() {
		var p place
		if err := rows.Scan(&p.key, &p.role); err != nil {
			rows.Close()
			return err
		}
		places = append(places, p)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM conversation_gone WHERE at < $1`, at-goneKeep.Milliseconds()); err != nil {
		return err
	}
	for _, p := range places {
		if _, err := tx.ExecContext(ctx, `DELETE FROM conversation_members WHERE session_key = $1 AND user_id = $2`,
			p.key, userID); err != nil {
			return err
		}
		if p.role != string(chat.ShareOwner) {
			continue
		}
		// Everyone left is told, whether the conversation passes to one of them or goes.
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_changes (user_id, at)
		SELECT user_id, $2 FROM conversation_members WHERE session_key = $1`, p.key, at); err != nil {
			return err
		}
		var heir string
		err := tx.QueryRowContext(ctx, `SELECT user_id FROM conversation_members
		WHERE session_key = $1 AND role = 'member' ORDER BY added_at, user_id LIMIT 1`, p.key).Scan(&heir)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, `INSERT INTO conversation_gone (user_id, conversation_id, at)
			SELECT user_id, conversation_id, $2 FROM conversation_members WHERE session_key = $1`, p.key, at); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM conversations WHERE session_key = $1`, p.key); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if _, err := tx.ExecContext(ctx, `UPDATE conversation_members SET role = 'owner'
			WHERE session_key = $1 AND user_id = $2`, p.key, heir); err != nil {
				return err
			}
		}
	}
	return nil
}

// goneKeep is how long conversation_gone remembers a conversation deleted with its owner's
// account: far longer than the auth change feed takes to reach every running instance.
const goneKeep = time.Hour

// GoneConversations returns the ids of the shared conversations userID took part in that were
// deleted for everyone since since (unix ms) because their owner's account was deleted and no
// member was left to own them (DeleteAccount).
func (d *DB) GoneConversations(ctx context.Context, userID string, since int64) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT DISTINCT conversation_id FROM conversation_gone
	WHERE user_id = $1 AND at >= $2 ORDER BY conversation_id`, userID, since)
	if err != nil {
		return nil, mapErr("store: gone conversations", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, mapErr("store: gone conversations", err)
		}
		out = append(out, id)
	}
	return out, mapErr("store: gone conversations", rows.Err())
}

// Accounts returns every account, ordered by (case-folded) username.
func (d *DB) Accounts(ctx context.Context) ([]chat.Account, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY username_key`)
	if err != nil {
		return nil, mapErr("store: accounts", err)
	}
	defer rows.Close()
	var out []chat.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, mapErr("store: accounts", err)
		}
		out = append(out, a)
	}
	return out, mapErr("store: accounts", rows.Err())
}

// CountAccounts returns the number of accounts.
func (d *DB) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n)
	return n, mapErr("store: count accounts", err)
}
