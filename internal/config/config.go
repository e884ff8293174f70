// Package config turns environment variables into clawchat's typed configuration.
//
// Every setting has one variable. clawchat's own settings are named CLAWCHAT_*; the Gateway
// target uses OpenClaw's own names (OPENCLAW_GATEWAY_URL, OPENCLAW_GATEWAY_TOKEN,
// OPENCLAW_GATEWAY_PASSWORD). Every secret may instead be given as <NAME>_FILE, the path of a file
// holding it (Docker and Kubernetes secrets); a trailing newline is trimmed.
//
// miso-chat's variables are accepted in place of unset clawchat ones (miso.go), each with a
// one-line notice in Config.Notices.
//
// Load collects every problem at once and reports each with the variable's name, what is wrong and
// how to fix it, so a bad deployment fails fast with one readable message. The package has no
// state: callers pass the environment in.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration. Sub-structs go to the packages that own them.
type Config struct {
	Listen          string        // CLAWCHAT_LISTEN, host:port
	DataDir         string        // CLAWCHAT_DATA_DIR
	DatabaseURL     string        // CLAWCHAT_DATABASE_URL(_FILE); empty → SQLite in DataDir; secret
	PublicURL       *url.URL      // CLAWCHAT_PUBLIC_URL; nil when unset
	ShutdownTimeout time.Duration // CLAWCHAT_SHUTDOWN_TIMEOUT
	Log             Log
	Gateway         Gateway
	Auth            Auth
	Chat            Chat
	Push            Push
	Metrics         Metrics
	RedisURL        string         // CLAWCHAT_REDIS_URL(_FILE) (or miso-chat's REDIS_URL); secret
	TrustedProxies  []netip.Prefix // CLAWCHAT_TRUSTED_PROXIES
	TrustedOrigins  []string       // CLAWCHAT_TRUSTED_ORIGINS
	Embed           Embed          // CLAWCHAT_EMBED_* (embed.go)
	// Notices are one-line deprecation notices for miso-chat variables that were used in place of
	// clawchat's (or ignored); the caller logs them at start (docs/migrate-from-miso.md).
	Notices []string
}

// Log configures logging.
type Log struct {
	Format string // CLAWCHAT_LOG_FORMAT: json | text | auto (text on a terminal)
	Level  string // CLAWCHAT_LOG_LEVEL: debug | info | warn | error
}

// Gateway is the OpenClaw Gateway target.
type Gateway struct {
	URL           string // OPENCLAW_GATEWAY_URL
	Token         string // OPENCLAW_GATEWAY_TOKEN(_FILE); secret
	Password      string // OPENCLAW_GATEWAY_PASSWORD(_FILE); secret
	AllowInsecure bool   // CLAWCHAT_GATEWAY_ALLOW_INSECURE: plaintext ws:// to a public host
	Approvals     bool   // CLAWCHAT_GATEWAY_APPROVALS: request operator.approvals
	Admin         bool   // CLAWCHAT_GATEWAY_ADMIN: request operator.admin (default true; members need it)
}

// Auth configures sign-in.
type Auth struct {
	LocalUsers      string        // CLAWCHAT_LOCAL_USERS(_FILE); secret (holds passwords)
	LocalUsersFile  bool          // true when LocalUsers came from the _FILE form (one user:pass per line)
	Owners          []string      // CLAWCHAT_OWNERS
	CookieSecure    bool          // CLAWCHAT_COOKIE_SECURE (default true)
	CookieSameSite  string        // CLAWCHAT_COOKIE_SAMESITE: lax | strict | none
	SessionIdle     time.Duration // CLAWCHAT_SESSION_IDLE_TIMEOUT
	SessionMaxAge   time.Duration // CLAWCHAT_SESSION_MAX_AGE
	SessionStore    string        // CLAWCHAT_SESSION_STORE: sql | redis | memory
	OIDC            OIDC
	ProxyHeader     string   // CLAWCHAT_PROXY_AUTH_HEADER, e.g. Remote-User; empty = off
	ProxyEmailHdr   string   // CLAWCHAT_PROXY_AUTH_EMAIL_HEADER
	ProxyOwners     []string // owners among proxy-authenticated users (CLAWCHAT_OWNERS applies)
	LoginMaxAccount int      // CLAWCHAT_LOGIN_MAX_FAILURES_ACCOUNT
	LoginMaxIP      int      // CLAWCHAT_LOGIN_MAX_FAILURES_IP
}

