package config

import (
	"slices"
	"strings"
	"testing"
)

// TestMisoChatAliases: miso-chat's variables configure clawchat when clawchat's are unset, each
// with a one-line notice naming the clawchat variable; clawchat's own names win; SESSION_SECRET
// is accepted and ignored. No notice carries a value (several are secrets).
func TestMisoChatAliases(t *testing.T) {
	const secret = "miso-gateway-token-secret"
	vars := map[string]string{
		"GATEWAY_URL":                  "https://gw.example.com:18789",
		"GATEWAY_TOKEN":                secret,
		"PORT":                         "3000",
		"LOCAL_USERS":                  "admin:correct-horse-battery",
		"SESSION_COOKIE_SAMESITE":      "strict",
		"SESSION_COOKIE_SECURE":        "false",
		"CSRF_TRUSTED_ORIGINS":         "https://app.example.com",
		"REDIS_URL":                    "redis://r:6379/0",
		"PUSH_VAPID_PUBLIC_KEY":        "pub",
		"PUSH_VAPID_PRIVATE_KEY":       "priv-secret",
		"PUSH_VAPID_SUBJECT":           "mailto:ops@example.com",
		"OIDC_PROVIDER_URL":            "https://auth.example.com/application/o/miso/.well-known/openid-configuration",
		"OIDC_CLIENT_ID":               "miso",
		"OIDC_CLIENT_SECRET":           "oidc-secret",
		"OIDC_CALLBACK_URL":            "https://chat.example.com/auth/oidc/callback",
		"OIDC_ISSUER_LABEL":            "Authentik",
		"OIDC_ENABLED":                 "true",
		"SESSION_SECRET":               "a-long-session-secret-that-clawchat-does-not-need",
		"CLAWCHAT_OIDC_ALLOWED_GROUPS": "chat",
	}
	c, err := Load(envOf(vars, nil))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"gateway url":   {c.Gateway.URL, "wss://gw.example.com:18789"},
		"gateway token": {c.Gateway.Token, secret},
		"listen":        {c.Listen, ":3000"},
		"local users":   {c.Auth.LocalUsers, "admin:correct-horse-battery"},
		"samesite":      {c.Auth.CookieSameSite, "strict"},
		"redis":         {c.RedisURL, "redis://r:6379/0"},
		"vapid public":  {c.Push.PublicKey, "pub"},
		"vapid private": {c.Push.PrivateKey, "priv-secret"},
		"vapid subject": {c.Push.Subject, "mailto:ops@example.com"},
		"oidc issuer":   {c.Auth.OIDC.Issuer, "https://auth.example.com/application/o/miso/"},
		"oidc client":   {c.Auth.OIDC.ClientID, "miso"},
		"oidc secret":   {c.Auth.OIDC.ClientSecret, "oidc-secret"},
		"oidc redirect": {c.Auth.OIDC.RedirectURL, "https://chat.example.com/auth/oidc/callback"},
		"oidc label":    {c.Auth.OIDC.Label, "Authentik"},
	}
	for name, got := range checks {
		if got[0] != got[1] {
			t.Errorf("%s = %q, want %q", name, got[0], got[1])
		}
	}
	if c.Auth.CookieSecure {
		t.Error("SESSION_COOKIE_SECURE=false not applied")
	}
	if !slices.Equal(c.TrustedOrigins, []string{"https://app.example.com"}) {
		t.Errorf("trusted origins = %v", c.TrustedOrigins)
	}
	want := []string{
		"GATEWAY_URL is deprecated (a miso-chat name): use OPENCLAW_GATEWAY_URL instead",
		"SESSION_SECRET (a miso-chat name) is accepted and ignored: clawchat's session tokens are random and stored hashed, so no signing secret is needed",
		"OIDC_ENABLED (a miso-chat name) is accepted and ignored: OIDC is on when CLAWCHAT_OIDC_ISSUER is set",
	}
	for _, w := range want {
		if !slices.Contains(c.Notices, w) {
			t.Errorf("missing notice %q in %q", w, c.Notices)
		}
	}
	if len(c.Notices) != 18 {
		t.Errorf("%d notices, want one per miso-chat variable (18): %q", len(c.Notices), c.Notices)
	}
	for _, n := range c.Notices {
		if strings.Contains(n, "\n") || strings.Contains(n, secret) || strings.Contains(n, "secret\"") || strings.Contains(n, "priv-secret") {
			t.Errorf("notice %q is not one clean line", n)
		}
	}

	// clawchat's own name wins; the miso-chat one is reported as ignored.
	c, err = Load(envOf(map[string]string{"OPENCLAW_GATEWAY_TOKEN": "tok", "OPENCLAW_GATEWAY_URL": "ws://127.0.0.1:1", "GATEWAY_WS_URL": "ws://other:2"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway.URL != "ws://127.0.0.1:1" || len(c.Notices) != 1 || !strings.Contains(c.Notices[0], "GATEWAY_WS_URL (a miso-chat name) is ignored because OPENCLAW_GATEWAY_URL is set") {
		t.Errorf("url %q, notices %q", c.Gateway.URL, c.Notices)
	}
	// Problems in an aliased value name clawchat's variable, which the notice maps.
	_, err = Load(envOf(map[string]string{"OPENCLAW_GATEWAY_TOKEN": "tok", "SESSION_COOKIE_SAMESITE": "sideways"}, nil))
	if err == nil || !strings.Contains(err.Error(), "CLAWCHAT_COOKIE_SAMESITE") {
		t.Errorf("bad aliased value: %v", err)
	}
}
