// Package store is all of clawchat's persistence: accounts, sign-in sessions, conversations and
// their ownership, reactions, Web Push subscriptions, the audit log, and the little cross-instance
// coordination that several clawchat processes sharing one database need (ClaimOnce,
// Publish/Subscribe).
//
// Two engines sit behind one type, [DB]:
//
//   - SQLite (the default; pure Go through modernc.org/sqlite) for a single instance. The file is
//     opened in WAL mode with busy_timeout(5000), foreign_keys(1) and immediate transactions.
//   - PostgreSQL (pgx through database/sql) when the DSN is a postgres:// or postgresql:// URL;
//     required when several instances share state.
//
// The SQL is hand-written, with $1…$N placeholders, and the same text runs on both engines (modernc
// binds $N by ordinal). Times are stored as unix milliseconds (UTC) in BIGINT columns, which both
// engines round-trip exactly; a time read back is therefore the written time truncated to the
// millisecond, in UTC (the zero time round-trips as the zero time).
//
// Errors: a missing row is reported as an error that wraps [chat.ErrNotFound], a unique-key
// violation as one that wraps [chat.ErrConflict], and invalid input as [chat.ErrInvalid]; every error
// carries a "store: <what>" prefix and never contains a password hash, token or other secret.
//
// # Migrations
//
// The schema lives in embedded, versioned SQL files (migrations/postgres and migrations/sqlite,
// the same versions with the same statements except where a dialect forces a difference: today
// only the audit_log identity column), annotated the way goose writes them ("-- +goose Up",
// StatementBegin/End). migrate.go applies them: each pending migration and its version row in one
// transaction, versions recorded in goose's goose_db_version table with goose's layout (clawchat
// used goose v3 until 2026-12; it was replaced by these ~150 lines to keep the binary under 20 MB,
// and databases it created carry on unchanged). On PostgreSQL the whole run holds a session-level
// advisory lock (pg_advisory_lock with a clawchat-specific id, taken on a dedicated connection), so
// replicas that start at the same time migrate one after the other; concurrent SQLite openers
// retry, and the loser's transaction rolls back whole. The contract tests cover both dialects,
// concurrent migrators and reopening. Open refuses to start
// when the database has a schema version newer than the migrations compiled into the binary (a
// rollback to an older clawchat must not run against a schema it does not understand).
//
// All methods of [DB] are safe for concurrent use.
package store
