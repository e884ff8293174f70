package storetest

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/chat"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(Main(m)) }

// TestPostgresURLIsolated checks that every PostgresURL is its own database, shared by the stores
// opened on it, and dropped when its test ends.
func TestPostgresURLIsolated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var name string
	t.Run("databases", func(t *testing.T) {
		url1, url2 := PostgresURL(t), PostgresURL(t)
		if url1 == url2 {
			t.Fatalf("PostgresURL returned %s twice", url1)
		}
		a, b, other := open(t, url1), open(t, url1), open(t, url2)
		if err := a.CreateSession(ctx, chat.Session{ID: "s", UserID: "u"}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Session(ctx, "s"); err != nil {
			t.Errorf("second store on the same URL does not see the data: %v", err)
		}
		if _, err := other.Session(ctx, "s"); !errors.Is(err, chat.ErrNotFound) {
			t.Errorf("store on another URL sees the data: %v", err)
		}
		u, err := url.Parse(url1)
		if err != nil {
			t.Fatal(err)
		}
		name = strings.TrimPrefix(u.Path, "/")
	})
	var n int
	if err := shared.admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 || name == "" {
		t.Errorf("database %q still exists after its test (count %d)", name, n)
	}
}

func TestSQLiteIsolated(t *testing.T) {
	ctx := context.Background()
	a, b := SQLite(t), SQLite(t)
	if err := a.CreateSession(ctx, chat.Session{ID: "s", UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Session(ctx, "s"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("two SQLite stores share data: %v", err)
	}
}
