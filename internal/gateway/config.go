package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Default values used by New when the corresponding Config field is zero.
const (
	DefaultRequestTimeout    = 30 * time.Second
	DefaultReconnectMinDelay = 500 * time.Millisecond
	DefaultReconnectMaxDelay = 30 * time.Second
	DefaultHandshakeTimeout  = 15 * time.Second
	DefaultPingInterval      = 25 * time.Second

	// ScopeRead, ScopeWrite and ScopeApprovals are the operator scopes clawchat asks for.
	ScopeRead      = "operator.read"
	ScopeWrite     = "operator.write"
	ScopeApprovals = "operator.approvals"
	// ScopeAdmin lets clawchat send members' messages with suppressCommandInterpretation and
	// set their sessions' tool overlays (docs/security.md "Why clawchat holds operator.admin").
	ScopeAdmin = "operator.admin"

	// preHelloReadLimit bounds inbound frames before hello-ok tells us policy.maxPayload.
	// hello-ok itself is ~17 KB and grows with the gateway's state.
	preHelloReadLimit = 25 << 20
)

// Config configures a Client. The zero value of every optional field selects a documented
// default. Config holds secrets (Token, Password); it implements slog.LogValuer so logging
// a Config never prints them.
type Config struct {
	// URL is the Gateway WebSocket URL, ws:// or wss://. Plaintext ws:// is accepted only
	// for loopback, private (RFC 1918, ULA, link-local) IP addresses and "localhost",
	// unless AllowInsecure is set.
	URL string
	// Token is the shared gateway secret sent as auth.token. Exactly one of Token and
	// Password must be set.
	Token string
	// Password is the shared gateway secret sent as auth.password.
	Password string
	// AllowInsecure permits plaintext ws:// to any host.
	AllowInsecure bool
	// Scopes are the operator scopes requested. Default: operator.read, operator.write and
	// operator.admin (unless NoAdmin), plus operator.approvals when Approvals is set.
	Scopes []string
	// NoAdmin leaves operator.admin out of the default scopes. Without it the Gateway refuses
	// suppressCommandInterpretation, so clawchat refuses members' messages (owners still chat).
	NoAdmin bool
	// Approvals asks for operator.approvals and advertises the exec-approvals capability,
	// so the Gateway sends exec.approval.* events.
	Approvals bool
	// StateDir holds the device identity (device.json) and the device token
	// (device-token.json), both mode 0600. Required; created (0700) when missing.
	StateDir string
	// ClientVersion is sent as client.version (default "dev").
	ClientVersion string
	// DisplayName is sent as client.displayName and shows in `openclaw devices list`
	// (default "clawchat").
	DisplayName string
	// RequestTimeout bounds each Request unless the ctx has an earlier deadline
	// (default 30s).
	RequestTimeout time.Duration
	// HandshakeTimeout bounds dial + challenge + connect (default 15s).
	HandshakeTimeout time.Duration
	// PingInterval is the WebSocket ping period; a ping unanswered within the same
	// period closes the connection (default 25s).
	PingInterval time.Duration
	// ReconnectMinDelay and ReconnectMaxDelay bound the exponential reconnect backoff
	// (defaults 500ms and 30s). Tests shorten them.
	ReconnectMinDelay time.Duration
	ReconnectMaxDelay time.Duration
	// Logger receives the client's logs (default: discard). Secrets and message bodies
	// are never logged.
	Logger *slog.Logger
	// Handler receives events and status changes in order, from one goroutine.
	// Optional.
	Handler Handler
}

// LogValue implements slog.LogValuer and omits every secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redactURL(c.URL)),
		slog.Bool("token_set", c.Token != ""),
		slog.Bool("password_set", c.Password != ""),
		slog.Any("scopes", c.Scopes),
		slog.Bool("approvals", c.Approvals),
		slog.String("state_dir", c.StateDir),
	)
}

// redactURL drops user info and query from a URL for logging.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// withDefaults validates c and fills defaults. It never mutates the caller's slices.
func (c Config) withDefaults() (Config, error) {
	if err := validateURL(c.URL, c.AllowInsecure); err != nil {
		return c, err
	}
	if (c.Token == "") == (c.Password == "") {
		return c, errors.New("gateway: exactly one of Token and Password must be set")
	}
	if c.StateDir == "" {
		return c, errors.New("gateway: StateDir is required (device identity is stored there)")
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{ScopeRead, ScopeWrite}
		if !c.NoAdmin {
			c.Scopes = append(c.Scopes, ScopeAdmin)
		}
	} else {
		c.Scopes = slices.Clone(c.Scopes)
	}
	if c.Approvals && !slices.Contains(c.Scopes, ScopeApprovals) {
		c.Scopes = append(c.Scopes, ScopeApprovals)
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, ",|") {
			return c, fmt.Errorf("gateway: invalid scope %q", s)
		}
	}
	if c.ClientVersion == "" {
		c.ClientVersion = "dev"
	}
	if c.DisplayName == "" {
		c.DisplayName = "clawchat"
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.ReconnectMinDelay <= 0 {
		c.ReconnectMinDelay = DefaultReconnectMinDelay
	}
	if c.ReconnectMaxDelay <= 0 {
		c.ReconnectMaxDelay = DefaultReconnectMaxDelay
	}
	if c.ReconnectMaxDelay < c.ReconnectMinDelay {
		c.ReconnectMaxDelay = c.ReconnectMinDelay
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// ErrPlaintextURL is returned by New for a ws:// URL to a host that is neither localhost nor a
// loopback, private or link-local address (host names such as a Docker service name count as
// public), unless Config.AllowInsecure is set.
var ErrPlaintextURL = errors.New("refusing plaintext ws:// to a host that is not localhost or a private IP address")

// validateURL enforces ws/wss and refuses plaintext to non-private hosts.
func validateURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("gateway: invalid URL")
	}
	if u.User != nil {
		return errors.New("gateway: URL must not contain credentials")
	}
	switch u.Scheme {
	case "wss":
	case "ws":
		if !allowInsecure && !isPrivateHost(u.Hostname()) {
			return fmt.Errorf("gateway: %w: %q (use wss://, or set Config.AllowInsecure)", ErrPlaintextURL, u.Hostname())
		}
	default:
		return fmt.Errorf("gateway: URL scheme must be ws or wss, got %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("gateway: URL has no host")
	}
	return nil
}

// isPrivateHost reports whether host is "localhost" or a loopback, private (RFC 1918 / ULA)
// or link-local IP address. Host names other than localhost are not trusted.
func isPrivateHost(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	ip := net.IP(addr.AsSlice())
	return addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || ip.IsLoopback()
}
