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
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/wsconn"
)

// Limiter is a per-key request limiter (internal/ratelimit can satisfy it). Allow reports whether a
// request for key may proceed and, if not, when to retry.
type Limiter interface {
	Allow(key string) (ok bool, retryAfter time.Duration)
}

// Reactions is the reaction service (internal/reactions implements it): it checks that the user
// may see the conversation, validates ids and emoji, and tells the user's devices. Errors are chat
// sentinels.
type Reactions interface {
	// Conversation returns u's reactions in conversation id: message id → emoji → names.
	Conversation(ctx context.Context, u chat.User, id string) (map[string]map[string][]string, error)
	// Message returns u's reactions to one message: emoji → names.
	Message(ctx context.Context, u chat.User, id, msgID string) (map[string][]string, error)
	// Toggle adds or removes u's emoji reaction and tells u's devices; it reports whether it
	// added it and returns the message's reactions now.
	Toggle(ctx context.Context, u chat.User, id, msgID, emoji string) (bool, map[string][]string, error)
}

// Deps are the collaborators of the HTTP API. Bridge, Hub and Authenticate are required.
type Deps struct {
	Bridge *bridge.Service
	Hub    *hub.Hub
	// Authenticate returns the signed-in user of r (session cookie), or false.
	Authenticate func(*http.Request) (chat.User, bool)
	// Credential names what authenticated r (a session id, never the cookie token), and
	// Revalidate returns the current user behind such a name, or false once the session ended or
	// the account is gone. With both set, every WebSocket request is authorized with the user's
	// current session and role (not the ones of the upgrade), and Recheck can end connections at
	// once. Optional (tests); the server always sets them.
	Credential func(*http.Request) string
	Revalidate func(ctx context.Context, credential string) (chat.User, bool)
	// OriginAllowed reports whether r comes from a trusted origin (same site); used for the
	// WebSocket upgrade (a GET, which CrossOrigin lets through). nil allows everything (tests only).
	OriginAllowed func(*http.Request) bool
	// CrossOrigin is the cross-origin protection of state-changing requests (websec.CrossOrigin),
	// applied once, first, to every route. nil applies none (tests only).
	CrossOrigin func(http.Handler) http.Handler
	// Ready reports readiness for /readyz.
	Ready func() (bool, string)
	// Limiter limits API requests per user (nil: no limit).
	Limiter Limiter
	// Reactions serves the reaction routes (nil: they answer 404).
	Reactions Reactions
	// Media reads the files users sent from the Gateway (GET /api/sessions/{key}/media; nil:
	// that route answers 404). MaxMediaBytes bounds one file (0: 20 MB).
	Media         MediaFetcher
	MaxMediaBytes int64
	// Login and Logout are mounted at POST /login and POST /logout when set.
	Login, Logout http.Handler
	// Handlers are the routes whose logic lives in other packages; routes.go mounts them.
	Handlers Handlers
	Logger   *slog.Logger
	// Instrument wraps the route multiplexer (after authentication), so that it sees the
	// request the mux matched and can read r.Pattern (metrics by route). Optional.
	Instrument func(http.Handler) http.Handler
	// MaxConnectionsPerUser caps a user's open WebSocket and SSE connections, counted together
	// at the upgrade (0: no cap). A connection over the cap is refused with 429.
	MaxConnectionsPerUser int

	PingInterval  time.Duration // WebSocket and SSE keepalive, default 25s
	WriteTimeout  time.Duration // per WebSocket write, default 10s
	MaxWSMessage  int64         // WebSocket read limit, default 8 MiB (attachments)
	MaxJSONBody   int64         // REST request bodies, default 8 MiB
	MaxWSInFlight int           // concurrent requests per WebSocket, default 8 (the web app queues beyond it: web/src/socket.ts)
}

