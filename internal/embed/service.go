package embed

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/httpjson"
	"github.com/clawchat/clawchat/internal/ratelimit"
	"github.com/clawchat/clawchat/internal/websec"
)

// Store is the persistence embedding needs (*store.DB implements it).
type Store interface {
	Replay
	AccountByOIDC(ctx context.Context, issuer, subject string) (chat.Account, error)
	CreateAccount(ctx context.Context, a chat.Account) error
	UpdateAccount(ctx context.Context, a chat.Account) error
	Account(ctx context.Context, id string) (chat.Account, error)
	AppendAudit(ctx context.Context, e chat.AuditEntry) error
	CreateEmbedSession(ctx context.Context, s chat.EmbedSession) error
	EmbedSession(ctx context.Context, id string) (chat.EmbedSession, error)
	DeleteExpiredEmbedSessions(ctx context.Context, now time.Time) (int, error)
	PutMessageContext(ctx context.Context, m chat.MessageContext) error
	MessageContexts(ctx context.Context, userID, conversationID string) ([]chat.MessageContext, error)
}

// Chat is the part of the chat service the embedded frame's own routes use (app adapts the
// bridge to it). Errors are chat sentinels; a conversation the user may not see is
// chat.ErrNotFound.
type Chat interface {
	// ContextConversations lists u's conversations in context (app, id), newest first.
	ContextConversations(ctx context.Context, u chat.User, app, id string) ([]chat.ConversationView, error)
	// CreateInContext makes a conversation of u in context (app, id).
	CreateInContext(ctx context.Context, u chat.User, app, id, title string) (chat.ConversationView, error)
	// SendWithContext sends text to u's conversation with agentContext (the fence) delivered
	// to the agent only; it returns the message's run id and status (bridge.Send).
	SendWithContext(ctx context.Context, u chat.User, convID, text, clientID, agentContext string) (runID, status string, err error)
	// Get returns u's conversation (the same gate as every other route).
	Get(ctx context.Context, u chat.User, id string) (chat.ConversationView, error)
}

// Config configures a Service.
type Config struct {
	Verifier *Verifier
	Store    Store
	Chat     Chat // may be set later with SetChat (it is built after the service)
	Logger   *slog.Logger
	Now      func() time.Time
	// SessionTTL is how long a session a token was exchanged for lasts (default 1 hour). When it
	// ends the frame tells the host ("unauthorized") and the host gives it a new token.
	SessionTTL     time.Duration
	TrustedProxies []netip.Prefix
	MaxTextBytes   int // a message's text (default 32 KiB)
}

