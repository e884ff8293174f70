package chat

import "time"

// ShareRole is a person's role inside one shared conversation (not their account Role).
type ShareRole string

// Roles inside a shared conversation.
const (
	// ShareOwner manages the conversation: adds, invites and removes people, transfers
	// ownership, renames, archives and deletes it. Exactly one per shared conversation.
	ShareOwner ShareRole = "owner"
	// ShareMember reads and sends.
	ShareMember ShareRole = "member"
	// ShareReadOnly reads only: every send is refused (chat.ErrForbidden).
	ShareReadOnly ShareRole = "read-only"
)

// Valid reports whether r is one of the three roles.
func (r ShareRole) Valid() bool { return r == ShareOwner || r == ShareMember || r == ShareReadOnly }

// CanSend reports whether a participant with role r may send messages.
func (r ShareRole) CanSend() bool { return r == ShareOwner || r == ShareMember }

// Member is one participant of a shared conversation. A conversation without member rows is not
// shared: its only participant is its creator (Conversation.UserID), as owner. Once it is shared
// every participant, the owner included, has a row, and only the rows give access.
type Member struct {
	SessionKey     string    // the conversation's Gateway session key (unique per conversation)
	ConversationID string    // the conversation id, the same for every participant
	UserID         string    // the participant's account id
	Role           ShareRole // owner, member or read-only
	AddedBy        string    // account id of who added them (the owner, or the invite's creator)
	AddedAt        time.Time // UTC
	Muted          bool      // no push notifications for this conversation
}

// Invite is a single-use, expiring, revocable invitation into a shared conversation. Only a hash
// of its secret token is stored; the token itself is shown once, to its creator.
type Invite struct {
	ID         string    // public id (for listing and revoking); not the token
	TokenHash  string    // hex SHA-256 of the secret token
	SessionKey string    // the conversation
	Role       ShareRole // member or read-only
	CreatedBy  string    // account id
	CreatedAt  time.Time // UTC
	ExpiresAt  time.Time // UTC
	UsedBy     string    // account id of who redeemed it; empty while unused
	UsedAt     time.Time // zero while unused
	Revoked    bool
}
