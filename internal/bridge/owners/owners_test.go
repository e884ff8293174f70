package owners

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

type store struct {
	reads atomic.Int32
	convs map[string]chat.Conversation
}

func (s *store) ConversationByKey(_ context.Context, key string) (chat.Conversation, error) {
	s.reads.Add(1)
	if c, ok := s.convs[key]; ok {
		return c, nil
	}
	return chat.Conversation{}, chat.ErrNotFound
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newRegistry(st Store, clk *clock, owners func(context.Context) ([]string, error)) *Registry {
	return New(Config{Store: st, Now: clk.now, Logger: slog.New(slog.DiscardHandler), Base: context.Background(), Owners: owners})
}

func TestResolveRemembersAndForgets(t *testing.T) {
	key := "agent:main:clawchat:alice:c1"
	st := &store{convs: map[string]chat.Conversation{key: {UserID: "alice", ID: "c1", SessionKey: key}}}
	clk := &clock{t: time.Unix(1000, 0)}
	g := newRegistry(st, clk, nil)
	if _, known := g.Known(key); known {
		t.Fatal("known before any read")
	}
	if conv, users := g.Resolve(key); conv != "c1" || len(users) != 1 || users[0] != "alice" {
		t.Fatalf("Resolve = %q %v", conv, users)
	}
	if ref, known := g.Known(key); !known || ref.UserID != "alice" {
		t.Fatalf("not remembered: %+v", ref)
	}
	g.Resolve(key)
	if st.reads.Load() != 1 {
		t.Fatalf("store read %d times", st.reads.Load())
	}
	g.Forget(key)
	if conv, users := g.Resolve(key); conv != "" || users != nil || st.reads.Load() != 1 {
		t.Fatalf("a deleted conversation's key still routed: %q %v (reads %d)", conv, users, st.reads.Load())
	}
	other := "agent:main:clawchat:bob:x"
	g.Resolve(other)
	g.Resolve(other)
	if st.reads.Load() != 2 {
		t.Fatalf("nobody's key read %d times, want once", st.reads.Load()-1)
	}
	clk.t = clk.t.Add(2 * time.Minute)
	g.Prune()
	if _, known := g.Known(other); known {
		t.Fatal("an expired 'nobody' answer is still believed")
	}
}

func TestWatchListsStayBounded(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	g := newRegistry(&store{}, clk, nil)
	for i := range 10_000 { // 10k distinct owners open one session
		clk.t = clk.t.Add(time.Millisecond)
		g.Watch("agent:main:main", fmt.Sprintf("owner-%d", i))
	}
	w := g.WatchersOf("agent:main:main")
	if len(w) != MaxWatchersPerSession {
		t.Fatalf("%d watchers of one session, bound %d", len(w), MaxWatchersPerSession)
	}
	if !slices.Contains(w, "owner-9999") || slices.Contains(w, "owner-0") {
		t.Fatal("the least recently used watcher was not the one evicted")
	}
	for i := range MaxWatchedSessions + 500 { // and more sessions than the bound
		clk.t = clk.t.Add(time.Millisecond)
		g.Watch(fmt.Sprintf("agent:main:telegram:%d", i), fmt.Sprintf("owner-%d", i))
	}
	if n := g.WatchedSessions(); n != MaxWatchedSessions {
		t.Fatalf("%d watched sessions, bound %d", n, MaxWatchedSessions)
	}
	if len(g.WatchersOf("agent:main:telegram:0")) != 0 || len(g.WatchersOf("agent:main:telegram:4500")) != 1 {
		t.Fatal("the least recently used session was not the one evicted")
	}
	clk.t = clk.t.Add(WatchIdle + time.Minute)
	g.Watch("agent:main:fresh", "olga")
	g.Prune()
	if n := g.WatchedSessions(); n != 1 {
		t.Fatalf("%d sessions after idle pruning, want 1", n)
	}
}

func TestDemotedOwnerLosesWatchesAndFailsClosed(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	ids := []string{"olga", "omar"}
	var fail bool
	g := newRegistry(&store{}, clk, func(context.Context) ([]string, error) {
		if fail {
			return nil, errors.New("db down")
		}
		return ids, nil
	})
	g.Watch("agent:main:main", "olga")
	g.Watch("agent:main:main", "omar")
	if w := g.Watchers("agent:main:main"); len(w) != 2 {
		t.Fatalf("watchers = %v", w)
	}
	if !g.Fresh([]string{"olga"}) || !g.Deliverable("gw:agent:main:main", "olga") {
		t.Fatal("cache not used")
	}
	ids = []string{"olga"}
	g.UserChanged("omar")
	if w := g.WatchersOf("agent:main:main"); len(w) != 1 || w[0] != "olga" {
		t.Fatalf("demoted owner still watches: %v", w)
	}
	fail = true
	clk.t = clk.t.Add(3 * time.Second)
	if g.IsOwnerNow("olga") || g.Deliverable("gw:agent:main:main", "olga") {
		t.Fatal("an unreadable owner list did not fail closed")
	}
	if !g.Deliverable("c1", "alice") {
		t.Fatal("a clawchat conversation's own user was refused")
	}
}
