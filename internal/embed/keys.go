package embed

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// App is one host app allowed to embed clawchat (docs/embed.md "Configuration").
type App struct {
	ID      string
	Origins []string // the only origins allowed to frame /embed for this app (CSP frame-ancestors)
	// Exactly one way to verify tokens: Keys (public keys from a key file: EdDSA, ES256), Secret
	// (HS256 shared secret, ≥ 32 bytes) or JWKSURL (public keys fetched and cached).
	Keys    []jose.JSONWebKey
	Secret  []byte
	JWKSURL string
	// RequestsPerMinute limits token exchanges and API requests of all of the app's sessions
	// together (0: no limit).
	RequestsPerMinute int
	// Limits bound the page context of each message.
	Limits Limits

	jwks *jwksCache
}

// algorithms are the signature algorithms accepted for a's keys: HS256 only with a shared
// secret, EdDSA/ES256 only with public keys (no algorithm confusion between them).
func (a *App) algorithms() []jose.SignatureAlgorithm {
	if len(a.Secret) > 0 {
		return secretAlgs
	}
	return publicAlgs
}

// verificationKeys returns the keys to try for a token with key id kid.
func (a *App) verificationKeys(ctx context.Context, kid string) ([]any, error) {
	if len(a.Secret) > 0 {
		return []any{a.Secret}, nil
	}
	keys := a.Keys
	if a.jwks != nil {
		var err error
		if keys, err = a.jwks.keys(ctx, kid); err != nil {
			return nil, err
		}
	}
	var out []any
	for _, k := range keys {
		if kid != "" && k.KeyID != "" && k.KeyID != kid {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		out = append(out, k.Key)
	}
	return out, nil
}

// ParseKeys reads public verification keys: PEM ("PUBLIC KEY", Ed25519 or P-256; several
// blocks allowed), a JWK or a JWK Set (JSON). Private keys are refused: clawchat needs only the
// public half.
func ParseKeys(data []byte) ([]jose.JSONWebKey, error) {
	s := strings.TrimSpace(string(data))
	var keys []jose.JSONWebKey
	switch {
	case strings.HasPrefix(s, "{"):
		var set jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(s), &set); err == nil && len(set.Keys) > 0 {
			keys = set.Keys
		} else {
			var k jose.JSONWebKey
			if err := json.Unmarshal([]byte(s), &k); err != nil {
				return nil, fmt.Errorf("not a JWK or JWK Set: %w", err)
			}
			keys = []jose.JSONWebKey{k}
		}
	case strings.HasPrefix(s, "-----BEGIN"):
		rest := []byte(s)
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "PUBLIC KEY" {
				return nil, fmt.Errorf("PEM block %q: only PUBLIC KEY blocks are accepted (never give clawchat a private key)", b.Type)
			}
			pub, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM public key: %w", err)
			}
			keys = append(keys, jose.JSONWebKey{Key: pub})
		}
	default:
		return nil, errors.New("expected PEM public keys or a JWK/JWK Set")
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys found")
	}
	for i, k := range keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("key %d is not a public key (never give clawchat a private key)", i)
		}
		switch pk := k.Key.(type) {
		case ed25519.PublicKey:
		case *ecdsa.PublicKey:
			if pk.Curve != elliptic.P256() {
				return nil, fmt.Errorf("key %d: ECDSA keys must be on P-256 (ES256)", i)
			}
		default:
			return nil, fmt.Errorf("key %d: %T is not supported (use Ed25519 or P-256)", i, k.Key)
		}
	}
	return keys, nil
}

// jwksCache fetches a JWK Set and keeps it for ttl; an unknown kid refetches at most once per
// minRefresh (key rotation), and a failed refresh keeps serving the last good set.
type jwksCache struct {
	url        string
	client     *http.Client
	now        func() time.Time
	ttl        time.Duration
	minRefresh time.Duration

	mu      sync.Mutex
	set     []jose.JSONWebKey
	fetched time.Time
}

// UseJWKS makes a fetch its keys from a JWKS URL (https, or http to loopback for tests) with
// client, cached for ttl (default 10 minutes).
func (a *App) UseJWKS(client *http.Client, now func() time.Time, ttl time.Duration) error {
	u, err := url.Parse(a.JWKSURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return fmt.Errorf("JWKS URL %q must be https:// (http:// only to localhost)", a.JWKSURL)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if now == nil {
		now = time.Now
	}
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	a.jwks = &jwksCache{url: a.JWKSURL, client: client, now: now, ttl: ttl, minRefresh: 30 * time.Second}
	return nil
}

func isLoopback(h string) bool { return h == "localhost" || h == "127.0.0.1" || h == "::1" }

func (c *jwksCache) keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	stale := c.set == nil || now.Sub(c.fetched) >= c.ttl
	unknown := kid != "" && !hasKid(c.set, kid) && now.Sub(c.fetched) >= c.minRefresh
	if stale || unknown {
		set, err := c.fetch(ctx)
		switch {
		case err == nil:
			c.set, c.fetched = set, now
		case c.set == nil:
			return nil, err
		}
	}
	return c.set, nil
}

func hasKid(keys []jose.JSONWebKey, kid string) bool {
	for _, k := range keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}

func (c *jwksCache) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("embed: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("embed: fetch JWKS: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("embed: fetch JWKS: status %d", res.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("embed: read JWKS: %w", err)
	}
	keys, err := ParseKeys(b)
	if err != nil {
		return nil, fmt.Errorf("embed: JWKS: %w", err)
	}
	return keys, nil
}
