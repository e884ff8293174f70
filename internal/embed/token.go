// Package embed lets another web app (a "host app") embed clawchat: it verifies the host's
// signed sign-in tokens (JWT, EdDSA/ES256/HS256, go-jose), refuses replays, maps the host's users
// to clawchat accounts namespaced per host app, issues the in-memory bearer sessions the /embed
// frame uses, bounds and fences the page context a message carries, and serves the frame and its
// loader script. docs/embed.md is the guide; every token accepted or refused is audited with the
// reason.
package embed

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/clawchat/clawchat/internal/chat"
)

// Refusal reasons, as audited (action "embed.token.refused", detail "reason=…") and answered
// to the frame (error code "token_<reason>").
const (
	ReasonMalformed     = "malformed"      // not a compact JWS, or unreadable claims
	ReasonUnknownApp    = "unknown_app"    // iss names no configured host app
	ReasonAlgorithm     = "bad_algorithm"  // alg not allowed for the app (none, HS256 where keys are public, …)
	ReasonSignature     = "bad_signature"  // no configured key verifies it (wrong key, tampered)
	ReasonExpired       = "expired"        // exp is past
	ReasonNotYetValid   = "not_yet_valid"  // nbf/iat in the future
	ReasonAudience      = "wrong_audience" // aud does not name this clawchat
	ReasonLifetime      = "lifetime"       // exp further away than the allowed lifetime
	ReasonReplayed      = "replayed"       // jti seen before (until its exp)
	ReasonClaims        = "bad_claims"     // a required claim missing or malformed
	ReasonKeys          = "keys_unavailable"
	ReasonRateLimited   = "rate_limited"
	maxTokenBytes       = 16 << 10
	defaultMaxLifetime  = 15 * time.Minute
	defaultLeeway       = 30 * time.Second
	replayKeyPrefix     = "embed-jti:"
	maxContextsPerToken = 100
)

// Refusal is why a token was not accepted. Message is safe to show (it names no key and echoes
// no token).
type Refusal struct {
	Reason  string
	Message string
	App     string // the claimed host app, when it is a configured one
	err     error
}

func (r *Refusal) Error() string { return "embed token refused: " + r.Message }
func (r *Refusal) Unwrap() error { return r.err }

func refuse(reason, msg string, err error) *Refusal {
	return &Refusal{Reason: reason, Message: msg, err: err}
}

// ContextGrant is one context the token lets the user open, with their role in it. Shared
// makes the context's conversation one shared by everyone whose token grants it shared
// (SharedConversation); otherwise each user has their own conversations there.
type ContextGrant struct {
	ID     string `json:"id"`
	Role   string `json:"role"`
	Title  string `json:"title,omitempty"`
	Shared bool   `json:"shared,omitempty"`
}

// Claims are a host token's claims (docs/embed.md "Token format"). The host app is iss.
type Claims struct {
	jwt.Claims
	Name     string         `json:"name"`
	Email    string         `json:"email,omitempty"`
	Picture  string         `json:"picture,omitempty"`
	Contexts []ContextGrant `json:"ctx"`
}

var (
	// AppIDRe is a host app id: lower-case, short, safe in env var names and session keys.
	AppIDRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	subjectRe  = regexp.MustCompile(`^[A-Za-z0-9._:@+|-]{1,128}$`)
	jtiRe      = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)
	ContextRe  = regexp.MustCompile(`^[A-Za-z0-9._:/-]{1,128}$`)
	publicAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}
	secretAlgs = []jose.SignatureAlgorithm{jose.HS256}
)

// Replay remembers token ids across instances (*store.DB's ClaimOnce: PostgreSQL when several
// instances share it). ClaimOnce reports true only to the first caller of a key until ttl.
type Replay interface {
	ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Verifier verifies host tokens. It is safe for concurrent use.
type Verifier struct {
	apps        map[string]*App
	audience    []string
	replay      Replay
	now         func() time.Time
	maxLifetime time.Duration
	leeway      time.Duration
}

// VerifierConfig configures a Verifier. Apps, Audience and Replay are required.
type VerifierConfig struct {
	Apps     []*App
	Audience []string // accepted aud values (this clawchat's public URL)
	Replay   Replay
	Now      func() time.Time
	// MaxLifetime bounds exp − now (default 15 minutes): tokens are for minutes, and a jti is
	// remembered only until exp.
	MaxLifetime time.Duration
	Leeway      time.Duration // clock skew allowed on exp/nbf/iat (default 30s)
}

// NewVerifier returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.Audience) == 0 || cfg.Replay == nil {
		return nil, errors.New("embed: verifier needs an audience and a replay store")
	}
	v := &Verifier{apps: map[string]*App{}, audience: cfg.Audience, replay: cfg.Replay, now: cfg.Now,
		maxLifetime: cfg.MaxLifetime, leeway: cfg.Leeway}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxLifetime <= 0 {
		v.maxLifetime = defaultMaxLifetime
	}
	if v.leeway <= 0 {
		v.leeway = defaultLeeway
	}
	for _, a := range cfg.Apps {
		if _, dup := v.apps[a.ID]; dup {
			return nil, fmt.Errorf("embed: host app %q configured twice", a.ID)
		}
		v.apps[a.ID] = a
	}
	return v, nil
}

// App returns the configured host app id, or nil.
func (v *Verifier) App(id string) *App { return v.apps[id] }