// OIDC configures OpenID Connect sign-in. Enabled when Issuer is set.
type OIDC struct {
	Issuer          string   // CLAWCHAT_OIDC_ISSUER
	ClientID        string   // CLAWCHAT_OIDC_CLIENT_ID
	ClientSecret    string   // CLAWCHAT_OIDC_CLIENT_SECRET(_FILE); secret
	RedirectURL     string   // CLAWCHAT_OIDC_REDIRECT_URL (default PUBLIC_URL/auth/oidc/callback)
	Scopes          []string // CLAWCHAT_OIDC_SCOPES (default openid profile email)
	Label           string   // CLAWCHAT_OIDC_LABEL, the button text ("Sign in with …")
	AllowedSubjects []string // CLAWCHAT_OIDC_ALLOWED_SUBJECTS (the sub claim at this issuer)
	AllowedEmails   []string // CLAWCHAT_OIDC_ALLOWED_EMAILS (verified addresses or @domain)
	AllowedGroups   []string // CLAWCHAT_OIDC_ALLOWED_GROUPS
	OwnerSubjects   []string // CLAWCHAT_OIDC_OWNER_SUBJECTS
	OwnerEmails     []string // CLAWCHAT_OIDC_OWNER_EMAILS (verified addresses)
	OwnerGroups     []string // CLAWCHAT_OIDC_OWNER_GROUPS
	GroupsClaim     string   // CLAWCHAT_OIDC_GROUPS_CLAIM (default groups)
}

// Enabled reports whether OIDC sign-in is configured.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// Chat configures the chat core's policy and limits.
type Chat struct {
	Agents         []string // CLAWCHAT_AGENTS: agents members may talk to (empty = the Gateway's default; * = all)
	OwnerAgents    []string // CLAWCHAT_OWNER_AGENTS: agents owners may talk to (default *)
	MemberCommands []string // CLAWCHAT_MEMBER_COMMANDS: slash commands members may use, e.g. /think,/model
	// MemberPermissionMode is the Gateway permission mode of members' sessions
	// (CLAWCHAT_MEMBER_PERMISSION_MODE: read-only | guarded | workspace | full; default read-only,
	// guarded when CLAWCHAT_GATEWAY_APPROVALS is on). full needs CLAWCHAT_MEMBER_ALLOW_FULL=true.
	MemberPermissionMode string
	// AgentMemberPermissionModes overrides it per agent (CLAWCHAT_AGENT_MEMBER_PERMISSION_MODES,
	// "agent=mode,agent=mode").
	AgentMemberPermissionModes map[string]string
	MemberAllowFull            bool          // CLAWCHAT_MEMBER_ALLOW_FULL: permit full for members (logged loudly)
	MemberWebSearch            bool          // CLAWCHAT_MEMBER_WEB_SEARCH: members' sessions may search the web (default false)
	MemberDenyMCPServers       []string      // CLAWCHAT_MEMBER_DENY_MCP_SERVERS: MCP servers switched off in members' sessions
	MemberModels               []string      // CLAWCHAT_MEMBER_MODELS: models ("provider/model", * = all) members may pick per conversation (default none)
	MemberThinkingLevels       []string      // CLAWCHAT_MEMBER_THINKING_LEVELS: thinking levels (* = all) members may pick (default none)
	MaxMessageBytes            int           // CLAWCHAT_MAX_MESSAGE_BYTES
	MaxConcurrentRuns          int           // CLAWCHAT_MAX_CONCURRENT_RUNS per user
	MaxConversations           int           // CLAWCHAT_MAX_CONVERSATIONS per user
	SendsPerMinute             int           // CLAWCHAT_SENDS_PER_MINUTE per user
	MaxConnectionsPerUsr       int           // CLAWCHAT_MAX_CONNECTIONS_PER_USER (0 = no cap)
	APIRequestsPerMinute       int           // CLAWCHAT_API_REQUESTS_PER_MINUTE per user
	RequestTimeout             time.Duration // CLAWCHAT_GATEWAY_REQUEST_TIMEOUT
}

// Push configures Web Push. Enabled when both keys are set.
type Push struct {
	PublicKey   string // CLAWCHAT_VAPID_PUBLIC_KEY
	PrivateKey  string // CLAWCHAT_VAPID_PRIVATE_KEY(_FILE); secret
	Subject     string // CLAWCHAT_VAPID_SUBJECT: mailto: or https: contact
	IncludeText bool   // CLAWCHAT_PUSH_INCLUDE_TEXT: put reply text in notifications
	// ExtraHosts are push-service hosts allowed besides the big browser vendors' (for a
	// self-hosted push service): CLAWCHAT_PUSH_ALLOWED_HOSTS, names or *.domain patterns.
	ExtraHosts []string
}

// Enabled reports whether Web Push is configured.
func (p Push) Enabled() bool { return p.PublicKey != "" && p.PrivateKey != "" }

// Metrics configures /metrics.
type Metrics struct {
	Allow  []netip.Prefix // CLAWCHAT_METRICS_ALLOW: CIDRs besides loopback that may read /metrics
	Listen string         // CLAWCHAT_METRICS_LISTEN: separate listener (opt-in)
}

// Defaults.
const (
	DefaultListen          = ":8080"
	DefaultDataDir         = "data"
	DefaultGatewayURL      = "ws://127.0.0.1:18789"
	DefaultShutdownTimeout = 15 * time.Second
	DefaultSessionIdle     = 7 * 24 * time.Hour
	DefaultSessionMaxAge   = 30 * 24 * time.Hour
)

// Env is how Load reads the environment: Getenv returns a variable ("" when unset) and ReadFile
// reads a *_FILE secret.
type Env struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

type loader struct {
	env  Env
	errs []string
}

