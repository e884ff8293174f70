// Package httpapi is clawchat's HTTP surface for browsers and scripts: the browser WebSocket
// (/ws), the REST + SSE API (miso-chat compatible routes), reactions and health endpoints
// (docs/api.md). It is the only package that knows HTTP status codes for chat errors
// (errors.go). Every route is declared in routes.go.
//
// Authentication, origin checks and sign-in come in as function values (Deps), so the package
// does not depend on a particular auth implementation.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/hub"
)

// Limiter is a per-key request limiter (internal/ratelimit can satisfy it). Allow reports whether a
// request for key may proceed and, if not, when to retry.
type Limiter interface {
	Allow(key string) (ok bool, retryAfter time.Duration)
}

// Reactions is the reaction storage (internal/store implements it). All calls are scoped to one
// user's conversation.
type Reactions interface {
	AddReaction(ctx context.Context, r chat.Reaction) error
	RemoveReaction(ctx context.Context, r chat.Reaction) error
	Reactions(ctx context.Context, userID, conversationID string) ([]chat.Reaction, error)
	MessageReactions(ctx context.Context, userID, conversationID, messageID string) ([]chat.Reaction, error)
}

// Deps are the collaborators of the HTTP API. Bridge, Hub and Authenticate are required.
type Deps struct {
	Bridge *bridge.Service
	Hub    *hub.Hub
	// Authenticate returns the signed-in user of r (session cookie), or false.
	Authenticate func(*http.Request) (chat.User, bool)
	// OriginAllowed reports whether r comes from a trusted origin (same site); used for the
	// WebSocket upgrade and state-changing requests. nil allows everything (tests only).
	OriginAllowed func(*http.Request) bool
	// Ready reports readiness for /readyz.
	Ready func() (bool, string)
	// Limiter limits API requests per user (nil: no limit).
	Limiter Limiter
	// Reactions stores reactions (nil: reaction routes answer 404).
	Reactions Reactions
	// Login and Logout are mounted at POST /login and POST /logout when set.
	Login, Logout http.Handler
	// Extra mounts more routes (ServeMux patterns, e.g. "GET /api/config", "POST
	// /api/push/subscriptions"); API routes among them get the same authentication as the rest unless
	// listed in Public.
	Extra map[string]http.Handler
	// Public lists the Extra patterns that need no session.
	Public []string
	Logger *slog.Logger

	PingInterval  time.Duration // WebSocket and SSE keepalive, default 25s
	WriteTimeout  time.Duration // per WebSocket write, default 10s
	MaxWSMessage  int64         // WebSocket read limit, default 8 MiB (attachments)
	MaxJSONBody   int64         // REST request bodies, default 8 MiB
	MaxWSInFlight int           // concurrent requests per WebSocket, default 4
}

type api struct {
	d   Deps
	log *slog.Logger
}

// New returns the HTTP handler of the API. It panics if a required dependency is missing
// (a wiring bug).
func New(d Deps) http.Handler {
	if d.Bridge == nil || d.Hub == nil || d.Authenticate == nil {
		panic("httpapi: Bridge, Hub and Authenticate are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.PingInterval <= 0 {
		d.PingInterval = 25 * time.Second
	}
	if d.WriteTimeout <= 0 {
		d.WriteTimeout = 10 * time.Second
	}
	if d.MaxWSMessage <= 0 {
		d.MaxWSMessage = 8 << 20
	}
	if d.MaxJSONBody <= 0 {
		d.MaxJSONBody = 8 << 20
	}
	if d.MaxWSInFlight <= 0 {
		d.MaxWSInFlight = 4
	}
	a := &api{d: d, log: d.Logger}
	return a.routes()
}

type userHandler func(w http.ResponseWriter, r *http.Request, u chat.User)

// authed wraps h: no session → 401 JSON; over the per-user limit → 429; state-changing requests
// from a foreign origin → 403.
func (a *api) authed(h userHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := chat.UserFrom(r.Context())
		if !ok {
			u, ok = a.d.Authenticate(r)
		}
		if !ok || u.ID == "" {
			writeError(w, errUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && a.d.OriginAllowed != nil && !a.d.OriginAllowed(r) {
			writeError(w, errForeignOrigin)
			return
		}
		if a.d.Limiter != nil {
			if ok, retry := a.d.Limiter.Allow("user:" + u.ID); !ok {
				w.Header().Set("Retry-After", retryAfter(retry))
				writeError(w, errTooManyRequests)
				return
			}
		}
		h(w, r.WithContext(chat.WithUser(r.Context(), u)), u)
	})
}
