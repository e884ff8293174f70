package share_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// lastPresence returns the names in the newest presence event user got for conversation id.
func (r *rec) lastPresence(user, id string) ([]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.evs[user]
	for i := len(evs) - 1; i >= 0; i-- {
		if p, ok := evs[i].Body.(chat.Presence); ok && p.Conversation == id {
			var out []string
			for _, v := range p.Viewers {
				out = append(out, v.Name)
			}
			return out, true
		}
	}
	return nil, false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling an in-memory condition
	}
}

// TestPresenceAcrossInstances: two Presence trackers on one store bus stand for two instances;
// each participant sees the union of the viewers, a closed connection leaves, and a removed
// member is not told.
func TestPresenceAcrossInstances(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := f.svc.Add(ctx, alice, "trip", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Add(ctx, alice, "trip", "carol", chat.ShareReadOnly); err != nil {
		t.Fatal(err)
	}
	hubA, hubB := &rec{evs: map[string][]chat.Event{}}, &rec{evs: map[string][]chat.Event{}}
	pa, pb := f.svc.NewPresence(f.db, hubA, "A"), f.svc.NewPresence(f.db, hubB, "B")
	done := make(chan error, 2)
	go func() { done <- pa.Run(ctx) }()
	go func() { done <- pb.Run(ctx) }()
	defer func() { cancel(); <-done; <-done }()

	// A non-participant cannot view (the one not-found), and nobody hears of it.
	if _, err := pa.View(ctx, "eve-tab", eve, "trip"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("eve views: %v", err)
	}
	// Subscriptions are up once an instance hears the other's repeat: wait by viewing until B
	// has heard A.
	if _, err := pa.View(ctx, "alice-tab", alice, "trip"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to see alice", func() bool {
		n, _ := hubB.lastPresence("bob", "trip")
		if !slices.Equal(n, []string{"Alice"}) {
			// B may have subscribed after A's message: have A repeat it.
			_, _ = pa.View(ctx, "alice-tab-2", alice, "trip")
			pa.Leave("alice-tab-2")
			return false
		}
		return true
	})
	got, err := pb.View(ctx, "bob-tab", bob, "trip")
	if err != nil || !slices.Equal(names(got), []string{"Alice", "Bob"}) {
		t.Fatalf("bob's view answer %v %v", names(got), err)
	}
	waitFor(t, "A to see both", func() bool {
		n, _ := hubA.lastPresence("alice", "trip")
		return slices.Equal(n, []string{"Alice", "Bob"})
	})
	if n, _ := hubA.lastPresence("carol", "trip"); !slices.Equal(n, []string{"Alice", "Bob"}) {
		t.Errorf("carol (read-only) on A sees %v", n)
	}
	if _, ok := hubA.lastPresence("eve", "trip"); ok {
		t.Error("a non-participant got presence")
	}
	// Bob's connection closes: both instances drop him.
	pb.Leave("bob-tab")
	waitFor(t, "A to see bob leave", func() bool {
		n, _ := hubA.lastPresence("alice", "trip")
		return slices.Equal(n, []string{"Alice"})
	})
	// Carol is removed: presence no longer reaches her.
	if err := f.svc.Remove(ctx, alice, "trip", "carol"); err != nil {
		t.Fatal(err)
	}
	before := len(hubA.evs["carol"])
	if _, err := pa.View(ctx, "alice-tab", alice, ""); err != nil {
		t.Fatal(err)
	}
	if len(hubA.evs["carol"]) != before {
		t.Error("a removed member still gets presence")
	}
}

func names(vs []chat.Sender) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func TestTyping(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	if _, err := f.svc.Add(ctx, alice, "trip", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Add(ctx, alice, "trip", "carol", chat.ShareReadOnly); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Typing(ctx, bob, "trip", true); err != nil {
		t.Fatal(err)
	}
	f.pub.mu.Lock()
	last := f.pub.evs["alice"][len(f.pub.evs["alice"])-1]
	var bobs int
	for _, e := range f.pub.evs["bob"] {
		if e.Name == "typing" {
			bobs++
		}
	}
	f.pub.mu.Unlock()
	b, _ := json.Marshal(last.Body)
	if last.Name != "typing" || !strings.Contains(string(b), `"userId":"bob"`) || !strings.Contains(string(b), `"typing":true`) {
		t.Errorf("alice got %s %s", last.Name, b)
	}
	if bobs != 0 {
		t.Error("the typist is told of their own typing")
	}
	if err := f.svc.Typing(ctx, carol, "trip", true); !errors.Is(err, chat.ErrForbidden) {
		t.Errorf("read-only types: %v", err)
	}
	if err := f.svc.Typing(ctx, eve, "trip", true); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("non-participant types: %v", err)
	}
}
