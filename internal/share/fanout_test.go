package share_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/share"
)

type allRec struct{ *rec }

func (allRec) PublishAll(chat.Event) {}

func TestFanout(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	out := allRec{&rec{evs: map[string][]chat.Event{}}}
	fan := f.svc.NewFanout(out)
	got := func(u string) int { out.mu.Lock(); defer out.mu.Unlock(); return len(out.evs[u]) }
	delta := chat.RunDelta{Conversation: "trip", RunID: "r", Text: "x"}.Event()

	// Nothing read yet: delivering needs the store (the chat core moves such events off the
	// Gateway dispatch goroutine); a Gateway session never does.
	if fan.Cached("alice", "trip") || !fan.Cached("alice", "gw:agent:main:main") {
		t.Fatal("Cached before the first delivery")
	}
	// Not shared: the creator alone.
	fan.Publish("alice", delta)
	if !fan.Cached("alice", "trip") {
		t.Fatal("not Cached after a delivery")
	}
	if got("alice") != 1 || got("bob") != 0 {
		t.Fatalf("unshared: alice %d bob %d", got("alice"), got("bob"))
	}
	if _, err := f.svc.Add(ctx, alice, "trip", "bob", ""); err != nil {
		t.Fatal(err)
	}
	fan.Invalidate("agent:main:clawchat:alice:trip")
	if fan.Cached("bob", "trip") {
		t.Fatal("bob's first delivery needs the store")
	}
	// Shared: every participant, whoever the event was addressed to.
	fan.Publish("bob", delta)
	fan.Publish("alice", delta)
	if got("alice") != 3 || got("bob") != 2 {
		t.Fatalf("shared: alice %d bob %d", got("alice"), got("bob"))
	}
	// Personal events stay personal.
	fan.Publish("alice", chat.ErrorEvent{Code: "x", Message: "y", Conversation: "trip"}.Event())
	if got("bob") != 2 {
		t.Fatal("an error event reached another participant")
	}
	// Removed: bob gets nothing more, even when an event is addressed to him.
	if err := f.svc.Remove(ctx, alice, "trip", "bob"); err != nil {
		t.Fatal(err)
	}
	fan.Invalidate("agent:main:clawchat:alice:trip")
	fan.Publish("bob", delta)
	fan.Publish("alice", delta)
	if got("bob") != 2 || got("alice") != 6 { // 4 before (3 deltas, 1 error), then both deltas
		t.Fatalf("after removal: alice %d bob %d", got("alice"), got("bob"))
	}
	// An addressee who never could see it: nothing, to nobody.
	fan.Publish("eve", delta)
	if got("eve") != 0 || got("alice") != 6 {
		t.Fatalf("eve %d alice %d", got("eve"), got("alice"))
	}
	// The creator who left (after a transfer): the event goes to the participants, not to them.
	if _, err := f.svc.Add(ctx, alice, "trip", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Transfer(ctx, alice, "trip", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Remove(ctx, alice, "trip", "alice"); err != nil {
		t.Fatal(err)
	}
	fan2 := f.svc.NewFanout(out) // nothing cached
	fan2.Publish("alice", delta)
	if got("alice") != 6 || got("bob") != 3 {
		t.Fatalf("after the creator left: alice %d bob %d", got("alice"), got("bob"))
	}
	// A Gateway session passes through to its addressee.
	fan2.Publish("alice", chat.RunDelta{Conversation: "gw:agent:main:main", RunID: "r"}.Event())
	if got("alice") != 7 {
		t.Fatalf("gw: event not delivered")
	}
	if u, ok := fan2.Participants("alice", "trip"); !ok || !slices.Equal(u, []string{"bob"}) {
		t.Errorf("participants %v %v", u, ok)
	}
}

// blockingMembers is a store whose Members waits for its context once armed: a store that hangs.
type blockingMembers struct {
	share.Store
	armed   chan struct{} // closed: Members blocks
	entered chan struct{} // Members began blocking
	ended   chan error    // how it ended
}

func (b *blockingMembers) Members(ctx context.Context, key string) ([]chat.Member, error) {
	select {
	case <-b.armed:
	default:
		return b.Store.Members(ctx, key)
	}
	b.entered <- struct{}{}
	<-ctx.Done()
	b.ended <- ctx.Err()
	return nil, ctx.Err()
}

// TestCloseCancelsAndJoinsBackgroundRefresh: a stale fan-out entry is refreshed on a goroutine of
// the Service's own, off the publisher's path, with a context derived from the base the
// composition root gives it. Close cancels that context and waits for the goroutine (goleak in
// TestMain sees nothing left), and after Close no refresh starts.
func TestCloseCancelsAndJoinsBackgroundRefresh(t *testing.T) {
	f := setup(t)
	st := &blockingMembers{Store: f.db, armed: make(chan struct{}), entered: make(chan struct{}, 1), ended: make(chan error, 1)}
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	svc := share.New(share.Config{Store: st, Publisher: f.pub, Context: base, Now: func() time.Time {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.now
	}})
	out := allRec{&rec{evs: map[string][]chat.Event{}}}
	fan := svc.NewFanout(out)
	delta := chat.RunDelta{Conversation: "trip", RunID: "r", Text: "x"}.Event()
	fan.Publish("alice", delta) // read synchronously, now cached
	close(st.armed)
	f.advance(time.Minute) // stale: the next delivery serves the cache and refreshes it in the background
	fan.Publish("alice", delta)
	select {
	case <-st.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no background refresh of a stale entry")
	}
	closed := make(chan struct{})
	go func() { svc.Close(); close(closed) }()
	select {
	case err := <-st.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the refresh ended with %v, want its context cancelled by Close", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not cancel the background refresh")
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	// After Close: delivery still works from the cache, and no refresh starts.
	f.advance(time.Minute)
	fan.Publish("alice", delta)
	svc.Close() // idempotent; it would wait for a refresh started by mistake
	select {
	case <-st.entered:
		t.Fatal("a refresh started after Close")
	default:
	}
	out.mu.Lock()
	n := len(out.evs["alice"])
	out.mu.Unlock()
	if n != 3 {
		t.Fatalf("alice got %d events, want 3", n)
	}
}
