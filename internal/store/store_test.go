package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/store"
	"github.com/clawchat/clawchat/internal/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(storetest.Main(m)) }

func TestContractSQLite(t *testing.T) {
	start := time.Now()
	storetest.RunContract(t, storetest.SQLiteDSN)
	t.Cleanup(func() { t.Logf("SQLite contract suite: %v", time.Since(start)) })
}

func TestContractPostgres(t *testing.T) {
	storetest.PostgresURL(t) // start the server outside the timed part
	start := time.Now()
	storetest.RunContract(t, storetest.PostgresURL)
	t.Cleanup(func() { t.Logf("PostgreSQL contract suite: %v", time.Since(start)) })
}

func TestOpenSQLiteForms(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	for _, dsn := range []string{":memory:", path, "file:" + path + "?cache=private"} {
		db, err := store.Open(ctx, dsn, storetest.Logger(t))
		if err != nil {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
		if db.Dialect() != store.DialectSQLite {
			t.Errorf("Open(%q).Dialect() = %q", dsn, db.Dialect())
		}
		// Every connection of the pool sees the same (migrated) database, :memory: included.
		for i := range 3 {
			if err := db.CreateSession(ctx, chat.Session{ID: fmt.Sprint(dsn, i), UserID: "u"}); err != nil {
				t.Errorf("Open(%q): %v", dsn, err)
			}
		}
		if err := db.Ping(ctx); err != nil {
			t.Error(err)
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mode string
	if err := raw.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if _, err := store.Open(ctx, "", nil); !errors.Is(err, chat.ErrInvalid) {
		t.Errorf("Open(\"\") = %v, want ErrInvalid", err)
	}
}
