package config

import (
	"strings"
	"testing"
)

func TestLoadEmbed(t *testing.T) {
	c, err := Load(envOf(map[string]string{
		"CLAWCHAT_PUBLIC_URL":                      "https://chat.example.com",
		"OPENCLAW_GATEWAY_TOKEN":                   "tok",
		"CLAWCHAT_EMBED_APPS":                      "compose,team-wiki",
		"CLAWCHAT_EMBED_COMPOSE_ORIGINS":           "https://docs.example.com, https://docs2.example.com/",
		"CLAWCHAT_EMBED_COMPOSE_KEY_FILE":          "/keys/compose.pub",
		"CLAWCHAT_EMBED_COMPOSE_MAX_CONTEXT_BYTES": "1000",
		"CLAWCHAT_EMBED_TEAM_WIKI_ORIGINS":         "https://wiki.example.com",
		"CLAWCHAT_EMBED_TEAM_WIKI_SECRET_FILE":     "/run/secrets/wiki",
	}, map[string]string{"/keys/compose.pub": "-----BEGIN PUBLIC KEY-----\n…", "/run/secrets/wiki": strings.Repeat("s", 40) + "\n"}))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Embed
	if e.Audience != "https://chat.example.com" || len(e.Apps) != 2 || e.SessionTTL.String() != "1h0m0s" {
		t.Fatalf("embed = %+v", e)
	}
	a, w := e.Apps[0], e.Apps[1]
	if a.ID != "compose" || len(a.Origins) != 2 || a.Origins[1] != "https://docs2.example.com" || !strings.HasPrefix(a.KeyData, "-----BEGIN") || a.MaxContext != 1000 || a.RequestsPerMinute != 600 {
		t.Errorf("compose = %+v", a)
	}
	if w.ID != "team-wiki" || w.Env != "CLAWCHAT_EMBED_TEAM_WIKI_" || w.Secret != strings.Repeat("s", 40) {
		t.Errorf("team-wiki = %+v", w)
	}
	for _, line := range c.Redacted() {
		if strings.Contains(line, "sssss") {
			t.Errorf("Redacted shows the secret: %s", line)
		}
	}
}

func TestLoadEmbedProblems(t *testing.T) {
	_, err := Load(envOf(map[string]string{
		"CLAWCHAT_EMBED_APPS":             "compose,Bad_Id,other,short",
		"CLAWCHAT_EMBED_COMPOSE_ORIGINS":  "https://docs.example.com/path",
		"CLAWCHAT_EMBED_COMPOSE_KEY_FILE": "/missing",
		"CLAWCHAT_EMBED_COMPOSE_SECRET":   strings.Repeat("x", 40),
		"CLAWCHAT_EMBED_OTHER_ORIGINS":    "https://o.example.com",
		"CLAWCHAT_EMBED_SHORT_ORIGINS":    "https://s.example.com",
		"CLAWCHAT_EMBED_SHORT_SECRET":     "too-short",
	}, nil))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"CLAWCHAT_EMBED_AUDIENCE: embedding (CLAWCHAT_EMBED_APPS) needs",
		`CLAWCHAT_EMBED_APPS: "Bad_Id" is not a host app id`,
		`CLAWCHAT_EMBED_COMPOSE_ORIGINS: "https://docs.example.com/path" is not an origin`,
		`CLAWCHAT_EMBED_COMPOSE_KEY_FILE: cannot read "/missing"`,
		"CLAWCHAT_EMBED_COMPOSE_KEY_FILE: set only one of",
		"CLAWCHAT_EMBED_OTHER_KEY_FILE: host app other needs a way to verify its tokens",
		"CLAWCHAT_EMBED_SHORT_SECRET: an HS256 secret must be at least 32 bytes",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