// Verify checks token and returns its claims, or a *Refusal. In order: shape, the claimed app
// (iss), the algorithm allowed for that app's keys, the signature, exp/nbf/iat with leeway, aud,
// the lifetime bound, the required claims, and last the jti replay check (so a refused token
// never burns its jti).
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if len(token) > maxTokenBytes || strings.Count(token, ".") != 2 {
		return Claims{}, refuse(ReasonMalformed, "the token is not a compact JWT", nil)
	}
	alg, err := headerAlg(token)
	if err != nil {
		return Claims{}, refuse(ReasonMalformed, "the token header is unreadable", err)
	}
	var unverified Claims
	parsed, perr := jwt.ParseSigned(token, append(slices.Clone(publicAlgs), secretAlgs...))
	if perr != nil {
		if alg != "" && !slices.Contains(append(slices.Clone(publicAlgs), secretAlgs...), jose.SignatureAlgorithm(alg)) {
			return Claims{}, refuse(ReasonAlgorithm, fmt.Sprintf("algorithm %q is not accepted (use EdDSA, ES256 or HS256)", truncate(alg, 16)), perr)
		}
		return Claims{}, refuse(ReasonMalformed, "the token is not a well-formed JWS", perr)
	}
	if err := parsed.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return Claims{}, refuse(ReasonMalformed, "the token's claims are unreadable", err)
	}
	app := v.apps[unverified.Issuer]
	if app == nil {
		return Claims{}, refuse(ReasonUnknownApp, "iss names no host app configured here", nil)
	}
	withApp := func(r *Refusal) *Refusal { r.App = app.ID; return r }
	if !slices.Contains(app.algorithms(), jose.SignatureAlgorithm(alg)) {
		return Claims{}, withApp(refuse(ReasonAlgorithm, fmt.Sprintf("algorithm %q is not accepted for host app %s", truncate(alg, 16), app.ID), nil))
	}
	keys, err := app.verificationKeys(ctx, parsed.Headers[0].KeyID)
	if err != nil {
		return Claims{}, withApp(refuse(ReasonKeys, "the host app's keys are not available; try again shortly", err))
	}
	var c Claims
	verified := false
	for _, k := range keys {
		if parsed.Claims(k, &c) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return Claims{}, withApp(refuse(ReasonSignature, "the signature does not verify with the host app's keys", nil))
	}
	now := v.now()
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: app.ID, Time: now}, v.leeway); err != nil {
		switch {
		case errors.Is(err, jwt.ErrExpired):
			return Claims{}, withApp(refuse(ReasonExpired, "the token has expired; ask the host app for a new one", err))
		case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
			return Claims{}, withApp(refuse(ReasonNotYetValid, "the token is not valid yet (check the host's clock)", err))
		}
		return Claims{}, withApp(refuse(ReasonClaims, "the token's registered claims are invalid", err))
	}
	if c.Expiry == nil {
		return Claims{}, withApp(refuse(ReasonClaims, "exp is required", nil))
	}
	if !slices.ContainsFunc(v.audience, func(a string) bool { return c.Audience.Contains(a) }) {
		return Claims{}, withApp(refuse(ReasonAudience, "aud does not name this clawchat", nil))
	}
	exp := c.Expiry.Time()
	if exp.Sub(now) > v.maxLifetime {
		return Claims{}, withApp(refuse(ReasonLifetime, fmt.Sprintf("exp is more than %s away; tokens are short-lived", v.maxLifetime), nil))
	}
	if err := checkClaims(c); err != nil {
		return Claims{}, withApp(refuse(ReasonClaims, err.Error(), nil))
	}
	// The replay check is last: a refused token never burns its jti. The key is per app, and
	// remembered until exp (plus the leeway a late clock could still accept it in).
	first, err := v.replay.ClaimOnce(ctx, replayKeyPrefix+app.ID+":"+c.ID, exp.Sub(now)+v.leeway)
	if err != nil {
		return Claims{}, withApp(refuse(ReasonKeys, "the token could not be checked for replay; try again", err))
	}
	if !first {
		return Claims{}, withApp(refuse(ReasonReplayed, "this token was already used (jti); ask the host app for a new one", nil))
	}
	return c, nil
}

func checkClaims(c Claims) error {
	switch {
	case !subjectRe.MatchString(c.Subject):
		return errors.New("sub must be the user's stable id: 1–128 characters of [A-Za-z0-9._:@+|-]")
	case !jtiRe.MatchString(c.ID):
		return errors.New("jti must be a unique id: 8–128 characters of [A-Za-z0-9._:-]")
	case strings.TrimSpace(c.Name) == "" || len(c.Name) > 200:
		return errors.New("name must be the user's display name (1–200 bytes)")
	case len(c.Email) > 254, len(c.Picture) > 2048:
		return errors.New("email or picture is too long")
	case c.Picture != "" && !strings.HasPrefix(c.Picture, "https://"):
		return errors.New("picture must be an https:// URL")
	case len(c.Contexts) > maxContextsPerToken:
		return fmt.Errorf("ctx lists more than %d contexts", maxContextsPerToken)
	}
	seen := map[string]bool{}
	for _, g := range c.Contexts {
		if !ContextRe.MatchString(g.ID) {
			return errors.New("each ctx entry needs an id of 1–128 characters of [A-Za-z0-9._:/-]")
		}
		if !chat.ValidEmbedRole(g.Role) {
			return fmt.Errorf("ctx %s: role must be %q or %q", g.ID, chat.EmbedRoleEditor, chat.EmbedRoleViewer)
		}
		if seen[g.ID] {
			return fmt.Errorf("ctx %s is listed twice", g.ID)
		}
		if len(g.Title) > 200 {
			return fmt.Errorf("ctx %s: title longer than 200 bytes", g.ID)
		}
		seen[g.ID] = true
	}
	return nil
}

// headerAlg returns the (unverified) alg of a compact JWS, to name it in a refusal.
func headerAlg(token string) (string, error) {
	h, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", err
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		return "", err
	}
	return hdr.Alg, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
