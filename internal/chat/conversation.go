package chat

import "time"

// Conversation is a chat thread owned by exactly one user and backed by one OpenClaw session
// key in clawchat's own namespace (agent:<agentId>:clawchat:<userId>:<conversationId>). The store
// records it; ownership is only ever read from here, never inferred from a key a client sends.
type Conversation struct {
	UserID         string    // owner; the pair (UserID, ID) is unique
	ID             string    // per-user id, ValidConversationID
	AgentID        string    // OpenClaw agent id
	SessionKey     string    // canonical, lower-case Gateway session key; unique
	Title          string    // user-visible title; empty until named
	Archived       bool      // hidden from the default list
	Pinned         bool      // shown in the Pinned group at the top of the list
	CreatedAt      time.Time // UTC
	UpdatedAt      time.Time // UTC; last change of title/archived/pinned
	LastActivityAt time.Time // UTC; last send or reply
	// HostApp and ContextID name the host context the conversation belongs to (embedding,
	// docs/embed.md); both empty for an ordinary conversation. Immutable.
	HostApp   string
	ContextID string
}