func (l *loader) fail(name, format string, args ...any) {
	l.errs = append(l.errs, name+": "+fmt.Sprintf(format, args...))
}

func (l *loader) str(name, def string) string {
	if v := strings.TrimSpace(l.env.Getenv(name)); v != "" {
		return v
	}
	return def
}

// secret reads NAME or NAME_FILE (not both). The second result says whether the file form was used.
func (l *loader) secret(name string) (string, bool) {
	v := l.env.Getenv(name)
	path := strings.TrimSpace(l.env.Getenv(name + "_FILE"))
	if v != "" && path != "" {
		l.fail(name, "set either %s or %s_FILE, not both", name, name)
		return "", false
	}
	if path == "" {
		return strings.TrimSpace(v), false
	}
	if l.env.ReadFile == nil {
		l.fail(name+"_FILE", "reading secret files is not available")
		return "", true
	}
	b, err := l.env.ReadFile(path)
	if err != nil {
		// The path is not a secret; the content is never shown.
		l.fail(name+"_FILE", "cannot read %q: %v (mount the secret file or unset %s_FILE)", path, errors.Unwrap(err), name)
		return "", true
	}
	s := strings.TrimRight(string(b), "\r\n")
	if strings.TrimSpace(s) == "" {
		l.fail(name+"_FILE", "file %q is empty", path)
	}
	return s, true
}

func (l *loader) boolean(name string, def bool) bool {
	v := strings.ToLower(strings.TrimSpace(l.env.Getenv(name)))
	switch v {
	case "":
		return def
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	l.fail(name, "%q is not a boolean (use true or false)", v)
	return def
}

func (l *loader) integer(name string, def, min int) int {
	v := strings.TrimSpace(l.env.Getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		l.fail(name, "%q is not a whole number ≥ %d", v, min)
		return def
	}
	return n
}

func (l *loader) duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(l.env.Getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		l.fail(name, "%q is not a positive duration (examples: 30s, 15m, 168h)", v)
		return def
	}
	return d
}

// permissionMode validates a member permission mode; full is refused without allowFull.
func (l *loader) permissionMode(name, mode string, allowFull bool) string {
	switch mode {
	case "read-only", "guarded", "workspace":
		return mode
	case "full":
		if !allowFull {
			l.fail(name, "full gives members the agent's unrestricted tools (shell, files, other sessions); set CLAWCHAT_MEMBER_ALLOW_FULL=true as well if that is really meant")
		}
		return mode
	}
	l.fail(name, "%q is not a permission mode: use read-only, guarded, workspace or full", mode)
	return "read-only"
}

// joinModes prints agent=mode pairs sorted by agent.
func joinModes(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}

