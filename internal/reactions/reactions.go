// Package reactions is the one service for emoji reactions on messages: it checks that the user
// may see the conversation (through the chat core's own check), validates input, reads and
// toggles the user's reactions in the store and tells the user's other devices. Reactions are
// private to the user who made them. It imports chat only; the composition root wires the
// conversation check (bridge), the store and the hub.
package reactions

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/clawchat/clawchat/internal/chat"
)

// Store is the part of the store the service uses.
type Store interface {
	AddReaction(ctx context.Context, r chat.Reaction) error
	RemoveReaction(ctx context.Context, r chat.Reaction) error
	Reactions(ctx context.Context, userID, conversationID string) ([]chat.Reaction, error)
	MessageReactions(ctx context.Context, userID, conversationID, messageID string) ([]chat.Reaction, error)
}

// Publisher delivers an event to a user's connections (the hub).
type Publisher interface {
	Publish(userID string, ev chat.Event) uint64
}

// Config are the service's collaborators; all are required.
type Config struct {
	// CanSee returns nil when u may see conversation id, else an error wrapping chat.ErrNotFound
	// (the bridge's Get: the same check as every other conversation operation).
	CanSee    func(ctx context.Context, u chat.User, id string) error
	Store     Store
	Publisher Publisher
	Now       func() time.Time // time.Now when nil
}

// Service implements reactions. It is safe for concurrent use.
type Service struct{ cfg Config }

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	if cfg.CanSee == nil || cfg.Store == nil || cfg.Publisher == nil {
		return nil, errors.New("reactions: CanSee, Store and Publisher are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}, nil
}

// ByMessage maps message id → emoji → names of who reacted.
type ByMessage = map[string]map[string][]string

// Conversation returns u's reactions in conversation id, by message. Unknown, malformed and
// foreign conversations are all chat.ErrNotFound.
func (s *Service) Conversation(ctx context.Context, u chat.User, id string) (ByMessage, error) {
	if err := s.check(ctx, u, id, "m"); err != nil {
		return nil, err
	}
	rs, err := s.cfg.Store.Reactions(ctx, u.ID, id)
	if err != nil {
		return nil, err
	}
	return group(rs, u.Name), nil
}

// Message returns u's reactions to message msgID of conversation id: emoji → names (never nil).
func (s *Service) Message(ctx context.Context, u chat.User, id, msgID string) (map[string][]string, error) {
	if err := s.check(ctx, u, id, msgID); err != nil {
		return nil, err
	}
	return s.message(ctx, u, id, msgID)
}

// Toggle adds u's emoji reaction to message msgID of conversation id, or removes it when it is
// there, tells u's devices (event "reaction"), and returns whether it was added and the message's
// reactions now.
func (s *Service) Toggle(ctx context.Context, u chat.User, id, msgID, emoji string) (bool, map[string][]string, error) {
	if err := s.check(ctx, u, id, msgID); err != nil {
		return false, nil, err
	}
	if emoji == "" || len(emoji) > 32 || !utf8.ValidString(emoji) {
		return false, nil, chat.Public(chat.ErrInvalid, "emoji must be 1 to 32 bytes")
	}
	existing, err := s.cfg.Store.MessageReactions(ctx, u.ID, id, msgID)
	if err != nil {
		return false, nil, err
	}
	rec := chat.Reaction{UserID: u.ID, ConversationID: id, MessageID: msgID, Emoji: emoji, CreatedAt: s.cfg.Now().UTC()}
	has := false
	for _, e := range existing {
		if e.Emoji == emoji {
			has = true
		}
	}
	if has {
		err = s.cfg.Store.RemoveReaction(ctx, rec)
	} else {
		err = s.cfg.Store.AddReaction(ctx, rec)
	}
	if err != nil {
		return false, nil, err
	}
	m, err := s.message(ctx, u, id, msgID)
	if err != nil {
		return false, nil, err
	}
	s.cfg.Publisher.Publish(u.ID, chat.ReactionChanged{Conversation: id, MessageID: msgID, Reactions: m}.Event())
	return !has, m, nil
}

func (s *Service) message(ctx context.Context, u chat.User, id, msgID string) (map[string][]string, error) {
	rs, err := s.cfg.Store.MessageReactions(ctx, u.ID, id, msgID)
	if err != nil {
		return nil, err
	}
	m := group(rs, u.Name)[msgID]
	if m == nil {
		m = map[string][]string{}
	}
	return m, nil
}

// check: a well-formed conversation and message id, and a conversation u may see.
func (s *Service) check(ctx context.Context, u chat.User, id, msgID string) error {
	if !chat.ValidConversationID(id) || !messageIDOK(msgID) {
		return chat.ErrNotFound
	}
	return s.cfg.CanSee(ctx, u, id)
}

// group groups reactions as {"<messageId>":{"👍":["alice"]}}.
func group(rs []chat.Reaction, name string) ByMessage {
	out := ByMessage{}
	for _, r := range rs {
		m := out[r.MessageID]
		if m == nil {
			m = map[string][]string{}
			out[r.MessageID] = m
		}
		m[r.Emoji] = append(m[r.Emoji], name)
	}
	return out
}

func messageIDOK(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
