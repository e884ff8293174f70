package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
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
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(migrationLockID),
			lock.WithLockTimeout(1, 300), // retry every second for up to 5 minutes
		)
		if err != nil {
			return fmt.Errorf("store: migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, d.db, sub, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
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
