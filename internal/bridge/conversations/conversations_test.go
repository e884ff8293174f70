package conversations_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/conversations"
	"github.com/clawchat/clawchat/internal/bridge/policy"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
)

type runs struct{ cleared, forgot []string }

func (r *runs) RunState(key string) (string, int) {
	if strings.HasSuffix(key, ":busy") {
		return "run-1", 2
	}
	return "", 0
}
func (r *runs) ClearQueue(key string) string { r.cleared = append(r.cleared, key); return "" }
func (r *runs) Forget(key string)            { r.forgot = append(r.forgot, key) }

type owners struct{ remembered, forgot []string }

func (o *owners) Remember(c chat.Conversation) { o.remembered = append(o.remembered, c.SessionKey) }
func (o *owners) Forget(key string)            { o.forgot = append(o.forgot, key) }
func (o *owners) Watch(string, string)         {}

type pol struct{ applied []string }

func (p *pol) ForMember(string) policy.Policy { return policy.Policy{Mode: gateway.PermissionReadOnly} }
func (p *pol) Apply(_ context.Context, key string, _ policy.Policy) error {
	p.applied = append(p.applied, key)
	return nil
}

var (
	alice = chat.User{ID: "alice", Role: chat.RoleMember}
	bob   = chat.User{ID: "bob", Role: chat.RoleMember}
	olga  = chat.User{ID: "olga", Role: chat.RoleOwner}
)

func newService(t *testing.T) (*conversations.Service, *bridgetest.Store, *runs, *owners, *pol, *bridgetest.Recorder) {
	st, r, o, p, rec := bridgetest.NewStore(), &runs{}, &owners{}, &pol{}, bridgetest.NewRecorder()
	up := bridgetest.NewUpstream()
	return conversations.New(conversations.Config{
		Store: st, Publisher: rec, Runs: r, Owners: o, Policy: p, Gateway: gateway.API{R: up},
		Logger: slog.New(slog.DiscardHandler), Now: time.Now, MaxConversations: 2,
		GatewayState: func() string { return "connected" },
		Audit:        func(context.Context, chat.User, string, string, map[string]any) {},
	}), st, r, o, p, rec
}

func TestLookupIsTheOneGate(t *testing.T) {
	s, st, _, o, p, _ := newService(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, alice, conversations.CreateParams{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if len(p.applied) != 1 || len(o.remembered) != 1 {
		t.Fatalf("member policy applied %v, remembered %v", p.applied, o.remembered)
	}
	for _, c := range []struct {
		u  chat.User
		id string
	}{{bob, "c1"}, {alice, "nope"}, {alice, "../c1"}, {alice, "gw:agent:main:main"}, {chat.User{ID: "Bad User"}, "c1"}} {
		if _, err := s.Lookup(ctx, c.u, c.id); !errors.Is(err, chat.ErrNotFound) {
			t.Errorf("Lookup(%s, %q) = %v, want not found", c.u.ID, c.id, err)
		}
	}
	if c, err := s.Lookup(ctx, olga, "gw:agent:main:main"); err != nil || c.SessionKey != "agent:main:main" {
		t.Errorf("owner's gw: lookup = %+v, %v", c, err)
	}
	// A row whose session key does not match what was asked is never trusted.
	row, _ := st.Conversation(ctx, "alice", "c1")
	row.SessionKey = "agent:main:clawchat:bob:c1"
	_ = st.UpdateConversation(ctx, row)
	if _, err := s.Lookup(ctx, alice, "c1"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("a mismatched row was trusted: %v", err)
	}
}

func TestCreateBoundsAndDelete(t *testing.T) {
	s, _, r, o, _, rec := newService(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, alice, conversations.CreateParams{ID: "a", Title: "x\x00y"}); !errors.Is(err, chat.ErrInvalid) {
		t.Errorf("NUL title: %v", err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := s.Create(ctx, alice, conversations.CreateParams{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create(ctx, alice, conversations.CreateParams{ID: "a"}); !errors.Is(err, chat.ErrLimitReached) {
		t.Errorf("limit: %v", err)
	}
	if err := s.Delete(ctx, alice, "a"); err != nil {
		t.Fatal(err)
	}
	if len(r.cleared) != 1 || len(r.forgot) != 1 || len(o.forgot) != 1 {
		t.Fatalf("delete did not clear run state and ownership: %+v %+v", r, o)
	}
	if names := rec.Names("alice"); names[len(names)-1] != "conversation.deleted" {
		t.Fatalf("events %v", names)
	}
	if _, err := s.Get(ctx, alice, "a"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("deleted conversation still there: %v", err)
	}
}
