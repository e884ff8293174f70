package relay

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/store"
	"github.com/clawchat/clawchat/internal/testkit/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(storetest.Main(m)) }

// instance is one clawchat process as far as the relay is concerned: its own store handle on
// the shared database, its own hub (epoch) and relay.
type instance struct {
	hub   *hub.Hub
	relay *Relay
	wake  chan struct{}
	sub   *hub.Subscription
	got   []chat.Event
}

func startInstance(t *testing.T, ctx context.Context, url string, done chan<- error) *instance {
	t.Helper()
	db, err := store.Open(ctx, url, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	in := &instance{hub: hub.New(hub.Config{}), wake: make(chan struct{}, 1)}
	in.relay = New(db, in.hub, storetest.Logger(t))
	in.sub, _ = in.hub.Subscribe("alice", hub.Cursor{}, func() {
		select {
		case in.wake <- struct{}{}:
		default:
		}
	})
	t.Cleanup(in.sub.Close)
	go func() { done <- in.relay.Run(ctx) }()
	select {
	case <-in.relay.ready:
	case <-ctx.Done():
		t.Fatal("relay never listened")
	}
	return in
}

// until drains the instance's frames until an event satisfies match.
func (in *instance) until(t *testing.T, ctx context.Context, match func(chat.Event) bool) {
	t.Helper()
	for {
		fs, err := in.sub.Take(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			in.got = append(in.got, f.Event)
		}
		for _, ev := range in.got {
			if match(ev) {
				return
			}
		}
		if len(fs) > 0 {
			continue
		}
		select {
		case <-in.wake:
		case <-ctx.Done():
			t.Fatalf("event never arrived; got %v", names(in.got))
		}
	}
}

func names(evs []chat.Event) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		out = append(out, ev.Name)
	}
	return out
}

func withID(name, id string) func(chat.Event) bool {
	return func(ev chat.Event) bool {
		var p struct {
			ID string `json:"id"`
		}
		return ev.Name == name && json.Unmarshal(ev.Payload, &p) == nil && p.ID == id
	}
}

// TestRelayTwoInstances runs two relays on one real PostgreSQL database: a conversation event
// forwarded on A arrives on B exactly once and never back on A; run events do not cross; an
// event too large for NOTIFY becomes a resync hint.
func TestRelayTwoInstances(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	url := storetest.PostgresURL(t)
	done := make(chan error, 2)
	a := startInstance(t, ctx, url, done)
	b := startInstance(t, ctx, url, done)
	defer func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("relay: %v", err)
			}
		}
	}()

	conv := chat.NewEvent("conversation.created", map[string]any{"id": "trip", "title": "Trip", "kind": "conversation"})
	a.relay.Forward("alice", conv)
	a.relay.Forward("alice", chat.NewEvent("run.delta", map[string]any{"conversation": "trip", "text": "hello"}))
	a.relay.Forward("alice", chat.NewEvent("conversation.updated", map[string]any{"id": "trip", "title": "Trip 2"}))
	a.relay.Forward("alice", chat.NewEvent("conversation.updated", map[string]any{"id": "big", "title": strings.Repeat("x", store.MaxPayload)}))
	a.relay.Forward("alice", chat.NewEvent("conversation.deleted", map[string]any{"id": "marker-a"}))
	b.until(t, ctx, withID("conversation.deleted", "marker-a"))
	// B has everything A sent before its marker (NOTIFY keeps commit order): check it.
	want := []string{"conversation.created", "conversation.updated", "resync", "conversation.deleted"}
	if got := names(b.got); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("B got %v, want %v", got, want)
	}
	if string(b.got[0].Payload) != string(conv.Payload) {
		t.Fatalf("payload changed on the way: %s", b.got[0].Payload)
	}
	if strings.Contains(string(b.got[2].Payload), "xxxx") {
		t.Fatalf("oversized event crossed: %d bytes", len(b.got[2].Payload))
	}
	// A marker from B reaching A means A has processed its own earlier messages: none came back.
	b.relay.Forward("alice", chat.NewEvent("conversation.deleted", map[string]any{"id": "marker-b"}))
	a.until(t, ctx, withID("conversation.deleted", "marker-b"))
	if got := names(a.got); len(got) != 1 {
		t.Fatalf("A got its own events back: %v", got)
	}
	// Messages from elsewhere that are not conversation events, or name a bad user, are ignored.
	a.relay.receive([]byte(`{"o":"other","u":"alice","n":"run.final","p":{"text":"x"}}`))
	a.relay.receive([]byte(`{"o":"other","u":"../bob","n":"conversation.created","p":{}}`))
	a.relay.receive([]byte(`not json`))
	if fs, _ := a.sub.Take(nil); len(fs) != 0 {
		t.Fatalf("foreign junk delivered: %v", fs[0].Event.Name)
	}
}

// TestRelayEncode bounds the NOTIFY payload.
func TestRelayEncode(t *testing.T) {
	r := New(nil, hub.New(hub.Config{Epoch: "ep1"}), slog.New(slog.DiscardHandler))
	b, err := r.encode("alice", chat.NewEvent("conversation.updated", map[string]string{"title": strings.Repeat("é", store.MaxPayload)}))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > store.MaxPayload || string(b) != `{"o":"ep1","u":"alice","n":"resync"}` {
		t.Fatalf("encoded %d bytes: %.80s", len(b), b)
	}
	for range queueSize + 5 { // never blocks when nobody drains
		r.Forward("alice", chat.NewEvent("conversation.deleted", map[string]string{"id": "x"}))
	}
	if r.dropped.Load() != 5 {
		t.Fatalf("dropped = %d", r.dropped.Load())
	}
}
