package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
)

// stallStore is a store whose ConversationByKey for one key stalls for 5 s (or until released),
// whatever its context says: a database that hangs.
type stallStore struct {
	*bridgetest.Store
	key      string
	entered  chan struct{}
	release  chan struct{}
	once     sync.Once
	released sync.Once
}

func (s *stallStore) ConversationByKey(ctx context.Context, key string) (chat.Conversation, error) {
	if key == s.key {
		s.once.Do(func() { close(s.entered) })
		select {
		case <-s.release:
		case <-time.After(5 * time.Second):
		}
	}
	return s.Store.ConversationByKey(ctx, key)
}

func (s *stallStore) unblock() { s.released.Do(func() { close(s.release) }) }

// A store read that stalls for 5 s while routing one user's new session must not hold up another
// user's stream: the Gateway client's dispatch goroutine never waits on the store (issue 14), and
// the stalled session's own events are delivered afterwards, in order.
func TestStoreStallDoesNotBlockOtherStreams(t *testing.T) {
	st := &stallStore{Store: bridgetest.NewStore(), key: "agent:main:clawchat:bob:b", entered: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(st.unblock)
	rec := bridgetest.NewRecorder()
	svc, err := bridge.New(bridge.Config{Upstream: bridgetest.NewUpstream(), Store: st, Publisher: rec, SendRate: 1000, SendBurst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetGatewayState(bridge.StateConnected)
	t.Cleanup(svc.Wait)
	ctx := context.Background()
	res, err := svc.Send(ctx, alice, bridge.SendParams{Conversation: "a", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	// Bob's conversation was made on another instance: this one has never seen its key.
	now := time.Now().UTC()
	if err := st.Store.CreateConversation(ctx, chat.Conversation{UserID: bob.ID, ID: "b", AgentID: "main", SessionKey: bridge.SessionKey("main", bob.ID, "b"), CreatedAt: now, UpdatedAt: now, LastActivityAt: now}); err != nil {
		t.Fatal(err)
	}
	bobBefore := len(rec.Names("bob"))
	ev := func(runID, key, delta string) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"runId": runID, "sessionKey": key, "state": "delta", "deltaText": delta})
		return b
	}
	// The Gateway client's dispatch goroutine: bob's run (a session not routed yet: store read),
	// then alice's stream, then more of bob's.
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		svc.HandleGatewayEvent("chat", ev("bob-run", st.key, "one "))
		<-st.entered
		for i := range 3 {
			svc.HandleGatewayEvent("chat", ev(res.RunID, "agent:main:clawchat:alice:a", fmt.Sprint(i)))
		}
		svc.HandleGatewayEvent("chat", ev("bob-run", st.key, "two"))
	}()
	select {
	case <-fed:
	case <-time.After(time.Second):
		t.Fatal("the dispatch goroutine waits on the stalled store")
	}
	if n := len(find(t, rec.Events("alice"), "run.delta")); n != 3 {
		t.Fatalf("alice got %d deltas while bob's lookup stalled, want 3", n)
	}
	if got := rec.Names("bob")[bobBefore:]; len(got) != 0 {
		t.Fatalf("bob got %v before his session was resolved", got)
	}
	st.unblock()
	svc.WaitOrdered()
	var text string
	for _, p := range find(t, rec.Events("bob"), "run.delta") {
		text += p["text"].(string)
	}
	if names := rec.Names("bob")[bobBefore:]; len(names) == 0 || names[0] != "run.started" || text != "one two" {
		t.Fatalf("bob's events after the stall = %v, text %q (want run.started first, then \"one two\" in order)", names, text)
	}
}

// stallPublisher is a caching publisher (share.Fanout's role) whose first delivery for one
// conversation reads a store that stalls, until released; Cached is false until then.
type stallPublisher struct {
	*bridgetest.Recorder
	conv     string
	armed    chan struct{} // closed: the next delivery for conv stalls
	entered  chan struct{}
	release  chan struct{}
	once     sync.Once
	released sync.Once
	mu       sync.Mutex
	read     bool
}

func (p *stallPublisher) Cached(userID, conv string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return conv != p.conv || p.read
}

func (p *stallPublisher) Publish(userID string, ev chat.Event) uint64 {
	select {
	case <-p.armed:
		p.mu.Lock()
		stall := !p.read && conversationOf(ev) == p.conv
		p.mu.Unlock()
		if stall {
			p.once.Do(func() { close(p.entered) })
			select {
			case <-p.release:
			case <-time.After(5 * time.Second):
			}
			p.mu.Lock()
			p.read = true
			p.mu.Unlock()
		}
	default:
	}
	return p.Recorder.Publish(userID, ev)
}

func (p *stallPublisher) unblock() { p.released.Do(func() { close(p.release) }) }

func conversationOf(ev chat.Event) string {
	if d, ok := ev.Body.(chat.RunDelta); ok {
		return d.Conversation
	}
	return ""
}

// A publisher that must read the store to deliver a shared conversation's event (its
// participants) is not asked on the dispatch goroutine: while that read stalls for one user's
// conversation, another user's stream keeps flowing (issue 13 on top of issue 14).
func TestPublisherStallDoesNotBlockOtherStreams(t *testing.T) {
	pub := &stallPublisher{Recorder: bridgetest.NewRecorder(), conv: "b", armed: make(chan struct{}), entered: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(pub.unblock)
	svc, err := bridge.New(bridge.Config{Upstream: bridgetest.NewUpstream(), Store: bridgetest.NewStore(), Publisher: pub, SendRate: 1000, SendBurst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetGatewayState(bridge.StateConnected)
	t.Cleanup(svc.Wait)
	ctx := context.Background()
	ra, err := svc.Send(ctx, alice, bridge.SendParams{Conversation: "a", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := svc.Send(ctx, bob, bridge.SendParams{Conversation: "b", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	close(pub.armed)
	ev := func(runID, key, delta string) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"runId": runID, "sessionKey": key, "state": "delta", "deltaText": delta})
		return b
	}
	bobKey, aliceKey := bridge.SessionKey("main", bob.ID, "b"), bridge.SessionKey("main", alice.ID, "a")
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		svc.HandleGatewayEvent("chat", ev(rb.RunID, bobKey, "one "))
		for i := range 3 {
			svc.HandleGatewayEvent("chat", ev(ra.RunID, aliceKey, fmt.Sprint(i)))
		}
		svc.HandleGatewayEvent("chat", ev(rb.RunID, bobKey, "two"))
	}()
	select {
	case <-fed:
	case <-time.After(time.Second):
		t.Fatal("the dispatch goroutine waits on the publisher's stalled store read")
	}
	if n := len(find(t, pub.Events("alice"), "run.delta")); n != 3 {
		t.Fatalf("alice got %d deltas while bob's delivery stalled, want 3", n)
	}
	pub.unblock()
	svc.WaitOrdered()
	var text string
	for _, p := range find(t, pub.Events("bob"), "run.delta") {
		text += p["text"].(string)
	}
	if text != "one two" {
		t.Fatalf("bob's deltas after the stall: %q, want \"one two\" in order", text)
	}
}