func (l *loader) list(name string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(l.env.Getenv(name), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (l *loader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range l.list(name) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				l.fail(name, "%q is neither a CIDR (10.0.0.0/8) nor an IP address", f)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

// DatabaseURL returns CLAWCHAT_DATABASE_URL or the content of CLAWCHAT_DATABASE_URL_FILE ("" when
// neither is set), for commands that need only the store and not a whole configuration.
func DatabaseURL(env Env) (string, error) {
	l := &loader{env: env}
	u, _ := l.secret("CLAWCHAT_DATABASE_URL")
	if len(l.errs) > 0 {
		return "", &Error{Problems: l.errs}
	}
	return u, nil
}

// RedisURL returns CLAWCHAT_REDIS_URL, the content of CLAWCHAT_REDIS_URL_FILE, or miso-chat's
// REDIS_URL ("" when none is set), for commands that need only the session store.
func RedisURL(env Env) (string, error) {
	env, _ = withMisoAliases(env)
	l := &loader{env: env}
	u, _ := l.secret("CLAWCHAT_REDIS_URL")
	if len(l.errs) > 0 {
		return "", &Error{Problems: l.errs}
	}
	return u, nil
}

// Load reads the configuration from env and validates it. The error lists every problem found.
func Load(env Env) (Config, error) {
	env, notices := withMisoAliases(env)
	l := &loader{env: env}
	c := Config{Notices: notices}
	c.Listen = l.str("CLAWCHAT_LISTEN", DefaultListen)
	if _, _, err := splitHostPort(c.Listen); err != nil {
		l.fail("CLAWCHAT_LISTEN", "%q is not host:port (examples: :8080, 127.0.0.1:8080)", c.Listen)
	}
	c.DataDir = filepath.Clean(l.str("CLAWCHAT_DATA_DIR", DefaultDataDir))
	c.DatabaseURL, _ = l.secret("CLAWCHAT_DATABASE_URL") // its password makes it a secret
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		l.fail("CLAWCHAT_DATABASE_URL", "only postgres:// URLs are supported; leave it unset to use SQLite in CLAWCHAT_DATA_DIR")
	}
	if v := l.str("CLAWCHAT_PUBLIC_URL", ""); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.fail("CLAWCHAT_PUBLIC_URL", "%q is not an absolute http(s) URL (example: https://chat.example.com)", v)
		} else {
			u.Path = strings.TrimRight(u.Path, "/")
			c.PublicURL = u
		}
	}
	c.ShutdownTimeout = l.duration("CLAWCHAT_SHUTDOWN_TIMEOUT", DefaultShutdownTimeout)

	c.Log.Format = strings.ToLower(l.str("CLAWCHAT_LOG_FORMAT", "auto"))
	if c.Log.Format != "json" && c.Log.Format != "text" && c.Log.Format != "auto" {
		l.fail("CLAWCHAT_LOG_FORMAT", "%q is not json, text or auto", c.Log.Format)
	}
	c.Log.Level = strings.ToLower(l.str("CLAWCHAT_LOG_LEVEL", "info"))
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		l.fail("CLAWCHAT_LOG_LEVEL", "%q is not debug, info, warn or error", c.Log.Level)
	}

	c.Gateway.URL = l.str("OPENCLAW_GATEWAY_URL", DefaultGatewayURL)
	if u, err := url.Parse(c.Gateway.URL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		l.fail("OPENCLAW_GATEWAY_URL", "%q is not a ws:// or wss:// URL (example: ws://127.0.0.1:18789)", c.Gateway.URL)
	}
	c.Gateway.Token, _ = l.secret("OPENCLAW_GATEWAY_TOKEN")
	c.Gateway.Password, _ = l.secret("OPENCLAW_GATEWAY_PASSWORD")
	if c.Gateway.Token == "" && c.Gateway.Password == "" {
		l.fail("OPENCLAW_GATEWAY_TOKEN", "no Gateway credential: set OPENCLAW_GATEWAY_TOKEN (or OPENCLAW_GATEWAY_PASSWORD), the value of gateway.auth.token in the Gateway's openclaw.json")
	}
	c.Gateway.AllowInsecure = l.boolean("CLAWCHAT_GATEWAY_ALLOW_INSECURE", false)
	c.Gateway.Approvals = l.boolean("CLAWCHAT_GATEWAY_APPROVALS", false)
	c.Gateway.Admin = l.boolean("CLAWCHAT_GATEWAY_ADMIN", true)

	c.Auth.LocalUsers, c.Auth.LocalUsersFile = l.secret("CLAWCHAT_LOCAL_USERS")
	c.Auth.Owners = l.list("CLAWCHAT_OWNERS")
	c.Auth.CookieSecure = l.boolean("CLAWCHAT_COOKIE_SECURE", true)
	c.Auth.CookieSameSite = strings.ToLower(l.str("CLAWCHAT_COOKIE_SAMESITE", "lax"))
	switch c.Auth.CookieSameSite {
	case "lax", "strict":
	case "none":
		if !c.Auth.CookieSecure {
			l.fail("CLAWCHAT_COOKIE_SAMESITE", "none requires CLAWCHAT_COOKIE_SECURE=true")
		}
	default:
		l.fail("CLAWCHAT_COOKIE_SAMESITE", "%q is not lax, strict or none", c.Auth.CookieSameSite)
	}
	c.Auth.SessionIdle = l.duration("CLAWCHAT_SESSION_IDLE_TIMEOUT", DefaultSessionIdle)
	c.Auth.SessionMaxAge = l.duration("CLAWCHAT_SESSION_MAX_AGE", DefaultSessionMaxAge)
	if c.Auth.SessionIdle > c.Auth.SessionMaxAge {
		l.fail("CLAWCHAT_SESSION_IDLE_TIMEOUT", "must not exceed CLAWCHAT_SESSION_MAX_AGE (%s)", c.Auth.SessionMaxAge)
	}
	c.RedisURL, _ = l.secret("CLAWCHAT_REDIS_URL") // its password makes it a secret
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		l.fail("CLAWCHAT_REDIS_URL", "%q is not a redis:// or rediss:// URL", c.RedisURL)
	}
	def := "sql"
	if c.RedisURL != "" {
		def = "redis"
	}
	c.Auth.SessionStore = strings.ToLower(l.str("CLAWCHAT_SESSION_STORE", def))
	switch c.Auth.SessionStore {
	case "sql", "memory":
	case "redis":
		if c.RedisURL == "" {
			l.fail("CLAWCHAT_SESSION_STORE", "redis needs CLAWCHAT_REDIS_URL (or REDIS_URL)")
		}
	default:
		l.fail("CLAWCHAT_SESSION_STORE", "%q is not sql, redis or memory", c.Auth.SessionStore)
	}
	c.Auth.ProxyHeader = l.str("CLAWCHAT_PROXY_AUTH_HEADER", "")
	c.Auth.ProxyEmailHdr = l.str("CLAWCHAT_PROXY_AUTH_EMAIL_HEADER", "")
	c.Auth.LoginMaxAccount = l.integer("CLAWCHAT_LOGIN_MAX_FAILURES_ACCOUNT", 10, 1)
	c.Auth.LoginMaxIP = l.integer("CLAWCHAT_LOGIN_MAX_FAILURES_IP", 20, 1)

	o := &c.Auth.OIDC
	o.Issuer = l.str("CLAWCHAT_OIDC_ISSUER", "")
	o.ClientID = l.str("CLAWCHAT_OIDC_CLIENT_ID", "")
	o.ClientSecret, _ = l.secret("CLAWCHAT_OIDC_CLIENT_SECRET")
	o.RedirectURL = l.str("CLAWCHAT_OIDC_REDIRECT_URL", "")
	o.Scopes = l.list("CLAWCHAT_OIDC_SCOPES")
	if len(o.Scopes) == 0 {
		o.Scopes = []string{"openid", "profile", "email"}
	}
	o.Label = l.str("CLAWCHAT_OIDC_LABEL", "SSO")
	o.AllowedSubjects = l.list("CLAWCHAT_OIDC_ALLOWED_SUBJECTS")
	o.AllowedEmails = l.list("CLAWCHAT_OIDC_ALLOWED_EMAILS")
	o.AllowedGroups = l.list("CLAWCHAT_OIDC_ALLOWED_GROUPS")
	o.OwnerSubjects = l.list("CLAWCHAT_OIDC_OWNER_SUBJECTS")
	o.OwnerEmails = l.list("CLAWCHAT_OIDC_OWNER_EMAILS")
	o.OwnerGroups = l.list("CLAWCHAT_OIDC_OWNER_GROUPS")
	if len(l.list("CLAWCHAT_OIDC_ALLOWED_USERS")) > 0 {
		// It matched preferred_username, which an IdP user may be able to choose: refuse to start
		// rather than silently change who gets in (docs/security.md, "Migrating OIDC allowlists").
		l.fail("CLAWCHAT_OIDC_ALLOWED_USERS", "no longer supported: it matched preferred_username, which is not unique and often chosen by the user; list the users' subjects (the sub claim) in CLAWCHAT_OIDC_ALLOWED_SUBJECTS, or use CLAWCHAT_OIDC_ALLOWED_EMAILS / CLAWCHAT_OIDC_ALLOWED_GROUPS")
	}
	o.GroupsClaim = l.str("CLAWCHAT_OIDC_GROUPS_CLAIM", "groups")
	if o.Enabled() {
		if u, err := url.Parse(o.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			l.fail("CLAWCHAT_OIDC_ISSUER", "%q is not an https URL (example: https://auth.example.com/application/o/clawchat/)", o.Issuer)
		}
		if o.ClientID == "" {
			l.fail("CLAWCHAT_OIDC_CLIENT_ID", "required when CLAWCHAT_OIDC_ISSUER is set")
		}
		if o.ClientSecret == "" {
			l.fail("CLAWCHAT_OIDC_CLIENT_SECRET", "required when CLAWCHAT_OIDC_ISSUER is set (or use CLAWCHAT_OIDC_CLIENT_SECRET_FILE)")
		}
		if o.RedirectURL == "" {
			if c.PublicURL == nil {
				l.fail("CLAWCHAT_OIDC_REDIRECT_URL", "set it, or set CLAWCHAT_PUBLIC_URL so it defaults to <public url>/auth/oidc/callback")
			} else {
				o.RedirectURL = c.PublicURL.String() + "/auth/oidc/callback"
			}
		}
		if len(o.AllowedSubjects)+len(o.AllowedEmails)+len(o.AllowedGroups)+len(o.OwnerSubjects)+len(o.OwnerEmails)+len(o.OwnerGroups) == 0 {
			l.fail("CLAWCHAT_OIDC_ALLOWED_GROUPS", "OIDC is on but nobody may sign in: set CLAWCHAT_OIDC_ALLOWED_GROUPS, CLAWCHAT_OIDC_ALLOWED_EMAILS or CLAWCHAT_OIDC_ALLOWED_SUBJECTS")
		}
	}

	c.Chat.Agents = l.list("CLAWCHAT_AGENTS")
	c.Chat.OwnerAgents = l.list("CLAWCHAT_OWNER_AGENTS")
	if len(c.Chat.OwnerAgents) == 0 {
		c.Chat.OwnerAgents = []string{"*"}
	}
	c.Chat.MemberCommands = l.list("CLAWCHAT_MEMBER_COMMANDS")
	defMode := "read-only"
	if c.Gateway.Approvals {
		defMode = "guarded"
	}
	c.Chat.MemberAllowFull = l.boolean("CLAWCHAT_MEMBER_ALLOW_FULL", false)
	c.Chat.MemberPermissionMode = l.permissionMode("CLAWCHAT_MEMBER_PERMISSION_MODE", l.str("CLAWCHAT_MEMBER_PERMISSION_MODE", defMode), c.Chat.MemberAllowFull)
	c.Chat.AgentMemberPermissionModes = map[string]string{}
	for _, kv := range l.list("CLAWCHAT_AGENT_MEMBER_PERMISSION_MODES") {
		agent, mode, ok := strings.Cut(kv, "=")
		agent, mode = strings.ToLower(strings.TrimSpace(agent)), strings.TrimSpace(mode)
		if !ok || agent == "" {
			l.fail("CLAWCHAT_AGENT_MEMBER_PERMISSION_MODES", "%q is not agent=mode (example: research=guarded,main=read-only)", kv)
			continue
		}
		c.Chat.AgentMemberPermissionModes[agent] = l.permissionMode("CLAWCHAT_AGENT_MEMBER_PERMISSION_MODES", mode, c.Chat.MemberAllowFull)
	}
	c.Chat.MemberWebSearch = l.boolean("CLAWCHAT_MEMBER_WEB_SEARCH", false)
	c.Chat.MemberDenyMCPServers = l.list("CLAWCHAT_MEMBER_DENY_MCP_SERVERS")
	c.Chat.MemberModels = l.list("CLAWCHAT_MEMBER_MODELS")
	for _, m := range c.Chat.MemberModels {
		if p, id, ok := strings.Cut(m, "/"); m != "*" && (!ok || p == "" || id == "") {
			l.fail("CLAWCHAT_MEMBER_MODELS", "%q is not provider/model or * (example: anthropic/claude-sonnet-4-6,openai/gpt-5)", m)
		}
	}
	c.Chat.MemberThinkingLevels = l.list("CLAWCHAT_MEMBER_THINKING_LEVELS")
	c.Chat.MaxMessageBytes = l.integer("CLAWCHAT_MAX_MESSAGE_BYTES", 32<<10, 1)
	c.Chat.MaxConcurrentRuns = l.integer("CLAWCHAT_MAX_CONCURRENT_RUNS", 3, 1)
	c.Chat.MaxConversations = l.integer("CLAWCHAT_MAX_CONVERSATIONS", 500, 1)
	c.Chat.SendsPerMinute = l.integer("CLAWCHAT_SENDS_PER_MINUTE", 30, 1)
	c.Chat.MaxConnectionsPerUsr = l.integer("CLAWCHAT_MAX_CONNECTIONS_PER_USER", 20, 0)
	c.Chat.APIRequestsPerMinute = l.integer("CLAWCHAT_API_REQUESTS_PER_MINUTE", 600, 1)
	c.Chat.RequestTimeout = l.duration("CLAWCHAT_GATEWAY_REQUEST_TIMEOUT", 30*time.Second)

	c.Push.PublicKey = l.str("CLAWCHAT_VAPID_PUBLIC_KEY", "")
	c.Push.PrivateKey, _ = l.secret("CLAWCHAT_VAPID_PRIVATE_KEY")
	c.Push.Subject = l.str("CLAWCHAT_VAPID_SUBJECT", "")
	c.Push.IncludeText = l.boolean("CLAWCHAT_PUSH_INCLUDE_TEXT", false)
	c.Push.ExtraHosts = l.list("CLAWCHAT_PUSH_ALLOWED_HOSTS")
	if (c.Push.PublicKey == "") != (c.Push.PrivateKey == "") {
		l.fail("CLAWCHAT_VAPID_PRIVATE_KEY", "set both CLAWCHAT_VAPID_PUBLIC_KEY and CLAWCHAT_VAPID_PRIVATE_KEY (generate them with: clawchat push keys)")
	}
	if c.Push.Enabled() && !strings.HasPrefix(c.Push.Subject, "mailto:") && !strings.HasPrefix(c.Push.Subject, "https://") {
		l.fail("CLAWCHAT_VAPID_SUBJECT", "required for Web Push: a mailto: address or https: URL where push services can reach you (example: mailto:admin@example.com)")
	}

	c.Metrics.Allow = l.prefixes("CLAWCHAT_METRICS_ALLOW")
	c.Metrics.Listen = l.str("CLAWCHAT_METRICS_LISTEN", "")
	if c.Metrics.Listen != "" {
		if _, _, err := splitHostPort(c.Metrics.Listen); err != nil {
			l.fail("CLAWCHAT_METRICS_LISTEN", "%q is not host:port", c.Metrics.Listen)
		}
	}
	c.TrustedProxies = l.prefixes("CLAWCHAT_TRUSTED_PROXIES")
	for _, o := range l.list("CLAWCHAT_TRUSTED_ORIGINS") {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			l.fail("CLAWCHAT_TRUSTED_ORIGINS", "%q is not an origin (example: https://chat.example.com)", o)
			continue
		}
		c.TrustedOrigins = append(c.TrustedOrigins, u.Scheme+"://"+u.Host)
	}
	if c.Auth.ProxyHeader != "" && len(c.TrustedProxies) == 0 {
		l.fail("CLAWCHAT_PROXY_AUTH_HEADER", "trusted-proxy sign-in needs CLAWCHAT_TRUSTED_PROXIES (the proxy's CIDRs), or anyone could forge the header")
	}
	l.embed(&c)

	if len(l.errs) > 0 {
		return c, &Error{Problems: l.errs}
	}
	return c, nil
}

