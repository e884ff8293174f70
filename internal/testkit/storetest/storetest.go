// Package storetest provides real databases for tests: a SQLite store in a temporary directory,
// and a fresh database on a real PostgreSQL server that is started once per test binary from the
// Debian postgresql package (initdb + postgres, run as the postgres OS user when the test runs as
// root), on a free loopback port, with fsync off. When CLAWCHAT_TEST_DATABASE_URL is set (a
// postgres:// URL of a role allowed to CREATE DATABASE), that server is used instead and nothing
// is started.
//
// A test binary that calls Postgres or PostgresURL must stop the shared server in TestMain:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(storetest.Main(m)) }
//
// PostgreSQL that cannot be started fails the test; it is never skipped (CI installs it).
//
// The package also holds RunContract, the behavioural contract every store engine passes.
package storetest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/clawchat/clawchat/internal/store"
)

// Logger returns a logger that writes warnings and errors to t's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// SQLiteDSN returns the path of a new, empty SQLite database file in a directory removed when t
// ends.
func SQLiteDSN(t testing.TB) string {
	return filepath.Join(t.TempDir(), "clawchat.db")
}

// SQLite returns a migrated store on a new SQLite file; it is closed when t ends.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	return open(t, SQLiteDSN(t))
}

// Postgres returns a migrated store on a fresh PostgreSQL database (see PostgresURL); it is closed
// when t ends.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	return open(t, PostgresURL(t))
}

func open(t testing.TB, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, Logger(t))
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("storetest: %v", err)
		}
	})
	return db
}
