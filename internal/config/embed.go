package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Embed configures embedding in host apps (docs/embed.md). Enabled when Apps is not empty.
type Embed struct {
	// Audience is the aud host tokens must carry (CLAWCHAT_EMBED_AUDIENCE; default
	// CLAWCHAT_PUBLIC_URL, which is then required).
	Audience    string
	SessionTTL  time.Duration // CLAWCHAT_EMBED_SESSION_TTL (default 1h)
	MaxLifetime time.Duration // CLAWCHAT_EMBED_TOKEN_MAX_LIFETIME (default 15m): exp at most this far away
	Apps        []EmbedApp    // CLAWCHAT_EMBED_APPS=id,id and CLAWCHAT_EMBED_<ID>_* per app
}

// EmbedApp is one host app. Exactly one of KeyData, Secret and JWKSURL is set.
type EmbedApp struct {
	ID      string
	Env     string   // the variable prefix, CLAWCHAT_EMBED_<ID>_ (for error messages)
	Origins []string // _ORIGINS: the origins allowed to frame /embed (https://docs.example.com)
	KeyData string   // _KEY_FILE: PEM public keys or a JWK/JWK Set (read from the file)
	KeyFile string   // the path of KeyData
	Secret  string   // _SECRET(_FILE): HS256 shared secret; secret
	JWKSURL string   // _JWKS_URL
	// RequestsPerMinute (_REQUESTS_PER_MINUTE, default 600) limits the app's token exchanges and
	// its sessions' API requests together, per instance.
	RequestsPerMinute int
	// Context limits in bytes (_MAX_TITLE_BYTES, _MAX_OUTLINE_BYTES, _MAX_SECTION_BYTES,
	// _MAX_SELECTION_BYTES, _MAX_CONTEXT_BYTES); 0 = the default (docs/embed.md).
	MaxTitle, MaxOutline, MaxSection, MaxSelection, MaxContext int
}

// Enabled reports whether any host app is configured.
func (e Embed) Enabled() bool { return len(e.Apps) > 0 }

var embedAppIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// EmbedEnvPrefix returns the variable prefix of host app id: CLAWCHAT_EMBED_<ID>_ with the id
// upper-cased and - turned into _.
func EmbedEnvPrefix(id string) string {
	return "CLAWCHAT_EMBED_" + strings.ToUpper(strings.ReplaceAll(id, "-", "_")) + "_"
}

