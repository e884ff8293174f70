package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/store"
	"github.com/clawchat/clawchat/internal/testkit/storetest"
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

// TestDatabasesMadeByGooseCarryOn: clawchat migrated its schema with goose v3 until 2026-12.
// A database that goose migrated (SQLite and PostgreSQL) opens with today's runner: nothing is
// applied twice, the data stays, and the version bookkeeping is the same. goose is a test-only
// dependency now.
func TestDatabasesMadeByGooseCarryOn(t *testing.T) {
	for _, tc := range []struct {
		dialect string
		goose   goose.Dialect
		dsn     func(testing.TB) string
		driver  string
	}{
		{"sqlite", goose.DialectSQLite3, func(t testing.TB) string { return filepath.Join(t.TempDir(), "old.db") }, "sqlite"},
		{"postgres", goose.DialectPostgres, storetest.PostgresURL, "pgx"},
	} {
		t.Run(tc.dialect, func(t *testing.T) {
			ctx := context.Background()
			dsn := tc.dsn(t)
			raw, err := sql.Open(tc.driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			files, err := fs.Sub(os.DirFS("migrations"), tc.dialect)
			if err != nil {
				t.Fatal(err)
			}
			p, err := goose.NewProvider(tc.goose, raw, files, goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Up(ctx); err != nil {
				t.Fatalf("goose up: %v", err)
			}
			if _, err := raw.ExecContext(ctx, `INSERT INTO accounts (id, username, username_key, role, created_at, updated_at, password_changed_at)
				VALUES ('a1', 'old', 'old', 'member', 1, 1, 1)`); err != nil {
				t.Fatal(err)
			}
			db, err := store.Open(ctx, dsn, storetest.Logger(t))
			if err != nil {
				t.Fatalf("Open a goose-made database: %v", err)
			}
			defer db.Close()
			if a, err := db.Account(ctx, "a1"); err != nil || a.Username != "old" {
				t.Fatalf("account from before: %+v %v", a, err)
			}
			var rows, maxV int64
			if err := raw.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version_id) FROM goose_db_version`).Scan(&rows, &maxV); err != nil {
				t.Fatal(err)
			}
			sqls, err := fs.Glob(files, "*.sql")
			if err != nil {
				t.Fatal(err)
			}
			// Version 0 plus one row per migration (numbers are reserved per issue, so they can
			// have gaps).
			if maxV != store.SchemaVersion() || rows != int64(len(sqls))+1 {
				t.Fatalf("goose_db_version: %d rows, max %d", rows, maxV)
			}
			if v, err := p.GetDBVersion(ctx); err != nil || v != store.SchemaVersion() {
				t.Fatalf("goose reads version %d, %v", v, err)
			}
		})
	}
}

// Regression (issue 16, item 10): clawchat.db was created 0644 (umask) in a world-readable
// directory. The database and its -wal/-shm files are the owner's only, and an existing 0644
// database is tightened at the next start.
func TestSQLiteFilesArePrivate(t *testing.T) {
	ctx := context.Background()
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "clawchat.db")
	check := func(when string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) && p != path {
					continue
				}
				t.Fatal(err)
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("%s: %s mode %o, want 600", when, filepath.Base(p), m)
			}
		}
	}
	db, err := store.Open(ctx, path, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSession(ctx, chat.Session{ID: "s", UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	check("new database")
	db.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		_ = os.Chmod(p, 0o644)
	}
	db, err = store.Open(ctx, path, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check("existing 0644 database")
}
