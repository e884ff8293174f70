package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Defaults for Config. Idle 7 days: the app is a PWA people open a few times a week on their
// phones, and being signed out after a quiet weekend would push them to weaker habits; the session
// is server-side and revocable (logout, password change, `clawchat user del`), so a stolen cookie
// can be killed at once. Absolute 30 days bounds how long any one cookie can live regardless.
const (
	DefaultSessionIdle     = 7 * 24 * time.Hour
	DefaultSessionAbsolute = 30 * 24 * time.Hour
	DefaultAccountFailures = 10
	DefaultIPFailures      = 20
	DefaultThrottleWindow  = 15 * time.Minute
	DefaultMaxLockout      = 24 * time.Hour
	// SessionCookie is the name of the session cookie.
	SessionCookie = "clawchat_session"
	// oidcCookie binds a pending OIDC login to the browser that started it.
	oidcCookie = "clawchat_oidc"
	// touchEvery is how often a session's LastSeenAt is written at most.
	touchEvery = time.Minute
)

// Config configures the auth Service. internal/app fills it from internal/config; the
// environment variables behind the fields are in brackets (none: not configurable). The zero value is a valid local-password-only configuration with
// secure cookies.
type Config struct {
	// DisableLocal turns off username/password sign-in [none].
	DisableLocal bool
	// SessionIdle is the idle timeout (default 7 days) [CLAWCHAT_SESSION_IDLE_TIMEOUT].
	SessionIdle time.Duration
	// SessionAbsolute is the absolute session lifetime (default 30 days) [CLAWCHAT_SESSION_MAX_AGE].
	SessionAbsolute time.Duration
	// CookieInsecure drops the Secure flag, for plain-http localhost only [CLAWCHAT_COOKIE_SECURE=false].
	CookieInsecure bool
	// CookieSameSite is "lax" (default), "strict" or "none" (needs Secure) [CLAWCHAT_COOKIE_SAMESITE].
	// Strict breaks the OIDC callback (a cross-site top-level GET) and links opened from mail.
	CookieSameSite string
	// TrustedProxies are reverse proxies whose X-Forwarded-For/-Proto are believed (client IP for
	// throttling and audit) [CLAWCHAT_TRUSTED_PROXIES].
	TrustedProxies []netip.Prefix
	// Owners are usernames that get the owner role when provisioned from the environment or a
	// trusted proxy [CLAWCHAT_OWNERS]. They never apply to OIDC sign-ins: an IdP user may be able
	// to choose their preferred_username (see OIDCConfig.OwnerSubjects and OwnerEmails).
	Owners []string
	// ProxyAuth is trusted-proxy sign-in (off unless Headers and CIDRs are both set).
	ProxyAuth ProxyAuthConfig
	// OIDC is OpenID Connect sign-in (off unless Issuer is set).
	OIDC OIDCConfig
	// Throttle limits failed sign-ins.
	Throttle ThrottleConfig
	// HashConcurrency bounds concurrent argon2id hashes (default 2) [none].
	HashConcurrency int
	// ManagedUsers are usernames whose password the configuration sets [CLAWCHAT_LOCAL_USERS]:
	// it is restored at every start, so they cannot change it in the app.
	ManagedUsers []string
}

// ProxyAuthConfig is sign-in by a header that an authenticating reverse proxy (Authelia,
// oauth2-proxy, Tailscale serve, …) sets. The header is only believed when the TCP peer (not
// X-Forwarded-For) is in CIDRs; the proxy must strip the header from client requests.
type ProxyAuthConfig struct {
	// Headers are checked in order; the first non-empty one names the user, e.g. Remote-User,
	// X-Forwarded-User, Tailscale-User-Login, X-Forwarded-Email [CLAWCHAT_PROXY_AUTH_HEADER, then
	// CLAWCHAT_PROXY_AUTH_EMAIL_HEADER].
	Headers []string
	// CIDRs are the proxies allowed to assert identities [CLAWCHAT_TRUSTED_PROXIES].
	CIDRs []netip.Prefix
	// NoProvision refuses unknown users instead of creating them as members.
	NoProvision bool
}

// Enabled reports whether trusted-proxy sign-in is configured.
func (p ProxyAuthConfig) Enabled() bool { return len(p.Headers) > 0 && len(p.CIDRs) > 0 }

// OIDCConfig configures OpenID Connect sign-in (authorization code + PKCE).
type OIDCConfig struct {
	// Issuer is the issuer URL, discovered at start [CLAWCHAT_OIDC_ISSUER].
	Issuer string
	// ClientID and ClientSecret are the client credentials [CLAWCHAT_OIDC_CLIENT_ID,
	// CLAWCHAT_OIDC_CLIENT_SECRET(_FILE)]. The secret may be empty for a public client (PKCE).
	ClientID     string
	ClientSecret string
	// RedirectURL is https://<host>/auth/oidc/callback as registered at the IdP [CLAWCHAT_OIDC_REDIRECT_URL].
	RedirectURL string
	// PostLogoutRedirectURL is where the IdP sends the browser after end-session (default: the
	// origin of RedirectURL + "/") [none].
	PostLogoutRedirectURL string
	// Scopes default to openid, profile, email; add "groups" for IdPs that need it [CLAWCHAT_OIDC_SCOPES].
	Scopes []string
	// Label is the button text, e.g. "Authentik" [CLAWCHAT_OIDC_LABEL].
	Label string
	// AllowedSubjects (the ID token's sub at this issuer), AllowedEmails (exact address, or
	// "@example.com" for a domain; only verified e-mails count) and AllowedGroups decide who may
	// sign in. With none set nobody can [CLAWCHAT_OIDC_ALLOWED_SUBJECTS, _EMAILS, _GROUPS].
	// Nothing is ever matched against preferred_username or another name claim: they are not
	// unique and often chosen by the user.
	AllowedSubjects []string
	AllowedEmails   []string
	AllowedGroups   []string
	// GroupsClaim names the ID-token claim holding groups (default "groups") [CLAWCHAT_OIDC_GROUPS_CLAIM].
	GroupsClaim string
	// OwnerSubjects, OwnerEmails (verified, exact addresses) and OwnerGroups map to the owner role.
	// When any is set, the role is recomputed from the claims at every sign-in
	// [CLAWCHAT_OIDC_OWNER_SUBJECTS, _EMAILS, _GROUPS].
	OwnerSubjects []string
	OwnerEmails   []string
	OwnerGroups   []string
	// UsernameClaim is the claim used for the new account's username, a display handle only
	// (default preferred_username, then email). It grants nothing.
	UsernameClaim string
}

