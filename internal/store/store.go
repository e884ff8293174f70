package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/clawchat/clawchat/internal/chat"
)

// Dialect names returned by [DB.Dialect].
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Options configures [OpenWith]. The zero value is valid.
type Options struct {
	// Logger receives migration progress and Subscribe reconnect warnings. Nil discards.
	Logger *slog.Logger
	// Now is the clock ClaimOnce uses to expire claims. Nil means time.Now.
	Now func() time.Time
}

// DB is an open store. It is safe for concurrent use by many goroutines; Close it once when done.
type DB struct {
	db      *sql.DB
	dialect string
	log     *slog.Logger
	now     func() time.Time

	pgcfg *pgx.ConnConfig // postgres only: the config Subscribe dials its dedicated connections with
	local *broker         // sqlite only: in-process Publish/Subscribe
}

// Open opens the store named by dsn and brings its schema up to date. A dsn starting with
// postgres:// or postgresql:// selects PostgreSQL; anything else is a SQLite file path (or a
// "file:" URI). It fails when the database cannot be reached, a migration fails, or the database's
// schema is newer than this binary's. log may be nil.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*DB, error) {
	return OpenWith(ctx, dsn, Options{Logger: log})
}

// OpenWith is [Open] with options.
func OpenWith(ctx context.Context, dsn string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	d := &DB{log: log, now: now}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			// The parse error may quote the DSN, which can hold a password.
			return nil, errors.New("store: open postgres: invalid database URL")
		}
		d.dialect = DialectPostgres
		d.pgcfg = cfg
		d.db = stdlib.OpenDB(*cfg.Copy())
		d.db.SetMaxOpenConns(16)
		d.db.SetMaxIdleConns(4)
		d.db.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		if dsn == "" {
			return nil, fmt.Errorf("store: open sqlite: empty path: %w", chat.ErrInvalid)
		}
		if err := privateFiles(dsn); err != nil {
			return nil, err
		}
		db, err := sql.Open("sqlite", sqliteDSN(dsn))
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		d.dialect = DialectSQLite
		d.db = db
		d.local = newBroker(log)
		if dsn == ":memory:" || strings.Contains(dsn, "mode=memory") {
			// Every connection to an in-memory database is a new, empty database.
			db.SetMaxOpenConns(1)
			db.SetConnMaxIdleTime(0)
			db.SetConnMaxLifetime(0)
		} else {
			db.SetMaxOpenConns(8)
			db.SetMaxIdleConns(8)
		}
	}
	if err := d.ping(ctx); err != nil {
		d.db.Close()
		return nil, fmt.Errorf("store: open %s: %w", d.dialect, err)
	}
	if err := d.migrate(ctx); err != nil {
		d.db.Close()
		return nil, err
	}
	return d, nil
}

// ping opens the first connection. On SQLite it retries while the file is busy: several
// processes opening one new file at once all switch it to WAL, and that switch answers
// SQLITE_BUSY at once instead of waiting out busy_timeout. It gives up after about five
// seconds (busy_timeout's budget) or when ctx ends.
func (d *DB) ping(ctx context.Context) error {
	delay := 5 * time.Millisecond
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := d.db.PingContext(ctx)
		var sqErr *sqlite.Error
		if err == nil || d.dialect != DialectSQLite || !errors.As(err, &sqErr) ||
			sqErr.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// privateFiles makes the SQLite database file at path (a plain path, not ":memory:" nor a file:
// URI) readable by its owner only, whatever the umask and the directory's mode: it is created
// 0600 when missing, and an existing file (and its -wal and -shm companions, which SQLite creates
// with the database file's mode) is chmod'ed to 0600. It holds sessions, password hashes and
// every conversation's metadata.
func privateFiles(path string) error {
	if path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	_ = f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: restrict %s to its owner: %w", p, err)
		}
	}
	return nil
}

// sqliteDSN adds clawchat's connection settings to a SQLite path or file: URI.
func sqliteDSN(dsn string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// Close closes the database. In-flight calls fail; Subscribe calls on PostgreSQL keep their own
// connection until their ctx is done.
func (d *DB) Close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Ping checks that the database answers (for readiness probes).
func (d *DB) Ping(ctx context.Context) error {
	if err := d.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Dialect is "sqlite" or "postgres".
func (d *DB) Dialect() string { return d.dialect }

// ms converts t to the stored representation: unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts a stored time back: UTC, millisecond precision.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// mapErr wraps err with prefix, mapping "no rows" to chat.ErrNotFound, unique violations to
// chat.ErrConflict and foreign-key violations to chat.ErrNotFound (the referenced row is missing).
func mapErr(prefix string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", prefix, chat.ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%s: already exists: %w", prefix, chat.ErrConflict)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%s: referenced row missing: %w", prefix, chat.ErrNotFound)
		}
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: already exists: %w", prefix, chat.ErrConflict)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: referenced row missing: %w", prefix, chat.ErrNotFound)
		}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// affectedOne turns an UPDATE/DELETE result that touched no row into chat.ErrNotFound.
func affectedOne(prefix string, res sql.Result, err error) error {
	if err != nil {
		return mapErr(prefix, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", prefix, chat.ErrNotFound)
	}
	return nil
}

// inTx runs fn in a transaction and commits it, or rolls it back when fn fails.
func (d *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
