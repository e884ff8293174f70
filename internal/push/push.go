package push

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// Defaults used by New when the corresponding Config field is zero.
const (
	DefaultTTL         = 24 * time.Hour
	DefaultMaxPerUser  = 10
	DefaultConcurrency = 4
	DefaultSendTimeout = 10 * time.Second
	DefaultClaimTTL    = 7 * 24 * time.Hour
)

// DefaultAllowedHosts are the push-service hosts of the major browsers (Chrome/Edge via FCM,
// Firefox via Mozilla autopush, Safari via Apple, legacy Edge via WNS). A leading "*." matches any
// sub-domain (but not the bare domain).
func DefaultAllowedHosts() []string {
	return []string{
		"fcm.googleapis.com",
		"android.googleapis.com",
		"updates.push.services.mozilla.com",
		"push.services.mozilla.com",
		"web.push.apple.com",
		"*.push.apple.com",
		"*.notify.windows.com",
	}
}

// Store is the persistence push needs. internal/store implements it for SQLite and PostgreSQL.
// All methods must be safe for concurrent use.
type Store interface {
	// SavePushSubscription inserts or replaces (by endpoint) a subscription.
	SavePushSubscription(ctx context.Context, sub chat.PushSubscription) error
	// PushSubscriptions lists a user's subscriptions.
	PushSubscriptions(ctx context.Context, userID string) ([]chat.PushSubscription, error)
	// DeletePushSubscription removes a subscription by endpoint; deleting a missing one is not an error.
	DeletePushSubscription(ctx context.Context, endpoint string) error
	// TouchPushSubscription records a successful delivery.
	TouchPushSubscription(ctx context.Context, endpoint string, at time.Time) error
	// ClaimOnce reports true to exactly one caller per key (across all instances sharing the
	// store) until ttl has passed.
	ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Recorder receives one outcome per delivery attempt (see the Outcome constants). The metrics
// package implements it. It must be safe for concurrent use.
type Recorder interface {
	PushResult(outcome string)
}

// Outcomes passed to Recorder.PushResult. The set is fixed so metric label cardinality stays bounded.
const (
	OutcomeSent        = "sent"         // 2xx from the push service
	OutcomeGone        = "gone"         // 404/410: subscription deleted
	OutcomeRateLimited = "rate_limited" // 429
	OutcomeRejected    = "rejected"     // other 4xx (e.g. 403 BadJwtToken, 413)
	OutcomeFailed      = "failed"       // 5xx
	OutcomeError       = "error"        // network error, timeout, encryption error
)

// Config configures a Service. PublicKey, PrivateKey, Subscriber and Store are required.
type Config struct {
	PublicKey  string // VAPID public key: base64url of the uncompressed P-256 point (65 bytes)
	PrivateKey string // VAPID private key: base64url of the 32-byte scalar. Secret.
	// Subscriber is the VAPID "sub" contact: a real "mailto:someone@example.org" or
	// "https://…" URL. Apple refuses tokens whose subscriber is not one (403 BadJwtToken).
	Subscriber string
	// AllowedHosts lists the push-service hosts endpoints may point at: exact host names or
	// "*.domain" suffix patterns. Default DefaultAllowedHosts(). IP literals and "localhost" are
	// always refused, whatever this list says.
	AllowedHosts []string
	// IncludeText puts (a truncated copy of) the reply text into the notification body. Off by
	// default: push services and the OS notification centre then never see message content.
	IncludeText bool
	TTL         time.Duration // how long the push service keeps an undelivered message; default DefaultTTL
	MaxPerUser  int           // subscriptions kept per user (least recently used evicted); default DefaultMaxPerUser
	Concurrency int           // parallel deliveries per notification; default DefaultConcurrency
	SendTimeout time.Duration // per delivery; default DefaultSendTimeout
	ClaimTTL    time.Duration // lifetime of the "push:<runId>" claim; default DefaultClaimTTL
	Store       Store
	// HTTPClient sends the deliveries; default a client with SendTimeout. Redirects are never
	// followed (a redirect could leave the allowlist), whatever the client's CheckRedirect says.
	HTTPClient *http.Client
	Logger     *slog.Logger     // default: discard
	Recorder   Recorder         // optional
	Now        func() time.Time // default time.Now
	// SessionID names the sign-in session of a request (optional). PostSubscription records it
	// with the subscription, so that the session's sign-out deletes it.
	SessionID func(*http.Request) string
}

// Service validates and stores subscriptions and sends notifications. It is safe for concurrent
// use; it starts no goroutines outside the calls that use them.
type Service struct {
	cfg     Config
	allowed []string
	client  *http.Client
	log     *slog.Logger
}

// New checks cfg, fills in defaults and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("push: Store is required")
	}
	pub, err := decodeKey(cfg.PublicKey)
	if err != nil || len(pub) != 65 || pub[0] != 4 {
		return nil, errors.New("push: VAPID public key must be base64url of a 65-byte uncompressed P-256 point")
	}
	priv, err := decodeKey(cfg.PrivateKey)
	if err != nil || len(priv) != 32 {
		return nil, errors.New("push: VAPID private key must be base64url of a 32-byte P-256 scalar")
	}
	k, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return nil, errors.New("push: VAPID private key is not a valid P-256 scalar")
	}
	if string(k.PublicKey().Bytes()) != string(pub) {
		return nil, errors.New("push: VAPID public and private keys do not belong together")
	}
	if err := checkSubscriber(cfg.Subscriber); err != nil {
		return nil, err
	}
	// Normalise to the unpadded form webpush-go and browsers expect.
	cfg.PublicKey = base64.RawURLEncoding.EncodeToString(pub)
	cfg.PrivateKey = base64.RawURLEncoding.EncodeToString(priv)
	if cfg.AllowedHosts == nil {
		cfg.AllowedHosts = DefaultAllowedHosts()
	}
	allowed := make([]string, 0, len(cfg.AllowedHosts))
	for _, h := range cfg.AllowedHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || h == "*." || strings.Contains(h[1:], "*") || (strings.HasPrefix(h, "*") && !strings.HasPrefix(h, "*.")) {
			return nil, fmt.Errorf("push: bad allowed host pattern %q", h)
		}
		allowed = append(allowed, h)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxPerUser <= 0 {
		cfg.MaxPerUser = DefaultMaxPerUser
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = DefaultSendTimeout
	}
	if cfg.ClaimTTL <= 0 {
		cfg.ClaimTTL = DefaultClaimTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var client http.Client
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient // shallow copy: we override CheckRedirect only
	} else {
		client.Timeout = cfg.SendTimeout
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Service{cfg: cfg, allowed: allowed, client: &client, log: logger}, nil
}