// Enabled reports whether OIDC is configured.
func (o OIDCConfig) Enabled() bool { return o.Issuer != "" }

// ownerRules reports whether any OIDC owner rule is configured.
func (o OIDCConfig) ownerRules() bool {
	return len(o.OwnerSubjects)+len(o.OwnerEmails)+len(o.OwnerGroups) > 0
}

// ThrottleConfig limits failed sign-ins per account name and per client IP. Exceeding either
// answers 429 with Retry-After; repeated lockouts double in length up to MaxLockout.
type ThrottleConfig struct {
	AccountFailures int           // default 10; negative disables [CLAWCHAT_LOGIN_MAX_FAILURES_ACCOUNT]
	IPFailures      int           // default 20; negative disables [CLAWCHAT_LOGIN_MAX_FAILURES_IP]
	Window          time.Duration // default 15 min [none]
	MaxLockout      time.Duration // default 24 h
}

func (c Config) withDefaults() Config {
	if c.SessionIdle <= 0 {
		c.SessionIdle = DefaultSessionIdle
	}
	if c.SessionAbsolute <= 0 {
		c.SessionAbsolute = DefaultSessionAbsolute
	}
	if c.CookieSameSite == "" {
		c.CookieSameSite = "lax"
	}
	if c.Throttle.AccountFailures == 0 {
		c.Throttle.AccountFailures = DefaultAccountFailures
	}
	if c.Throttle.IPFailures == 0 {
		c.Throttle.IPFailures = DefaultIPFailures
	}
	if c.Throttle.Window <= 0 {
		c.Throttle.Window = DefaultThrottleWindow
	}
	if c.Throttle.MaxLockout <= 0 {
		c.Throttle.MaxLockout = DefaultMaxLockout
	}
	if c.OIDC.GroupsClaim == "" {
		c.OIDC.GroupsClaim = "groups"
	}
	if len(c.OIDC.Scopes) == 0 {
		c.OIDC.Scopes = []string{"openid", "profile", "email"}
	}
	if c.OIDC.Label == "" {
		c.OIDC.Label = "Single sign-on"
	}
	for i, o := range c.Owners {
		c.Owners[i] = NormalizeUsername(o)
	}
	return c
}

// Validate reports configuration mistakes with messages that name the setting to fix.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.SessionIdle > c.SessionAbsolute {
		errs = append(errs, errors.New("session idle timeout longer than the absolute lifetime (CLAWCHAT_SESSION_IDLE_TIMEOUT > CLAWCHAT_SESSION_MAX_AGE)"))
	}
	ss, err := parseSameSite(c.CookieSameSite)
	if err != nil {
		errs = append(errs, err)
	} else if ss == http.SameSiteNoneMode && c.CookieInsecure {
		errs = append(errs, errors.New("CLAWCHAT_COOKIE_SAMESITE=none needs secure cookies (CLAWCHAT_COOKIE_SECURE=true)"))
	}
	if (len(c.ProxyAuth.Headers) > 0) != (len(c.ProxyAuth.CIDRs) > 0) {
		errs = append(errs, errors.New("trusted-proxy sign-in needs both CLAWCHAT_PROXY_AUTH_HEADER and CLAWCHAT_TRUSTED_PROXIES"))
	}
	if c.OIDC.Enabled() {
		o := c.OIDC
		if o.ClientID == "" {
			errs = append(errs, errors.New("CLAWCHAT_OIDC_ISSUER is set but CLAWCHAT_OIDC_CLIENT_ID is empty"))
		}
		if u, err := url.Parse(o.RedirectURL); o.RedirectURL == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			errs = append(errs, fmt.Errorf("CLAWCHAT_OIDC_REDIRECT_URL must be an absolute URL ending in /auth/oidc/callback, got %q", o.RedirectURL))
		} else if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
			errs = append(errs, errors.New("CLAWCHAT_OIDC_REDIRECT_URL must use https (http only for localhost)"))
		}
		if u, err := url.Parse(o.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
			errs = append(errs, fmt.Errorf("CLAWCHAT_OIDC_ISSUER must be an https URL, got %q", o.Issuer))
		}
	}
	if c.DisableLocal && !c.OIDC.Enabled() && !c.ProxyAuth.Enabled() {
		errs = append(errs, errors.New("no sign-in method left: local sign-in disabled and neither OIDC nor trusted-proxy sign-in configured"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("auth: %w", errors.Join(errs...))
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

func parseSameSite(s string) (http.SameSite, error) {
	switch strings.ToLower(s) {
	case "", "lax":
		return http.SameSiteLaxMode, nil
	case "strict":
		return http.SameSiteStrictMode, nil
	case "none":
		return http.SameSiteNoneMode, nil
	}
	return 0, fmt.Errorf("CLAWCHAT_COOKIE_SAMESITE must be lax, strict or none, got %q", s)
}

// SplitList splits a comma/whitespace-separated environment value into trimmed, non-empty items.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
}
