package app

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawchat/clawchat/internal/config"
	"github.com/clawchat/clawchat/internal/gateway"
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

// A ws:// URL to a host name (compose's ws://gateway:18789) is refused by the Gateway client; the
// error names the variable and the setting that allows it.
func TestGatewayConfigErrorNamesTheWayOut(t *testing.T) {
	_, err := gateway.New(gateway.Config{URL: "ws://gateway:18789", Token: "tok", StateDir: t.TempDir()})
	if err == nil {
		t.Fatal("gateway.New accepted plaintext ws:// to a host name")
	}
	msg := gatewayConfigError(err).Error()
	for _, want := range []string{"OPENCLAW_GATEWAY_URL", "CLAWCHAT_GATEWAY_ALLOW_INSECURE=true", "wss://"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %s", msg, want)
		}
	}
}