func (l *loader) embed(c *Config) {
	ids := l.list("CLAWCHAT_EMBED_APPS")
	c.Embed.SessionTTL = l.duration("CLAWCHAT_EMBED_SESSION_TTL", time.Hour)
	c.Embed.MaxLifetime = l.duration("CLAWCHAT_EMBED_TOKEN_MAX_LIFETIME", 15*time.Minute)
	c.Embed.Audience = l.str("CLAWCHAT_EMBED_AUDIENCE", "")
	if len(ids) == 0 {
		return
	}
	if c.Embed.Audience == "" {
		if c.PublicURL == nil {
			l.fail("CLAWCHAT_EMBED_AUDIENCE", "embedding (CLAWCHAT_EMBED_APPS) needs the aud value host tokens carry: set CLAWCHAT_EMBED_AUDIENCE or CLAWCHAT_PUBLIC_URL (example: https://chat.example.com)")
		} else {
			c.Embed.Audience = c.PublicURL.String()
		}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !embedAppIDRe.MatchString(id) {
			l.fail("CLAWCHAT_EMBED_APPS", "%q is not a host app id: 1–32 characters of [a-z0-9-], starting with a letter or digit", id)
			continue
		}
		if seen[id] {
			l.fail("CLAWCHAT_EMBED_APPS", "%q is listed twice", id)
			continue
		}
		seen[id] = true
		p := EmbedEnvPrefix(id)
		a := EmbedApp{ID: id, Env: p}
		for _, o := range l.list(p + "ORIGINS") {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
				l.fail(p+"ORIGINS", "%q is not an origin (example: https://docs.example.com)", o)
				continue
			}
			a.Origins = append(a.Origins, u.Scheme+"://"+u.Host)
		}
		if len(a.Origins) == 0 {
			l.fail(p+"ORIGINS", "required: the origins of host app %s's pages that may frame clawchat (example: https://docs.example.com)", id)
		}
		a.KeyFile = strings.TrimSpace(l.env.Getenv(p + "KEY_FILE"))
		if a.KeyFile != "" {
			if l.env.ReadFile == nil {
				l.fail(p+"KEY_FILE", "reading key files is not available")
			} else if b, err := l.env.ReadFile(a.KeyFile); err != nil {
				l.fail(p+"KEY_FILE", "cannot read %q: %v", a.KeyFile, err)
			} else {
				a.KeyData = string(b)
			}
		}
		a.Secret, _ = l.secret(p + "SECRET")
		a.JWKSURL = l.str(p+"JWKS_URL", "")
		n := 0
		for _, set := range []bool{a.KeyFile != "", a.Secret != "", a.JWKSURL != ""} {
			if set {
				n++
			}
		}
		switch {
		case n == 0:
			l.fail(p+"KEY_FILE", "host app %s needs a way to verify its tokens: set one of %sKEY_FILE (PEM public key or JWK Set), %sJWKS_URL or %sSECRET(_FILE) (HS256)", id, p, p, p)
		case n > 1:
			l.fail(p+"KEY_FILE", "set only one of %sKEY_FILE, %sJWKS_URL and %sSECRET(_FILE)", p, p, p)
		}
		if a.Secret != "" && len(a.Secret) < 32 {
			l.fail(p+"SECRET", "an HS256 secret must be at least 32 bytes (generate one with: openssl rand -base64 48)")
		}
		a.RequestsPerMinute = l.integer(p+"REQUESTS_PER_MINUTE", 600, 0)
		a.MaxTitle = l.integer(p+"MAX_TITLE_BYTES", 0, 0)
		a.MaxOutline = l.integer(p+"MAX_OUTLINE_BYTES", 0, 0)
		a.MaxSection = l.integer(p+"MAX_SECTION_BYTES", 0, 0)
		a.MaxSelection = l.integer(p+"MAX_SELECTION_BYTES", 0, 0)
		a.MaxContext = l.integer(p+"MAX_CONTEXT_BYTES", 0, 0)
		c.Embed.Apps = append(c.Embed.Apps, a)
	}
}

// embedRedacted adds the embedding settings to Redacted's map.
func (c Config) embedRedacted(m map[string]string) {
	ids := make([]string, len(c.Embed.Apps))
	for i, a := range c.Embed.Apps {
		ids[i] = a.ID
		p := a.Env
		m[p+"ORIGINS"] = strings.Join(a.Origins, ",")
		m[p+"KEY_FILE"] = a.KeyFile
		m[p+"JWKS_URL"] = a.JWKSURL
		if a.Secret != "" {
			m[p+"SECRET"] = "(set, redacted)"
		} else {
			m[p+"SECRET"] = "(unset)"
		}
		m[p+"REQUESTS_PER_MINUTE"] = strconv.Itoa(a.RequestsPerMinute)
		m[p+"MAX_TITLE_BYTES"] = fmt.Sprint(a.MaxTitle)
		m[p+"MAX_OUTLINE_BYTES"] = fmt.Sprint(a.MaxOutline)
		m[p+"MAX_SECTION_BYTES"] = fmt.Sprint(a.MaxSection)
		m[p+"MAX_SELECTION_BYTES"] = fmt.Sprint(a.MaxSelection)
		m[p+"MAX_CONTEXT_BYTES"] = fmt.Sprint(a.MaxContext)
	}
	m["CLAWCHAT_EMBED_APPS"] = strings.Join(ids, ",")
	m["CLAWCHAT_EMBED_AUDIENCE"] = c.Embed.Audience
	m["CLAWCHAT_EMBED_SESSION_TTL"] = c.Embed.SessionTTL.String()
	m["CLAWCHAT_EMBED_TOKEN_MAX_LIFETIME"] = c.Embed.MaxLifetime.String()
}
