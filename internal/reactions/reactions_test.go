package reactions

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/clawchat/clawchat/internal/chat"
)

type memStore struct {
	mu sync.Mutex
	rs []chat.Reaction
}

func (m *memStore) AddReaction(_ context.Context, r chat.Reaction) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rs = append(m.rs, r)
	return nil
}

func (m *memStore) RemoveReaction(_ context.Context, r chat.Reaction) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rs = slices.DeleteFunc(m.rs, func(x chat.Reaction) bool {
		return x.UserID == r.UserID && x.ConversationID == r.ConversationID && x.MessageID == r.MessageID && x.Emoji == r.Emoji
	})
	return nil
}

func (m *memStore) Reactions(_ context.Context, user, conv string) ([]chat.Reaction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []chat.Reaction
	for _, r := range m.rs {
		if r.UserID == user && r.ConversationID == conv {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) MessageReactions(ctx context.Context, user, conv, msg string) ([]chat.Reaction, error) {
	rs, _ := m.Reactions(ctx, user, conv)
	return slices.DeleteFunc(rs, func(r chat.Reaction) bool { return r.MessageID != msg }), nil
}

type pubs struct {
	mu  sync.Mutex
	got []string // "user event"
}

func (p *pubs) Publish(user string, ev chat.Event) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, user+" "+ev.Name)
	return uint64(len(p.got))
}

func newService(t *testing.T) (*Service, *pubs) {
	t.Helper()
	p := &pubs{}
	s, err := New(Config{
		CanSee: func(_ context.Context, u chat.User, id string) error {
			if id != u.ID+"-conv" { // each user sees only their own conversation
				return chat.ErrNotFound
			}
			return nil
		},
		Store: &memStore{}, Publisher: p,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

func TestToggle(t *testing.T) {
	ctx := t.Context()
	s, p := newService(t)
	alice := chat.User{ID: "alice", Name: "Alice"}
	added, m, err := s.Toggle(ctx, alice, "alice-conv", "msg-1", "👍")
	if err != nil || !added || !slices.Equal(m["👍"], []string{"Alice"}) {
		t.Fatalf("first toggle: added=%v %v %v", added, m, err)
	}
	byMsg, err := s.Conversation(ctx, alice, "alice-conv")
	if err != nil || len(byMsg["msg-1"]["👍"]) != 1 {
		t.Fatalf("conversation: %v %v", byMsg, err)
	}
	added, m, err = s.Toggle(ctx, alice, "alice-conv", "msg-1", "👍")
	if err != nil || added || len(m) != 0 {
		t.Fatalf("second toggle: added=%v %v %v", added, m, err)
	}
	if !slices.Equal(p.got, []string{"alice reaction", "alice reaction"}) {
		t.Fatalf("published %v; want the reaction event to alice twice", p.got)
	}
}

func TestRefusals(t *testing.T) {
	ctx := t.Context()
	s, p := newService(t)
	bob := chat.User{ID: "bob", Name: "Bob"}
	for _, tc := range []struct {
		name, conv, msg, emoji string
		want                   error
	}{
		{"another user's conversation", "alice-conv", "msg-1", "👍", chat.ErrNotFound},
		{"malformed conversation", "../x", "msg-1", "👍", chat.ErrNotFound},
		{"malformed message id", "bob-conv", "a/b", "👍", chat.ErrNotFound},
		{"empty emoji", "bob-conv", "msg-1", "", chat.ErrInvalid},
		{"long emoji", "bob-conv", "msg-1", "0123456789012345678901234567890123", chat.ErrInvalid},
	} {
		if _, _, err := s.Toggle(ctx, bob, tc.conv, tc.msg, tc.emoji); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.want)
		}
	}
	if _, err := s.Message(ctx, bob, "alice-conv", "msg-1"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("reading another user's conversation: %v", err)
	}
	if len(p.got) != 0 {
		t.Fatalf("refused toggles published %v", p.got)
	}
}
