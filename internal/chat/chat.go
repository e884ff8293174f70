// Package chat holds the domain types shared by the bridge, the hub and the HTTP API: who a
// user is, conversation ids, the browser event schema and the error sentinels that the HTTP layer
// maps to status codes. It imports none of clawchat's other packages and does no I/O.
package chat

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
)

// Role is what a user may do in a deployment.
type Role string

// Roles. An owner runs the deployment and may also open the Gateway's own sessions; a member
// only ever sees their own conversations.
const (
	RoleOwner  Role = "owner"
	RoleMember Role = "member"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleMember }

// User is a signed-in person as the chat core sees them. ID is opaque, stable, lower-case and
// safe to embed in a Gateway session key; Name is for display.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Embed is set for a user signed in by a host app's token (embed.go): the contexts they may
	// open. Nil for local, OIDC and trusted-proxy sign-ins.
	Embed *EmbedScope `json:"-"`
}

// IsOwner reports whether u is an owner.
func (u User) IsOwner() bool { return u.Role == RoleOwner }

type userKey struct{}

// WithUser returns a context that carries u. The auth middleware calls it after it has
// authenticated a request; nothing else should.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the authenticated user of ctx, if any.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok && u.ID != ""
}

// Error sentinels. The HTTP layer maps them to status codes and stable error codes; wrap them
// with %w and a message that is safe to show to the user (never a secret, never another user's
// data).
var (
	ErrNotFound     = errors.New("not found")
	ErrInvalid      = errors.New("invalid request")
	ErrConflict     = errors.New("conflict")
	ErrForbidden    = errors.New("forbidden")
	ErrTooLarge     = errors.New("too large")
	ErrRateLimited  = errors.New("rate limited")
	ErrLimitReached = errors.New("limit reached")
	ErrUnavailable  = errors.New("gateway unavailable")
)

var conversationIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidConversationID reports whether id is a well-formed conversation id:
// ^[a-z0-9][a-z0-9_-]{0,63}$.
func ValidConversationID(id string) bool { return conversationIDRe.MatchString(id) }

// Event is one event for one user's clients, in clawchat's own schema (docs/api.md). Payload is
// encoded once when the event is made and shared, read-only, by every connection that delivers it.
// Seq is assigned by the hub (per user, per epoch); it is 0 until then. Body is the typed payload
// the event was built from (events.go), for in-process consumers such as metrics and push; it is
// nil for an event decoded from elsewhere (another instance) and is never sent.
type Event struct {
	Name    string
	Seq     uint64
	Payload json.RawMessage
	Body    Payload
}

// NewEvent encodes payload once and returns an event named name, without a typed Body. Product
// code builds events with the payload types' Event methods (events.go); NewEvent is for tests and
// for payloads that arrive already shaped. It panics only if payload cannot be encoded as JSON,
// which is a programming error.
func NewEvent(name string, payload any) Event {
	b, err := json.Marshal(payload)
	if err != nil {
		panic("chat: encode event " + name + ": " + err.Error())
	}
	return Event{Name: name, Payload: b}
}
