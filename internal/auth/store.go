package auth

import (
	"context"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// AccountStore is the persistence auth needs for accounts and the audit log. *store.DB implements
// it; MemoryStore implements it for tests and single-process demos. Lookups that find nothing
// return an error wrapping chat.ErrNotFound; unique-key clashes (username, OIDC issuer+subject,
// id) return one wrapping chat.ErrConflict.
type AccountStore interface {
	CreateAccount(ctx context.Context, a chat.Account) error
	Account(ctx context.Context, id string) (chat.Account, error)
	AccountByUsername(ctx context.Context, username string) (chat.Account, error)
	AccountByOIDC(ctx context.Context, issuer, subject string) (chat.Account, error)
	UpdateAccount(ctx context.Context, a chat.Account) error
	DeleteAccount(ctx context.Context, id string) error
	Accounts(ctx context.Context) ([]chat.Account, error)
	CountAccounts(ctx context.Context) (int, error)
	AppendAudit(ctx context.Context, e chat.AuditEntry) error
}

// SessionStore keeps server-side sessions keyed by chat.Session.ID (the SHA-256 hex of the cookie
// token; stores never see the token itself). *store.DB (SQL), RedisSessions and MemoryStore
// implement it. Session returns an error wrapping chat.ErrNotFound for an unknown or already
// removed id; implementations may also return it for sessions they know to be expired.
type SessionStore interface {
	CreateSession(ctx context.Context, s chat.Session) error
	Session(ctx context.Context, id string) (chat.Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int, error)
}

// Store is everything auth persists. Use Combine when accounts and sessions live in different
// places (for example SQL accounts with Redis sessions).
type Store interface {
	AccountStore
	SessionStore
}

type combined struct {
	AccountStore
	SessionStore
}

// Combine returns a Store that keeps accounts and the audit log in accounts and sessions in
// sessions.
func Combine(accounts AccountStore, sessions SessionStore) Store {
	return combined{AccountStore: accounts, SessionStore: sessions}
}

// Change is one change reported by WithChangeHook.
type Change struct {
	UserID string
	// SessionID is set when one session ended (sign-out, or a dead session removed).
	SessionID string
	// AllSessions is set when every session of the user ended (revocation, password change,
	// deletion).
	AllSessions bool
}

// WithChangeHook returns st with changed called after every successful change that can end a
// session or alter what a signed-in user may do: DeleteSession (sign-out; the session's user is
// read first), DeleteUserSessions (revocation, password change), CreateAccount and UpdateAccount
// (role, disabled, password) and DeleteAccount. changed runs synchronously with a context that is not cancelled
// with the caller's; it must be quick (the composition root records the change in the feed every
// process polls, re-checks local connections and drops the sessions' push subscriptions). Every
// writer (the server, Bootstrap, the `clawchat user` command) goes through it, so none can forget
// to.
func WithChangeHook(st Store, changed func(ctx context.Context, c Change)) Store {
	if changed == nil {
		return st
	}
	return &hooked{Store: st, changed: changed}
}

type hooked struct {
	Store
	changed func(ctx context.Context, c Change)
}

func (h *hooked) notify(ctx context.Context, c Change) {
	if c.UserID != "" {
		h.changed(context.WithoutCancel(ctx), c)
	}
}

func (h *hooked) DeleteSession(ctx context.Context, id string) error {
	sess, lookErr := h.Store.Session(ctx, id)
	if err := h.Store.DeleteSession(ctx, id); err != nil {
		return err
	}
	if lookErr == nil {
		h.notify(ctx, Change{UserID: sess.UserID, SessionID: id})
	}
	return nil
}

func (h *hooked) DeleteUserSessions(ctx context.Context, userID string) error {
	if err := h.Store.DeleteUserSessions(ctx, userID); err != nil {
		return err
	}
	h.notify(ctx, Change{UserID: userID, AllSessions: true})
	return nil
}

func (h *hooked) CreateAccount(ctx context.Context, a chat.Account) error {
	if err := h.Store.CreateAccount(ctx, a); err != nil {
		return err
	}
	h.notify(ctx, Change{UserID: a.ID}) // a new owner is known everywhere at once
	return nil
}

func (h *hooked) UpdateAccount(ctx context.Context, a chat.Account) error {
	if err := h.Store.UpdateAccount(ctx, a); err != nil {
		return err
	}
	h.notify(ctx, Change{UserID: a.ID})
	return nil
}

func (h *hooked) DeleteAccount(ctx context.Context, id string) error {
	if err := h.Store.DeleteAccount(ctx, id); err != nil {
		return err
	}
	h.notify(ctx, Change{UserID: id, AllSessions: true})
	return nil
}
