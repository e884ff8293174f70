package config

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func envOf(vars map[string]string, files map[string]string) Env {
	return Env{
		Getenv: func(k string) string { return vars[k] },
		ReadFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		},
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(envOf(map[string]string{"OPENCLAW_GATEWAY_TOKEN": "tok"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.Gateway.URL != DefaultGatewayURL || !c.Auth.CookieSecure || c.Auth.SessionStore != "sql" {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if c.Gateway.Token != "tok" {
		t.Errorf("token = %q", c.Gateway.Token)
	}
}

func TestLoadSecretFiles(t *testing.T) {
	c, err := Load(envOf(map[string]string{
		"OPENCLAW_GATEWAY_TOKEN_FILE": "/run/secrets/gw",
		"CLAWCHAT_LOCAL_USERS_FILE":   "/run/secrets/users",
	}, map[string]string{"/run/secrets/gw": "s3cret\n", "/run/secrets/users": "alice:pa:ss,word\nbob:x\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway.Token != "s3cret" {
		t.Errorf("token = %q, want trimmed file content", c.Gateway.Token)
	}
	if !c.Auth.LocalUsersFile || !strings.Contains(c.Auth.LocalUsers, "alice:pa:ss,word") {
		t.Errorf("local users = %q file=%v", c.Auth.LocalUsers, c.Auth.LocalUsersFile)
	}
}

func TestLoadErrorsNameTheVariableAndHideSecrets(t *testing.T) {
	const secret = "hunter2-very-secret"
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"no credential", map[string]string{}, "OPENCLAW_GATEWAY_TOKEN: no Gateway credential"},
		{"both forms", map[string]string{"OPENCLAW_GATEWAY_TOKEN": secret, "OPENCLAW_GATEWAY_TOKEN_FILE": "/x"}, "either OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_TOKEN_FILE"},
		{"missing file", map[string]string{"OPENCLAW_GATEWAY_TOKEN_FILE": "/nope"}, `OPENCLAW_GATEWAY_TOKEN_FILE: cannot read "/nope"`},
		{"bad url", map[string]string{"OPENCLAW_GATEWAY_TOKEN": secret, "OPENCLAW_GATEWAY_URL": "http://gw"}, "OPENCLAW_GATEWAY_URL"},
		{"bad listen", map[string]string{"OPENCLAW_GATEWAY_TOKEN": secret, "CLAWCHAT_LISTEN": "8080"}, "CLAWCHAT_LISTEN"},
		{"bad bool", map[string]string{"OPENCLAW_GATEWAY_TOKEN": secret, "CLAWCHAT_COOKIE_SECURE": "maybe"}, "CLAWCHAT_COOKIE_SECURE"},
		{"oidc incomplete", map[string]string{"OPENCLAW_GATEWAY_TOKEN": secret, "CLAWCHAT_OIDC_ISSUER": "https://idp.example"}, "CLAWCHAT_OIDC_CLIENT_ID"},
		{"oidc no allowlist", map[string]string{"OPENCLAW_GATEWAY_TOKEN": secret, "CLAWCHAT_OIDC_ISSUER": "https://idp.example", "CLAWCHAT_OIDC_CLIENT_ID": "c", "CLAWCHAT_OIDC_CLIENT_SECRET": secret, "CLAWCHAT_PUBLIC_URL": "https://chat.example"}, "nobody may sign in"},
		{"proxy auth without proxies", map[string]string{"OPENCLAW_GATEWAY_TOKEN": secret, "CLAWCHAT_PROXY_AUTH_HEADER": "Remote-User"}, "CLAWCHAT_TRUSTED_PROXIES"},
		{"vapid half", map[string]string{"OPENCLAW_GATEWAY_TOKEN": secret, "CLAWCHAT_VAPID_PUBLIC_KEY": "pub"}, "clawchat push keys"},
		{"bad cidr", map[string]string{"OPENCLAW_GATEWAY_TOKEN": secret, "CLAWCHAT_TRUSTED_PROXIES": "10.0.0.0/33"}, "CLAWCHAT_TRUSTED_PROXIES"},
		{"samesite none insecure", map[string]string{"OPENCLAW_GATEWAY_TOKEN": secret, "CLAWCHAT_COOKIE_SAMESITE": "none", "CLAWCHAT_COOKIE_SECURE": "false"}, "CLAWCHAT_COOKIE_SAMESITE"},
		{"database not postgres", map[string]string{"OPENCLAW_GATEWAY_TOKEN": secret, "CLAWCHAT_DATABASE_URL": "mysql://x"}, "CLAWCHAT_DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(envOf(tt.vars, nil))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load() error = %v, want *Error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks a secret: %q", err)
			}
		})
	}
}

func TestRedactedHidesSecrets(t *testing.T) {
	c, err := Load(envOf(map[string]string{
		"OPENCLAW_GATEWAY_TOKEN":         "gw-token-123",
		"CLAWCHAT_LOCAL_USERS":           "alice:pw-456",
		"CLAWCHAT_DATABASE_URL":          "postgres://u:db-pass-789@db/clawchat",
		"CLAWCHAT_OIDC_ISSUER":           "https://idp.example",
		"CLAWCHAT_OIDC_CLIENT_ID":        "c",
		"CLAWCHAT_OIDC_CLIENT_SECRET":    "oidc-secret-000",
		"CLAWCHAT_OIDC_ALLOWED_SUBJECTS": "alice",
		"CLAWCHAT_PUBLIC_URL":            "https://chat.example/",
		"CLAWCHAT_REDIS_URL":             "redis://:redis-pass-111@r:6379/0",
	}, nil))
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join(c.Redacted(), "\n")
	for _, s := range []string{"gw-token-123", "pw-456", "db-pass-789", "oidc-secret-000", "redis-pass-111"} {
		if strings.Contains(out, s) {
			t.Errorf("Redacted() leaks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "CLAWCHAT_OIDC_REDIRECT_URL=https://chat.example/auth/oidc/callback") {
		t.Errorf("redirect URL default missing:\n%s", out)
	}
}

// Regression (issue 16, item 8): passwords given as query parameters or in a libpq
// keyword/value string were printed by `clawchat config`.
func TestRedactedHidesQueryAndKeywordPasswords(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u@db/clawchat?password=q-pass-1&sslmode=require",
		"postgres://u@db/clawchat?sslmode=verify-full&sslpassword=q-pass-1",
		"postgres://u@db/clawchat?api_token=q-pass-1",
	} {
		c, err := Load(envOf(map[string]string{
			"OPENCLAW_GATEWAY_TOKEN": "t",
			"CLAWCHAT_DATABASE_URL":  dsn,
		}, nil))
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		out := strings.Join(c.Redacted(), "\n")
		if strings.Contains(out, "q-pass-1") || strings.Contains(out, "pass-1") {
			t.Errorf("Redacted() leaks the password of %q:\n%s", dsn, out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("Redacted() of %q does not say REDACTED", dsn)
		}
	}
	for _, dsn := range []string{"host=db user=u password=q-pass-1 dbname=clawchat", "host=db password='q pass-1 x' dbname=c"} {
		if got := redactURL(dsn); strings.Contains(got, "pass-1") || !strings.Contains(got, "dbname=c") {
			t.Errorf("redactURL(%q) = %q", dsn, got)
		}
	}
	for in, want := range map[string]string{
		"postgres://u@db/x?sslmode=require": "postgres://u@db/x?sslmode=require",
		"host=db dbname=x":                  "host=db dbname=x",
		"/var/lib/clawchat/clawchat.db":     "/var/lib/clawchat/clawchat.db",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want it unchanged", in, got)
		}
	}
}

// Issue 16, item 1: CLAWCHAT_OIDC_ALLOWED_USERS matched preferred_username; a configuration that
// still sets it must not start with a silently different meaning.
func TestOIDCAllowedUsersRefused(t *testing.T) {
	base := map[string]string{
		"OPENCLAW_GATEWAY_TOKEN":      "t",
		"CLAWCHAT_PUBLIC_URL":         "https://chat.example",
		"CLAWCHAT_OIDC_ISSUER":        "https://idp.example",
		"CLAWCHAT_OIDC_CLIENT_ID":     "c",
		"CLAWCHAT_OIDC_CLIENT_SECRET": "s",
	}
	env := map[string]string{"CLAWCHAT_OIDC_ALLOWED_USERS": "alice"}
	for k, v := range base {
		env[k] = v
	}
	_, err := Load(envOf(env, nil))
	if err == nil || !strings.Contains(err.Error(), "CLAWCHAT_OIDC_ALLOWED_USERS") || !strings.Contains(err.Error(), "CLAWCHAT_OIDC_ALLOWED_SUBJECTS") {
		t.Fatalf("Load with CLAWCHAT_OIDC_ALLOWED_USERS: %v, want a refusal naming the replacement", err)
	}
	env = map[string]string{"CLAWCHAT_OIDC_OWNER_SUBJECTS": "sub-1", "CLAWCHAT_OIDC_OWNER_EMAILS": "boss@example.com"}
	for k, v := range base {
		env[k] = v
	}
	c, err := Load(envOf(env, nil))
	if err != nil {
		t.Fatalf("owner subjects/e-mails as the only allowlist: %v", err)
	}
	if len(c.Auth.OIDC.OwnerSubjects) != 1 || len(c.Auth.OIDC.OwnerEmails) != 1 {
		t.Fatalf("owner lists not loaded: %+v", c.Auth.OIDC)
	}
}

func TestMemberPermissionMode(t *testing.T) {
	load := func(vars map[string]string) (Config, error) {
		vars["OPENCLAW_GATEWAY_TOKEN"] = "tok"
		return Load(envOf(vars, nil))
	}
	c, err := load(map[string]string{})
	if err != nil || c.Chat.MemberPermissionMode != "read-only" || c.Chat.MemberWebSearch || !c.Gateway.Admin {
		t.Fatalf("defaults: %+v %v", c.Chat, err)
	}
	if c, _ := load(map[string]string{"CLAWCHAT_GATEWAY_APPROVALS": "true"}); c.Chat.MemberPermissionMode != "guarded" {
		t.Errorf("with approvals: %q, want guarded", c.Chat.MemberPermissionMode)
	}
	c, err = load(map[string]string{"CLAWCHAT_AGENT_MEMBER_PERMISSION_MODES": "Research=workspace, main=read-only"})
	if err != nil || c.Chat.AgentMemberPermissionModes["research"] != "workspace" || c.Chat.AgentMemberPermissionModes["main"] != "read-only" {
		t.Errorf("per agent: %v %v", c.Chat.AgentMemberPermissionModes, err)
	}
	for _, bad := range []map[string]string{
		{"CLAWCHAT_MEMBER_PERMISSION_MODE": "full"},
		{"CLAWCHAT_MEMBER_PERMISSION_MODE": "admin"},
		{"CLAWCHAT_AGENT_MEMBER_PERMISSION_MODES": "main=full"},
		{"CLAWCHAT_AGENT_MEMBER_PERMISSION_MODES": "main"},
	} {
		var name string
		for k := range bad {
			name = k
		}
		_, err := load(bad)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: err = %v, want one naming %s", bad, err, name)
		}
	}
	c, err = load(map[string]string{"CLAWCHAT_MEMBER_PERMISSION_MODE": "full", "CLAWCHAT_MEMBER_ALLOW_FULL": "true"})
	if err != nil || c.Chat.MemberPermissionMode != "full" {
		t.Errorf("full with opt-in: %v", err)
	}
}

// Regression: docs/scaling.md and the Kubernetes manifests tell operators to mount the database
// URL (it holds a password) as CLAWCHAT_DATABASE_URL_FILE, which Load ignored.
func TestDatabaseURLFile(t *testing.T) {
	const dsn = "postgres://clawchat:db-pass@db:5432/clawchat"
	env := envOf(map[string]string{
		"OPENCLAW_GATEWAY_TOKEN":     "tok",
		"CLAWCHAT_DATABASE_URL_FILE": "/run/secrets/clawchat/database-url",
	}, map[string]string{"/run/secrets/clawchat/database-url": dsn + "\n"})
	c, err := Load(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != dsn {
		t.Errorf("DatabaseURL = %q, want the file's content %q", c.DatabaseURL, dsn)
	}
	if u, err := DatabaseURL(env); err != nil || u != dsn {
		t.Errorf("DatabaseURL(env) = %q, %v; want %q", u, err, dsn)
	}
	both := envOf(map[string]string{"CLAWCHAT_DATABASE_URL": dsn, "CLAWCHAT_DATABASE_URL_FILE": "/x"}, nil)
	if _, err := DatabaseURL(both); err == nil || !strings.Contains(err.Error(), "CLAWCHAT_DATABASE_URL_FILE") {
		t.Errorf("both forms set: err = %v", err)
	}
}

// Regression: the Redis URL holds a password, but only CLAWCHAT_REDIS_URL was read, so it could
// not come from a mounted secret file.
func TestRedisURLFile(t *testing.T) {
	const u = "redis://:redis-pass-111@r:6379/0"
	env := envOf(map[string]string{
		"OPENCLAW_GATEWAY_TOKEN":  "tok",
		"CLAWCHAT_REDIS_URL_FILE": "/run/secrets/clawchat/redis-url",
	}, map[string]string{"/run/secrets/clawchat/redis-url": u + "\n"})
	c, err := Load(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisURL != u || c.Auth.SessionStore != "redis" {
		t.Errorf("RedisURL = %q, session store %q; want the file's content %q and redis", c.RedisURL, c.Auth.SessionStore, u)
	}
	if got, err := RedisURL(env); err != nil || got != u {
		t.Errorf("RedisURL(env) = %q, %v; want %q", got, err, u)
	}
	if got, err := RedisURL(envOf(map[string]string{"REDIS_URL": u}, nil)); err != nil || got != u {
		t.Errorf("RedisURL with miso-chat's REDIS_URL = %q, %v; want %q", got, err, u)
	}
	both := envOf(map[string]string{"CLAWCHAT_REDIS_URL": u, "CLAWCHAT_REDIS_URL_FILE": "/x"}, nil)
	if _, err := RedisURL(both); err == nil || !strings.Contains(err.Error(), "CLAWCHAT_REDIS_URL_FILE") {
		t.Errorf("both forms set: err = %v", err)
	}
	if _, err := RedisURL(envOf(map[string]string{"CLAWCHAT_REDIS_URL_FILE": "/missing"}, nil)); err == nil || strings.Contains(err.Error(), "redis-pass") {
		t.Errorf("unreadable file: err = %v", err)
	}
}

// `clawchat config` prints the effective configuration: every variable Load reads is in it
// (the _FILE forms under their plain names; miso-chat's names and the refused
// CLAWCHAT_OIDC_ALLOWED_USERS aside).
func TestRedactedListsEveryVariable(t *testing.T) {
	vars := map[string]string{
		"OPENCLAW_GATEWAY_TOKEN":           "tok",
		"CLAWCHAT_PUBLIC_URL":              "https://chat.example.com",
		"CLAWCHAT_EMBED_APPS":              "compose",
		"CLAWCHAT_EMBED_COMPOSE_ORIGINS":   "https://docs.example.com",
		"CLAWCHAT_EMBED_COMPOSE_JWKS_URL":  "https://docs.example.com/jwks.json",
		"CLAWCHAT_PROXY_AUTH_HEADER":       "Remote-User",
		"CLAWCHAT_TRUSTED_PROXIES":         "10.0.0.0/8",
		"CLAWCHAT_PROXY_AUTH_EMAIL_HEADER": "Remote-Email",
	}
	read := map[string]bool{}
	env := envOf(vars, nil)
	get := env.Getenv
	env.Getenv = func(k string) string { read[k] = true; return get(k) }
	c, err := Load(env)
	if err != nil {
		t.Fatal(err)
	}
	printed := map[string]bool{}
	for _, line := range c.Redacted() {
		k, _, _ := strings.Cut(line, "=")
		printed[k] = true
	}
	for k := range read {
		if (!strings.HasPrefix(k, "CLAWCHAT_") && !strings.HasPrefix(k, "OPENCLAW_")) || k == "CLAWCHAT_OIDC_ALLOWED_USERS" {
			continue
		}
		if !printed[k] && !printed[strings.TrimSuffix(k, "_FILE")] {
			t.Errorf("Load reads %s but Redacted (clawchat config) does not print it", k)
		}
	}
}