// Service is embedding's HTTP side. Its methods are safe for concurrent use.
type Service struct {
	cfg      Config
	v        *Verifier
	st       Store
	chat     Chat
	shared   Shared
	locks    keyLocks
	log      *slog.Logger
	now      func() time.Time
	limiters map[string]*ratelimit.Limiter // per app
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Verifier == nil || cfg.Store == nil {
		return nil, errors.New("embed: Verifier and Store are required")
	}
	s := &Service{cfg: cfg, v: cfg.Verifier, st: cfg.Store, chat: cfg.Chat, log: cfg.Logger, now: cfg.Now, limiters: map[string]*ratelimit.Limiter{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.SessionTTL <= 0 {
		s.cfg.SessionTTL = time.Hour
	}
	if s.cfg.MaxTextBytes <= 0 {
		s.cfg.MaxTextBytes = 32 << 10
	}
	for id, a := range s.v.apps {
		if a.RequestsPerMinute > 0 {
			s.limiters[id] = ratelimit.New(ratelimit.Config{Rate: rate.Limit(float64(a.RequestsPerMinute) / 60), Burst: max(a.RequestsPerMinute/4, 10), Now: s.now})
		}
	}
	return s, nil
}

// SetChat sets the chat service (before serving).
func (s *Service) SetChat(c Chat) { s.chat = c }

// Issuer is the OIDC-issuer namespace under which a host app's users are accounts: the pair
// (Issuer(app), sub) identifies one, so vlad of app A is not vlad of app B, nor a local or
// single-sign-on account (real OIDC issuers are URLs).
func Issuer(app string) string { return "clawchat-embed:" + app }

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

var accountIDEncoding = base32NoPad()

// ---- token exchange ----

type exchangeRequest struct {
	Token string `json:"token"`
}

// SessionInfo is the answer of a token exchange.
type SessionInfo struct {
	Session   string         `json:"session"` // the bearer token; the frame keeps it in memory only
	ExpiresAt time.Time      `json:"expiresAt"`
	User      chat.User      `json:"user"`
	App       string         `json:"app"`
	Contexts  []ContextGrant `json:"contexts"`
}

// Exchange handles POST /embed/session {"token":"<host JWT>"}: it verifies the token, maps its
// user to their account (creating it on first sight), and answers a session (SessionInfo).
// Every token is audited, accepted or refused, with the reason; a refusal is 401 with code
// token_<reason> and a message that says what to fix.
func (s *Service) Exchange(w http.ResponseWriter, r *http.Request) {
	ip := websec.ClientIP(r, s.cfg.TrustedProxies).String()
	var req exchangeRequest
	if err := httpjson.Decode(w, r, maxTokenBytes+1024, &req, false); err != nil {
		httpjson.WriteError(w, err)
		return
	}
	ctx := r.Context()
	claims, err := s.v.Verify(ctx, strings.TrimSpace(req.Token))
	if err != nil {
		var ref *Refusal
		if !errors.As(err, &ref) {
			ref = refuse(ReasonMalformed, "the token could not be verified", err)
		}
		if ref.App != "" && !s.allow(ref.App) {
			s.audit(ctx, chat.AuditEntry{Action: "embed.token.refused", Target: ref.App, IP: ip, Detail: "reason=" + ReasonRateLimited})
			httpjson.Fail(w, http.StatusTooManyRequests, "rate_limited", "too many requests for this host app")
			return
		}
		detail := "reason=" + ref.Reason
		if ref.err != nil && ref.Reason != ReasonReplayed {
			detail += " (" + truncate(ref.err.Error(), 160) + ")"
		}
		s.audit(ctx, chat.AuditEntry{Action: "embed.token.refused", Target: ref.App, IP: ip, Detail: detail})
		httpjson.Fail(w, http.StatusUnauthorized, "token_"+ref.Reason, ref.Message)
		return
	}
	app := claims.Issuer
	if !s.allow(app) {
		s.audit(ctx, chat.AuditEntry{Action: "embed.token.refused", Target: app + ":" + claims.Subject, IP: ip, Detail: "reason=" + ReasonRateLimited})
		httpjson.Fail(w, http.StatusTooManyRequests, "rate_limited", "too many requests for this host app")
		return
	}
	acc, err := s.account(ctx, app, claims)
	if err != nil {
		s.log.Error("embed: map account", "app", app, "err", err)
		httpjson.WriteError(w, err)
		return
	}
	token := newToken()
	now := s.now().UTC()
	grants, shared := map[string]string{}, map[string]bool{}
	for _, g := range claims.Contexts {
		grants[g.ID] = g.Role
		if g.Shared {
			shared[g.ID] = true
		}
	}
	sess := chat.EmbedSession{ID: hashToken(token), UserID: acc.ID, App: app, Grants: grants, Shared: shared, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.st.CreateEmbedSession(ctx, sess); err != nil {
		s.log.Error("embed: create session", "err", err)
		httpjson.WriteError(w, httpjson.ErrInternal)
		return
	}
	s.audit(ctx, chat.AuditEntry{Action: "embed.token.accepted", Actor: acc.ID, Target: app + ":" + claims.Subject, IP: ip,
		Detail: fmt.Sprintf("jti=%s contexts=%d", claims.ID, len(claims.Contexts))})
	ctxs := claims.Contexts
	if ctxs == nil {
		ctxs = []ContextGrant{}
	}
	u := acc.User()
	httpjson.Write(w, http.StatusOK, SessionInfo{Session: token, ExpiresAt: sess.ExpiresAt, User: u, App: app, Contexts: ctxs})
}

// account returns the account of (app, sub), creating it (a member) on first sight and keeping
// its name and e-mail as the host says.
func (s *Service) account(ctx context.Context, app string, c Claims) (chat.Account, error) {
	iss := Issuer(app)
	name := strings.TrimSpace(c.Name)
	acc, err := s.st.AccountByOIDC(ctx, iss, c.Subject)
	switch {
	case err == nil:
		if acc.Disabled {
			return chat.Account{}, fmt.Errorf("this account is disabled: %w", chat.ErrForbidden)
		}
		if acc.DisplayName != name || acc.Email != c.Email {
			acc.DisplayName, acc.Email, acc.UpdatedAt = name, c.Email, s.now().UTC()
			if err := s.st.UpdateAccount(ctx, acc); err != nil {
				s.log.Warn("embed: update account", "err", err)
			}
		}
		return acc, nil
	case !errors.Is(err, chat.ErrNotFound):
		return chat.Account{}, fmt.Errorf("embed: load account: %w", err)
	}
	now := s.now().UTC()
	sum := sha256.Sum256([]byte(c.Subject))
	acc = chat.Account{
		ID: newAccountID(), Username: app + ":" + accountIDEncoding.EncodeToString(sum[:10]),
		DisplayName: name, Role: chat.RoleMember, OIDCIssuer: iss, OIDCSubject: c.Subject, Email: c.Email,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.st.CreateAccount(ctx, acc); err != nil {
		if errors.Is(err, chat.ErrConflict) { // a concurrent exchange created it
			if a, err := s.st.AccountByOIDC(ctx, iss, c.Subject); err == nil && !a.Disabled {
				return a, nil
			}
		}
		return chat.Account{}, fmt.Errorf("embed: create account: %w", err)
	}
	s.audit(ctx, chat.AuditEntry{Action: "user.provision", Actor: acc.ID, Target: acc.Username, Detail: "embed app=" + app})
	return acc, nil
}

func newAccountID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return accountIDEncoding.EncodeToString(b[:])
}

func (s *Service) allow(app string) bool {
	l := s.limiters[app]
	return l == nil || l.Allow("app")
}

func (s *Service) audit(ctx context.Context, e chat.AuditEntry) {
	if e.At.IsZero() {
		e.At = s.now().UTC()
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "audit", slog.String("action", e.Action), slog.String("actor", e.Actor),
		slog.String("target", e.Target), slog.String("ip", e.IP), slog.String("detail", e.Detail))
	if err := s.st.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Warn("embed: write audit entry", "err", err)
	}
}

// ---- bearer sessions ----

type sessionKey struct{}

type authed struct {
	user chat.User
	id   string
}

// bearer returns the bearer token of r, if it has one.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	t, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return "", false
	}
	return strings.TrimSpace(t), true
}

