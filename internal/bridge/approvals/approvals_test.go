package approvals

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

type recorder struct {
	mu  sync.Mutex
	evs map[string][]chat.Event
}

func (r *recorder) Publish(userID string, ev chat.Event) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs[userID] = append(r.evs[userID], ev)
	return 0
}

func (r *recorder) names(userID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.evs[userID] {
		out = append(out, ev.Name)
	}
	return out
}

type fakeGW struct {
	resolved []gateway.ExecApprovalResolveParams
}

func (f *fakeGW) ExecApprovalList(context.Context) ([]gateway.ExecApproval, error) { return nil, nil }
func (f *fakeGW) ExecApprovalResolve(_ context.Context, p gateway.ExecApprovalResolveParams) (json.RawMessage, error) {
	f.resolved = append(f.resolved, p)
	return json.RawMessage(`{}`), nil
}

type store map[string]chat.Conversation

func (s store) ConversationByKey(_ context.Context, key string) (chat.Conversation, error) {
	if c, ok := s[key]; ok {
		return c, nil
	}
	return chat.Conversation{}, chat.ErrNotFound
}

func TestOwnersOnlyAndTheMemberLearnsTheOutcome(t *testing.T) {
	key := "agent:main:clawchat:alice:c1"
	rec := &recorder{evs: map[string][]chat.Event{}}
	gw := &fakeGW{}
	var audited []string
	now := time.Unix(1_800_000_000, 0)
	s := New(Config{
		Enabled: true, Publisher: rec, Gateway: gw, Store: store{key: {UserID: "alice", ID: "c1", SessionKey: key, Title: "T"}},
		Owners:    func(context.Context) ([]string, error) { return []string{"olga"}, nil },
		RunSender: func(runID, k string) string { return "Alice\n[x]" },
		Now:       func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler), Base: context.Background(),
		Go: func(f func()) { f() }, ListTimeout: time.Second,
		Audit: func(_ context.Context, u chat.User, action, target string, _ map[string]any) {
			audited = append(audited, u.ID+" "+action+" "+target)
		},
		MapError: func(_ context.Context, _ string, err error) error { return err },
	})
	s.Requested(json.RawMessage(`{"id":"a1","request":{"command":"rm -rf /tmp/x","sessionKey":"` + key + `","runId":"r1"},"createdAtMs":1,"expiresAtMs":` +
		jsonInt(now.Add(time.Minute).UnixMilli()) + `}`))
	if got := rec.names("olga"); len(got) != 1 || got[0] != "approval.requested" {
		t.Fatalf("owner got %v", got)
	}
	if got := rec.names("alice"); len(got) != 1 || got[0] != "run.approval" {
		t.Fatalf("member got %v", got)
	}
	alice := chat.User{ID: "alice", Role: chat.RoleMember}
	olga := chat.User{ID: "olga", Role: chat.RoleOwner}
	if _, err := s.List(context.Background(), alice); !errors.Is(err, chat.ErrNotFound) {
		t.Fatal("a member listed approvals")
	}
	if err := s.Resolve(context.Background(), alice, "a1", DecisionDeny); !errors.Is(err, chat.ErrNotFound) || len(gw.resolved) != 0 {
		t.Fatal("a member resolved an approval")
	}
	list, err := s.List(context.Background(), olga)
	if err != nil || len(list) != 1 || list[0].RequestedBy != "Alice x" || list[0].ConversationTitle != "T" || list[0].Conversation != "" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if err := s.Resolve(context.Background(), olga, "a1", "maybe"); !errors.Is(err, chat.ErrInvalid) {
		t.Fatalf("bad decision: %v", err)
	}
	if err := s.Resolve(context.Background(), olga, "a1", DecisionDeny); err != nil {
		t.Fatal(err)
	}
	if len(gw.resolved) != 1 || len(audited) != 1 || audited[0] != "olga approval.resolve a1" {
		t.Fatalf("resolved %v, audited %v", gw.resolved, audited)
	}
	if got := rec.names("alice"); len(got) != 2 || got[1] != "run.approval" {
		t.Fatalf("member got %v", got)
	}
	if list, _ := s.List(context.Background(), olga); len(list) != 0 {
		t.Fatalf("still pending: %+v", list)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