// Error lists every configuration problem found by Load.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", 0, errors.New("missing port")
	}
	p, err := strconv.Atoi(s[i+1:])
	if err != nil || p < 0 || p > 65535 {
		return "", 0, errors.New("bad port")
	}
	return s[:i], p, nil
}

// Redacted returns the effective configuration as sorted NAME=value lines, with every secret
// replaced by "(set)" or "(unset)". It is what `clawchat config` prints.
func (c Config) Redacted() []string {
	sec := func(s string) string {
		if s == "" {
			return "(unset)"
		}
		return "(set, redacted)"
	}
	join := func(ss []string) string { return strings.Join(ss, ",") }
	pfx := func(ps []netip.Prefix) string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.String()
		}
		return join(out)
	}
	pub := ""
	if c.PublicURL != nil {
		pub = c.PublicURL.String()
	}
	db := "(sqlite) " + filepath.Join(c.DataDir, "clawchat.db")
	if c.DatabaseURL != "" {
		db = redactURL(c.DatabaseURL)
	}
	m := map[string]string{
		"CLAWCHAT_LISTEN":                        c.Listen,
		"CLAWCHAT_DATA_DIR":                      c.DataDir,
		"CLAWCHAT_DATABASE_URL":                  db,
		"CLAWCHAT_PUBLIC_URL":                    pub,
		"CLAWCHAT_SHUTDOWN_TIMEOUT":              c.ShutdownTimeout.String(),
		"CLAWCHAT_LOG_FORMAT":                    c.Log.Format,
		"CLAWCHAT_LOG_LEVEL":                     c.Log.Level,
		"OPENCLAW_GATEWAY_URL":                   redactURL(c.Gateway.URL),
		"OPENCLAW_GATEWAY_TOKEN":                 sec(c.Gateway.Token),
		"OPENCLAW_GATEWAY_PASSWORD":              sec(c.Gateway.Password),
		"CLAWCHAT_GATEWAY_ALLOW_INSECURE":        strconv.FormatBool(c.Gateway.AllowInsecure),
		"CLAWCHAT_GATEWAY_APPROVALS":             strconv.FormatBool(c.Gateway.Approvals),
		"CLAWCHAT_GATEWAY_ADMIN":                 strconv.FormatBool(c.Gateway.Admin),
		"CLAWCHAT_MEMBER_PERMISSION_MODE":        c.Chat.MemberPermissionMode,
		"CLAWCHAT_AGENT_MEMBER_PERMISSION_MODES": joinModes(c.Chat.AgentMemberPermissionModes),
		"CLAWCHAT_MEMBER_ALLOW_FULL":             strconv.FormatBool(c.Chat.MemberAllowFull),
		"CLAWCHAT_MEMBER_WEB_SEARCH":             strconv.FormatBool(c.Chat.MemberWebSearch),
		"CLAWCHAT_MEMBER_DENY_MCP_SERVERS":       join(c.Chat.MemberDenyMCPServers),
		"CLAWCHAT_MEMBER_MODELS":                 join(c.Chat.MemberModels),
		"CLAWCHAT_MEMBER_THINKING_LEVELS":        join(c.Chat.MemberThinkingLevels),
		"CLAWCHAT_LOCAL_USERS":                   sec(c.Auth.LocalUsers),
		"CLAWCHAT_OWNERS":                        join(c.Auth.Owners),
		"CLAWCHAT_COOKIE_SECURE":                 strconv.FormatBool(c.Auth.CookieSecure),
		"CLAWCHAT_COOKIE_SAMESITE":               c.Auth.CookieSameSite,
		"CLAWCHAT_SESSION_IDLE_TIMEOUT":          c.Auth.SessionIdle.String(),
		"CLAWCHAT_SESSION_MAX_AGE":               c.Auth.SessionMaxAge.String(),
		"CLAWCHAT_SESSION_STORE":                 c.Auth.SessionStore,
		"CLAWCHAT_REDIS_URL":                     redactURL(c.RedisURL),
		"CLAWCHAT_PROXY_AUTH_HEADER":             c.Auth.ProxyHeader,
		"CLAWCHAT_PROXY_AUTH_EMAIL_HEADER":       c.Auth.ProxyEmailHdr,
		"CLAWCHAT_LOGIN_MAX_FAILURES_ACCOUNT":    strconv.Itoa(c.Auth.LoginMaxAccount),
		"CLAWCHAT_LOGIN_MAX_FAILURES_IP":         strconv.Itoa(c.Auth.LoginMaxIP),
		"CLAWCHAT_OIDC_SCOPES":                   strings.Join(c.Auth.OIDC.Scopes, " "),
		"CLAWCHAT_OIDC_LABEL":                    c.Auth.OIDC.Label,
		"CLAWCHAT_OIDC_GROUPS_CLAIM":             c.Auth.OIDC.GroupsClaim,
		"CLAWCHAT_OIDC_ISSUER":                   c.Auth.OIDC.Issuer,
		"CLAWCHAT_OIDC_CLIENT_ID":                c.Auth.OIDC.ClientID,
		"CLAWCHAT_OIDC_CLIENT_SECRET":            sec(c.Auth.OIDC.ClientSecret),
		"CLAWCHAT_OIDC_REDIRECT_URL":             c.Auth.OIDC.RedirectURL,
		"CLAWCHAT_OIDC_ALLOWED_GROUPS":           join(c.Auth.OIDC.AllowedGroups),
		"CLAWCHAT_OIDC_ALLOWED_EMAILS":           join(c.Auth.OIDC.AllowedEmails),
		"CLAWCHAT_OIDC_ALLOWED_SUBJECTS":         join(c.Auth.OIDC.AllowedSubjects),
		"CLAWCHAT_OIDC_OWNER_SUBJECTS":           join(c.Auth.OIDC.OwnerSubjects),
		"CLAWCHAT_OIDC_OWNER_EMAILS":             join(c.Auth.OIDC.OwnerEmails),
		"CLAWCHAT_OIDC_OWNER_GROUPS":             join(c.Auth.OIDC.OwnerGroups),
		"CLAWCHAT_AGENTS":                        join(c.Chat.Agents),
		"CLAWCHAT_OWNER_AGENTS":                  join(c.Chat.OwnerAgents),
		"CLAWCHAT_MEMBER_COMMANDS":               join(c.Chat.MemberCommands),
		"CLAWCHAT_MAX_MESSAGE_BYTES":             strconv.Itoa(c.Chat.MaxMessageBytes),
		"CLAWCHAT_MAX_CONCURRENT_RUNS":           strconv.Itoa(c.Chat.MaxConcurrentRuns),
		"CLAWCHAT_MAX_CONVERSATIONS":             strconv.Itoa(c.Chat.MaxConversations),
		"CLAWCHAT_SENDS_PER_MINUTE":              strconv.Itoa(c.Chat.SendsPerMinute),
		"CLAWCHAT_MAX_CONNECTIONS_PER_USER":      strconv.Itoa(c.Chat.MaxConnectionsPerUsr),
		"CLAWCHAT_API_REQUESTS_PER_MINUTE":       strconv.Itoa(c.Chat.APIRequestsPerMinute),
		"CLAWCHAT_GATEWAY_REQUEST_TIMEOUT":       c.Chat.RequestTimeout.String(),
		"CLAWCHAT_VAPID_PUBLIC_KEY":              c.Push.PublicKey,
		"CLAWCHAT_VAPID_PRIVATE_KEY":             sec(c.Push.PrivateKey),
		"CLAWCHAT_VAPID_SUBJECT":                 c.Push.Subject,
		"CLAWCHAT_PUSH_INCLUDE_TEXT":             strconv.FormatBool(c.Push.IncludeText),
		"CLAWCHAT_PUSH_ALLOWED_HOSTS":            join(c.Push.ExtraHosts),
		"CLAWCHAT_METRICS_ALLOW":                 pfx(c.Metrics.Allow),
		"CLAWCHAT_METRICS_LISTEN":                c.Metrics.Listen,
		"CLAWCHAT_TRUSTED_PROXIES":               pfx(c.TrustedProxies),
		"CLAWCHAT_TRUSTED_ORIGINS":               join(c.TrustedOrigins),
	}
	c.embedRedacted(m)
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// redactURL hides the secrets of a URL or connection string: the userinfo password and every
// query parameter whose name suggests a secret (password, sslpassword, passwd, pwd, *secret*,
// *token*, *key* — see secretParam). libpq keyword/value strings ("host=db password=x") get the
// same treatment. Anything it cannot parse is hidden whole.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") {
		return redactKeywordDSN(s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(set, unparsable, redacted)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return "(set, unparsable query, redacted)"
		}
		for k := range q {
			if secretParam(k) {
				q[k] = []string{"REDACTED"}
			}
		}
		u.RawQuery = q.Encode()
	}
	if u.Fragment != "" {
		u.Fragment = "REDACTED"
	}
	return u.String()
}

