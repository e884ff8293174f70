package app

import (
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/metrics"

	"github.com/clawchat/clawchat/internal/push"
	"github.com/clawchat/clawchat/internal/store"
	"github.com/clawchat/clawchat/internal/testkit/pushtest"
)

// heldTransport holds every request until release is closed, and says when one arrived.
type heldTransport struct {
	next    http.RoundTripper
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	done    time.Time // when the push service answered
}

func (h *heldTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.once.Do(func() { close(h.arrived) })
	<-h.release
	res, err := h.next.RoundTrip(r)
	h.mu.Lock()
	h.done = time.Now()
	h.mu.Unlock()
	return res, err
}

// TestShutdownDrainsPushes: a notification whose push send is in flight when shutdown begins is
// delivered, and the store closes only after it (issue 14).
func TestShutdownDrainsPushes(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "clawchat.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	fake := pushtest.NewServer(t, pub)
	client := fake.Client()
	held := &heldTransport{next: client.Transport, arrived: make(chan struct{}), release: make(chan struct{})}
	client.Transport = held
	svc, err := push.New(push.Config{PublicKey: pub, PrivateKey: priv, Subscriber: "mailto:ops@clawchat.example.org",
		AllowedHosts: []string{pushtest.Host}, Store: db, HTTPClient: client, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Subscribe(ctx, "owner", fake.NewSubscription().JSON()); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var closedAt time.Time
	s := &server{log: log, db: db, push: svc, hub: hub.New(hub.Config{}), metrics: metrics.New()}
	s.delivery = newDelivery(s, false)
	s.closers = []func() error{func() error {
		mu.Lock()
		closedAt = time.Now()
		mu.Unlock()
		return db.Close()
	}}
	s.delivery.Publish("owner", chat.ApprovalRequested{Approval: chat.Approval{ID: "appr-1", Command: "ls", RequestedBy: "bob"}}.Event())
	<-held.arrived // the push is being sent now

	stopped := make(chan struct{})
	go func() { // what run and serve do at shutdown, in this order
		s.delivery.Drain()
		s.close()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("shutdown finished while a push was still being sent")
	case <-time.After(100 * time.Millisecond): // a negative check: give a wrong shutdown time to finish
	}
	close(held.release)
	<-stopped
	ds := fake.Deliveries()
	if len(ds) != 1 {
		t.Fatalf("%d notifications delivered; want 1", len(ds))
	}
	mu.Lock()
	defer mu.Unlock()
	held.mu.Lock()
	defer held.mu.Unlock()
	if closedAt.IsZero() || closedAt.Before(held.done) {
		t.Fatalf("store closed at %v, before the push service answered at %v", closedAt, held.done)
	}
}