// HasBearer reports whether r carries an Authorization: Bearer header (such a request is never
// authenticated by a cookie as well).
func HasBearer(r *http.Request) bool {
	_, ok := bearer(r)
	return ok
}

// user returns the user of embed session id (the hash of the bearer token), or false when it
// is unknown, expired or its account is disabled or gone.
func (s *Service) user(ctx context.Context, id string) (chat.User, chat.EmbedSession, bool) {
	sess, err := s.st.EmbedSession(ctx, id)
	if err != nil {
		if !errors.Is(err, chat.ErrNotFound) {
			s.log.Error("embed: load session", "err", err)
		}
		return chat.User{}, chat.EmbedSession{}, false
	}
	if !s.now().Before(sess.ExpiresAt) || s.v.App(sess.App) == nil {
		return chat.User{}, chat.EmbedSession{}, false
	}
	acc, err := s.st.Account(ctx, sess.UserID)
	if err != nil || acc.Disabled || acc.OIDCIssuer != Issuer(sess.App) {
		return chat.User{}, chat.EmbedSession{}, false
	}
	u := acc.User()
	u.Role = chat.RoleMember
	u.Embed = &chat.EmbedScope{App: sess.App, Grants: sess.Grants, Shared: sess.Shared}
	return u, sess, true
}

// Middleware authenticates requests that carry an embed bearer token and applies the host
// app's rate limit to them (429); requests without one pass untouched. A bearer token that is
// not a live session is not an error here: Authenticate then reports no user, and the guard
// answers 401 (which the frame reports to the host as "unauthorized").
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok || tok == "" || len(tok) > 128 {
			next.ServeHTTP(w, r)
			return
		}
		u, sess, ok := s.user(r.Context(), hashToken(tok))
		if ok {
			if !s.allow(sess.App) {
				w.Header().Set("Retry-After", "5")
				httpjson.Fail(w, http.StatusTooManyRequests, "rate_limited", "too many requests for this host app")
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, authed{user: u, id: sess.ID}))
		}
		next.ServeHTTP(w, r)
	})
}

// Authenticate returns the embedded user Middleware found for r, or false.
func Authenticate(r *http.Request) (chat.User, bool) {
	a, ok := r.Context().Value(sessionKey{}).(authed)
	return a.user, ok
}

// Credential names r's embed session for Revalidate ("e:" and the session id), or "".
func Credential(r *http.Request) string {
	if a, ok := r.Context().Value(sessionKey{}).(authed); ok {
		return "e:" + a.id
	}
	return ""
}

// Revalidate returns the current user of a Credential, or false once the session expired or
// the account is disabled or gone.
func (s *Service) Revalidate(ctx context.Context, cred string) (chat.User, bool) {
	id, ok := strings.CutPrefix(cred, "e:")
	if !ok {
		return chat.User{}, false
	}
	u, _, ok := s.user(ctx, id)
	return u, ok
}

// Cleanup deletes expired embed sessions (the lead calls it with the session cleanup).
func (s *Service) Cleanup(ctx context.Context) (int, error) {
	return s.st.DeleteExpiredEmbedSessions(ctx, s.now().UTC())
}
