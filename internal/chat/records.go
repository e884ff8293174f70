package chat

import "time"

// Account is a stored user account. PasswordHash is an argon2id PHC string (empty for accounts
// that sign in only through OIDC or a trusted proxy). OIDC accounts are linked by the pair
// (OIDCIssuer, OIDCSubject), never by e-mail.
type Account struct {
	ID                string // opaque, lower-case [a-z0-9]; used in Gateway session keys
	Username          string // unique, case-folded login name
	DisplayName       string
	Role              Role
	PasswordHash      string // secret: never log, never send to a client
	OIDCIssuer        string
	OIDCSubject       string
	Email             string
	Disabled          bool
	CreatedAt         time.Time
	UpdatedAt         time.Time
	PasswordChangedAt time.Time
}

// User returns the account as the chat core sees it.
func (a Account) User() User {
	name := a.DisplayName
	if name == "" {
		name = a.Username
	}
	return User{ID: a.ID, Name: name, Role: a.Role}
}

// Session is a server-side sign-in session. ID is the SHA-256 hex of the opaque cookie token, so a
// leaked store does not leak usable cookies. ExpiresAt is the absolute timeout; the idle timeout is
// enforced against LastSeenAt.
type Session struct {
	ID          string
	UserID      string
	CreatedAt   time.Time
	LastSeenAt  time.Time
	ExpiresAt   time.Time
	IDTokenHint string // OIDC id_token for RP-initiated logout; secret-ish, never logged
}

// Reaction is one user's emoji on one message of one of their conversations.
type Reaction struct {
	UserID         string
	ConversationID string
	MessageID      string
	Emoji          string
	CreatedAt      time.Time
}

// PushSubscription is a browser's Web Push subscription (RFC 8030/8291) for one user.
type PushSubscription struct {
	UserID   string
	Endpoint string // unique; host checked against the push-service allowlist before storing
	P256dh   string
	Auth     string // secret
	// SessionID is the sign-in session that registered it (the hash id, never the cookie token);
	// the subscription is deleted when that session ends. Empty for subscriptions made before
	// issue 16 or without a cookie session (trusted-proxy sign-in).
	SessionID  string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// AuditEntry is one security-relevant action: sign-ins and failures, account and role changes,
// pairing events, an owner's actions on other users' runs. Detail holds no secrets.
type AuditEntry struct {
	ID     int64
	At     time.Time
	Actor  string // user id, or "" for anonymous/system
	Action string // e.g. "login.success", "login.failure", "user.create", "role.change"
	Target string
	IP     string
	Detail string // short free text or JSON, no secrets
}
