package chat

import "time"

// Embedding (issue 12, docs/embed.md): a host app signs its users in with a token that clawchat
// verifies; the user then chats about the host's contexts (a document, a ticket) that the token
// grants.

// Embed roles a host grants per context. An editor may apply the agent's suggestions to the
// host's data; a viewer may chat about the context but is offered no suggestions.
const (
	EmbedRoleEditor = "editor"
	EmbedRoleViewer = "viewer"
)

// ValidEmbedRole reports whether r is a known embed role.
func ValidEmbedRole(r string) bool { return r == EmbedRoleEditor || r == EmbedRoleViewer }

// EmbedScope is what an embedded session may open: its host app and the contexts its token
// granted (context id → role). A user with a scope sees only conversations of granted contexts;
// every other conversation is ErrNotFound.
type EmbedScope struct {
	App    string
	Grants map[string]string
	// Shared names the granted contexts whose conversation is shared by everyone the host
	// grants it shared (docs/embed.md "Shared contexts").
	Shared map[string]bool
}

// IsShared reports whether context id of app is granted, and granted shared.
func (s *EmbedScope) IsShared(app, id string) bool {
	_, ok := s.Role(app, id)
	return ok && s.Shared[id]
}

// Role returns the role granted for context id of app, or false.
func (s *EmbedScope) Role(app, id string) (string, bool) {
	if s == nil || app != s.App {
		return "", false
	}
	r, ok := s.Grants[id]
	return r, ok
}

// EmbedSession is a session a verified host token was exchanged for. ID is the SHA-256 hex of
// the bearer token (the frame keeps the token in memory; stores never see it).
type EmbedSession struct {
	ID        string
	UserID    string
	App       string
	Grants    map[string]string // context id → role
	Shared    map[string]bool   // context ids granted shared
	CreatedAt time.Time
	ExpiresAt time.Time
}

// MessageContext is the host page context one embedded message carried, as sent to the agent
// (the fenced block), kept for its author to inspect.
type MessageContext struct {
	UserID         string
	ConversationID string
	MessageID      string
	Context        string
	CreatedAt      time.Time
}

// HostContext names the host context a conversation belongs to, as clients see it; Role is the
// viewer's role there (set for embedded sessions only).
type HostContext struct {
	App  string `json:"app"`
	ID   string `json:"id"`
	Role string `json:"role,omitempty"`
}
