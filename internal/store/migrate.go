package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// migrationLockID is the PostgreSQL advisory lock id that serialises migrations across replicas
// ("claw" in ASCII; distinct from goose's default so other goose users of the same
// server do not block us).
const migrationLockID int64 = 0x636c6177

// SchemaVersion is the newest schema version this binary knows.
func SchemaVersion() int64 {
	sources, err := fs.Glob(migrationFiles, "migrations/sqlite/*.sql")
	if err != nil || len(sources) == 0 {
		return 0
	}
	var v int64
	for _, s := range sources {
		var n int64
		if _, err := fmt.Sscanf(s[len("migrations/sqlite/"):], "%d_", &n); err == nil && n > v {
			v = n
		}
	}
	return v
}

// migrate applies every pending migration, each in its own transaction, under the advisory lock on
// PostgreSQL, and refuses a database whose schema is newer than this binary.
func (d *DB) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrationFiles, "migrations/"+d.dialect)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(d.log),
	}
	dialect := goose.DialectSQLite3
	if d.dialect == DialectPostgres {
		dialect = goose.DialectPostgres
		unlock, err := d.lockMigrations(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	p, err := goose.NewProvider(dialect, d.db, sub, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	// Several processes may open one new SQLite file at once (nothing like an advisory lock
	// serialises them): the loser of the race fails its first migration, whose transaction rolls back
	// whole, and succeeds on a retry, which sees the winner's versions.
	for attempt := 1; ; attempt++ {
		_, err := p.Up(ctx)
		if err == nil {
			break
		}
		if d.dialect != DialectSQLite || attempt == 5 || ctx.Err() != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
	}
	have, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: read schema version: %w", err)
	}
	if want := SchemaVersion(); have > want {
		return fmt.Errorf("store: database schema version %d is newer than this binary's (%d); upgrade clawchat", have, want)
	}
	return nil
}

// lockMigrations takes the PostgreSQL session-level advisory lock that serialises migrations
// across instances, waiting for it (interruptibly, through ctx) on a dedicated connection, and
// returns the function that releases it. We take the lock ourselves rather than through goose's
// session locker because that one polls pg_try_advisory_lock no faster than once a second, which
// makes every replica after the first start at least a second late.
func (d *DB) lockMigrations(ctx context.Context) (unlock func(), err error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migrate: lock: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
		conn.Close()
		return nil, fmt.Errorf("store: migrate: lock: %w", err)
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, migrationLockID); err != nil {
			// Closing the connection below ends the session, which releases the lock anyway.
			d.log.Warn("store: migrate: unlock failed", "err", err)
		}
		conn.Close()
	}, nil
}