// redactKeywordDSN redacts a libpq keyword/value connection string or a SQLite file path
// (whose ?query may carry options such as _pragma=key).
func redactKeywordDSN(s string) string {
	if path, query, ok := strings.Cut(s, "?"); ok && !strings.Contains(path, "=") {
		q, err := url.ParseQuery(query)
		if err != nil {
			return path + "?(redacted)"
		}
		for k := range q {
			if secretParam(k) {
				q[k] = []string{"REDACTED"}
			}
		}
		return path + "?" + q.Encode()
	}
	if !strings.Contains(s, "=") {
		return s // a plain file path
	}
	// Values may be quoted and contain spaces: redact from a secret key's "=" to the end of its
	// (possibly quoted) value.
	var b strings.Builder
	rest := s
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			b.WriteString(rest)
			break
		}
		key := strings.TrimSpace(rest[:eq])
		b.WriteString(rest[:eq+1])
		rest = rest[eq+1:]
		end := 0
		if strings.HasPrefix(rest, "'") {
			end = 1
			for end < len(rest) && rest[end] != '\'' {
				if rest[end] == '\\' {
					end++
				}
				end++
			}
			end = min(end+1, len(rest))
		} else if i := strings.IndexAny(rest, " \t\n"); i >= 0 {
			end = i
		} else {
			end = len(rest)
		}
		if secretParam(key) {
			b.WriteString("REDACTED")
		} else {
			b.WriteString(rest[:end])
		}
		rest = rest[end:]
	}
	return b.String()
}

// secretParam reports whether a URL query or DSN parameter name may hold a secret.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"password", "passwd", "secret", "token", "key", "credential", "auth"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return n == "pwd" || n == "pass"
}