// PublicKey returns the VAPID public key (base64url, unpadded) for the browser's
// pushManager.subscribe({applicationServerKey}).
func (s *Service) PublicKey() string { return s.cfg.PublicKey }

// GenerateKeys makes a new VAPID key pair: the base64url (unpadded) uncompressed P-256 public
// point and the base64url 32-byte private scalar. The private key is a secret.
func GenerateKeys() (public, private string, err error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("push: generate VAPID key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()),
		base64.RawURLEncoding.EncodeToString(k.Bytes()), nil
}

func checkSubscriber(sub string) error {
	switch {
	case strings.HasPrefix(sub, "mailto:"):
		addr := strings.TrimPrefix(sub, "mailto:")
		at := strings.LastIndexByte(addr, '@')
		if at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr, " \t\r\n<>") {
			return errors.New("push: VAPID subject must be mailto:<address> or https://<url>")
		}
		domain := strings.ToLower(addr[at+1:])
		if domain == "localhost" || strings.HasSuffix(domain, ".localhost") || !strings.Contains(domain, ".") {
			return errors.New("push: VAPID subject must be a real, reachable contact address (Apple rejects localhost)")
		}
		return nil
	case strings.HasPrefix(sub, "https://") && len(sub) > len("https://"):
		return nil
	default:
		return errors.New("push: VAPID subject (CLAWCHAT_VAPID_SUBJECT) is required: mailto:<address> or https://<url>")
	}
}

// decodeKey accepts base64url or standard base64, padded or not, as browsers and tools differ.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
