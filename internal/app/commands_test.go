package app

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawchat/clawchat/internal/config"
)

// The account commands (clawchat user …) open the store the server uses, also when its URL is a
// mounted secret (CLAWCHAT_DATABASE_URL_FILE, as docs/scaling.md sets it up).
func TestStoreDSNReadsDatabaseURLFile(t *testing.T) {
	const dsn = "postgres://clawchat:db-pass@db:5432/clawchat"
	dir := t.TempDir()
	env := func(vars map[string]string) config.Env {
		return config.Env{
			Getenv: func(k string) string { return vars[k] },
			ReadFile: func(p string) ([]byte, error) {
				if p == "/run/secrets/clawchat/database-url" {
					return []byte(dsn + "\n"), nil
				}
				return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
			},
		}
	}
	got, err := storeDSN(env(map[string]string{"CLAWCHAT_DATABASE_URL_FILE": "/run/secrets/clawchat/database-url", "CLAWCHAT_DATA_DIR": dir}))
	if err != nil || got != dsn {
		t.Errorf("storeDSN with the _FILE form = %q, %v; want %q", got, err, dsn)
	}
	got, err = storeDSN(env(map[string]string{"CLAWCHAT_DATA_DIR": dir}))
	if err != nil || got != filepath.Join(dir, "clawchat.db") {
		t.Errorf("storeDSN without a database URL = %q, %v; want SQLite in the data directory", got, err)
	}
	if _, err = storeDSN(env(map[string]string{"CLAWCHAT_DATABASE_URL_FILE": "/missing", "CLAWCHAT_DATA_DIR": dir})); err == nil || !strings.Contains(err.Error(), "CLAWCHAT_DATABASE_URL_FILE") {
		t.Errorf("storeDSN with an unreadable file: err = %v, want one naming CLAWCHAT_DATABASE_URL_FILE", err)
	}
}
