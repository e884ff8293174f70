package push_test

import (
	"sync"
	"testing"

	"github.com/clawchat/clawchat/internal/push"
	"github.com/clawchat/clawchat/internal/store"
	"github.com/clawchat/clawchat/internal/testkit/pushtest"
	"github.com/clawchat/clawchat/internal/testkit/storetest"
)

// TestNotifyExactlyOnceOnPostgres is the multi-instance guarantee on the real engine: two
// instances, each with its own connection pool to one PostgreSQL database, both see the same
// run finish several times; the subscriber gets exactly one notification.
func TestNotifyExactlyOnceOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a PostgreSQL server; skipped with -short")
	}
	pub, priv, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	fake := pushtest.NewServer(t, pub)
	dsn := storetest.PostgresURL(t)
	var svcs []*push.Service
	for range 2 {
		db, err := store.Open(t.Context(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := push.New(push.Config{
			PublicKey: pub, PrivateKey: priv, Subscriber: "mailto:ops@clawchat.example.org",
			AllowedHosts: []string{pushtest.Host}, Store: db, HTTPClient: fake.Client(),
		})
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, s)
	}
	if err := svcs[0].Subscribe(t.Context(), "alice", fake.NewSubscription().JSON()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range svcs {
		for range 4 {
			wg.Go(func() {
				if err := s.NotifyReplyFinished(t.Context(), "alice", "c1", "run-pg-1", "title", ""); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	if n := len(fake.Deliveries()); n != 1 {
		t.Fatalf("%d deliveries for one finished run across two instances, want exactly 1", n)
	}
}