// Handlers are the handlers of routes that other packages own (auth, push, metrics, the web
// app). routes.go mounts each one that is set, so it alone is the route table of the server; a
// nil handler's route is not served (API paths then answer 404 JSON).
type Handlers struct {
	Config       http.Handler // GET /api/config (public)
	LoginOptions http.Handler // GET /api/login-options (public; miso-chat)
	AuthStatus   http.Handler // GET /api/auth (public; miso-chat)
	OIDCLogin    http.Handler // GET /auth/oidc/login
	OIDCCallback http.Handler // GET /auth/oidc/callback
	Metrics      http.Handler // GET /metrics (with its own address allowlist)
	// PushSubscribe and PushUnsubscribe are POST and DELETE /api/push/subscriptions (signed in).
	PushSubscribe, PushUnsubscribe http.Handler
	// LogoutAll is POST /api/account/logout-all and Password POST /api/account/password (signed
	// in; the user is in the request context, chat.UserFrom).
	LogoutAll, Password http.Handler
	// App serves everything else outside /api/ and /ws: the web app.
	App http.Handler
	// Embedding (internal/embed, docs/embed.md), all nil unless host apps are configured:
	// EmbedFrame is GET /embed, EmbedLoader GET /clawchat-embed.js, EmbedConfig GET
	// /embed/config and EmbedSession POST /embed/session (public: the token exchange);
	// EmbedConversations GET and EmbedCreate POST /api/embed/conversations, EmbedSend POST
	// /api/embed/conversations/{id}/messages and EmbedContexts GET
	// /api/embed/conversations/{id}/contexts (signed in; the user is in the request context).
	EmbedFrame, EmbedLoader, EmbedConfig, EmbedSession        http.Handler
	EmbedConversations, EmbedCreate, EmbedSend, EmbedContexts http.Handler
}

type api struct {
	d   Deps
	log *slog.Logger

	// shutdown is closed by API.Shutdown; SSE streams end on it.
	shutdown     chan struct{}
	shutdownOnce sync.Once
	connsMu      sync.Mutex
	conns        map[*wsConn]struct{}    // live WebSockets, closed with 1012 by Shutdown
	streams      map[*sseStream]struct{} // live SSE streams on the event loop, ended by Shutdown
	wsServer     *wsconn.Server          // reads every /ws connection (ws.go)

	liveMu sync.Mutex
	live   map[string]map[*liveConn]struct{} // open WebSocket and SSE connections by user id (live.go)
}

// API is the HTTP handler of the API. It is safe for concurrent use.
type API struct {
	a *api
	h http.Handler
}

// ServeHTTP implements http.Handler.
func (x *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { x.h.ServeHTTP(w, r) }

// Shutdown tells every connected browser to go away and come back (to this instance after a
// restart, or to another one): each WebSocket gets a server.restart event and is closed with
// 1012 (service restart), and every SSE stream ends (EventSource reconnects by itself and
// resumes with Last-Event-ID). Call it before http.Server.Shutdown, which does not track
// hijacked connections. Later WebSocket upgrades are closed at once with 1012.
func (x *API) Shutdown() {
	a := x.a
	a.shutdownOnce.Do(func() { close(a.shutdown) })
	a.connsMu.Lock()
	conns := make([]*wsConn, 0, len(a.conns))
	for c := range a.conns {
		conns = append(conns, c)
	}
	streams := make([]*sseStream, 0, len(a.streams))
	for s := range a.streams {
		streams = append(streams, s)
	}
	a.connsMu.Unlock()
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Go(s.goAway)
	}
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.goAway()
		}()
	}
	wg.Wait()
}

// New returns the HTTP handler of the API. It panics if a required dependency is missing
// (a wiring bug).
func New(d Deps) *API {
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
		d.MaxWSInFlight = 8
	}
	if (d.Credential == nil) != (d.Revalidate == nil) {
		panic("httpapi: set both Credential and Revalidate, or neither")
	}
	a := &api{d: d, log: d.Logger, shutdown: make(chan struct{}), conns: map[*wsConn]struct{}{}, streams: map[*sseStream]struct{}{}, live: map[string]map[*liveConn]struct{}{}}
	a.wsServer = newWSServer(d)
	return &API{a: a, h: a.routes()}
}

type userHandler func(w http.ResponseWriter, r *http.Request, u chat.User)

// authed wraps h: over the per-user limit → 429. Authentication and the cross-origin check
// happened once, in guard, which put the user into the context; a request without one (a route
// outside guard's reach) is 401.
func (a *api) authed(h userHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := chat.UserFrom(r.Context())
		if !ok {
			writeError(w, errUnauthorized)
			return
		}
		if a.d.Limiter != nil {
			if ok, retry := a.d.Limiter.Allow("user:" + u.ID); !ok {
				w.Header().Set("Retry-After", retryAfter(retry))
				writeError(w, errTooManyRequests)
				return
			}
		}
		h(w, r, u)
	})
}
