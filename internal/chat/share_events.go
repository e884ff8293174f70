package chat

// Events of shared conversations (issue 13). See docs/api.md and docs/shared-conversations.md.

// Sender is who typed a human message in a conversation: their account id and the name other
// participants see (display name, else username). Avatars are drawn from the name by clients.
type Sender struct {
	Name   string `json:"name"`
	UserID string `json:"userId"`
}

// MemberView is one participant of a conversation as clients see them. Muted is the receiver's
// own per-conversation push mute, sent only in their own entry.
type MemberView struct {
	Muted  *bool  `json:"muted,omitempty"`
	Name   string `json:"name"`
	Role   string `json:"role"` // owner | member | read-only
	UserID string `json:"userId"`
}

// ConversationMembers is conversation.members: the participants of a conversation changed (added,
// removed, left, role or owner changed). Role is the receiver's own role.
type ConversationMembers struct {
	Conversation string       `json:"conversation"`
	Members      []MemberView `json:"members"`
	Role         string       `json:"role"`
}

// Typing is typing: a participant started or stopped typing in a conversation.
type Typing struct {
	Conversation string `json:"conversation"`
	Name         string `json:"name"`
	Typing       bool   `json:"typing"`
	UserID       string `json:"userId"`
}

// Presence is presence: who has a conversation open right now.
type Presence struct {
	Conversation string   `json:"conversation"`
	Viewers      []Sender `json:"viewers"`
}

func (ConversationMembers) EventName() string { return "conversation.members" }
func (Typing) EventName() string              { return "typing" }
func (Presence) EventName() string            { return "presence" }

func (p ConversationMembers) Event() Event { return typed(p) }
func (p Typing) Event() Event              { return typed(p) }
func (p Presence) Event() Event            { return typed(p) }
