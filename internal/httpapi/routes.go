package httpapi

import (
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/clawchat/clawchat/internal/chat"
)

// routes declares every route of the server in one place: the API's own and, from Deps.Handlers
// and Deps.Login/Logout, the ones whose logic lives in other packages.
func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mount := func(pattern string, h http.Handler) {
		if h != nil {
			mux.Handle(pattern, h)
		}
	}
	x := a.d.Handlers

	// Public (guard lets these through without a session).
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /api/health", a.health)
	mount("GET /api/config", x.Config)
	mount("GET /api/login-options", x.LoginOptions)
	mount("GET /api/auth", x.AuthStatus)
	mount("POST /login", a.d.Login)
	mount("GET /auth/oidc/login", x.OIDCLogin)
	mount("GET /auth/oidc/callback", x.OIDCCallback)
	mount("GET /metrics", x.Metrics)
	mount("GET /embed", x.EmbedFrame)
	mount("GET /clawchat-embed.js", x.EmbedLoader)
	mount("GET /embed/config", x.EmbedConfig)
	mount("POST /embed/session", x.EmbedSession)
	mount("/", x.App)

	// Signed in.
	mount("POST /logout", a.d.Logout)
	mux.Handle("GET /ws", http.HandlerFunc(a.ws))
	mux.Handle("GET /api/me", a.authed(a.me))
	mux.Handle("GET /api/sessions", a.authed(a.listSessions))
	mux.Handle("POST /api/sessions", a.authed(a.createSession))
	mux.Handle("PATCH /api/sessions/{key}", a.authed(a.updateSession))
	mux.Handle("DELETE /api/sessions/{key}", a.authed(a.deleteSession))
	mux.Handle("GET /api/sessions/{key}/history", a.authed(a.history))
	mux.Handle("GET /api/sessions/{key}/media", a.authed(a.media))
	mux.Handle("GET /api/sessions/{key}/settings", a.authed(a.settings))
	mux.Handle("PATCH /api/sessions/{key}/settings", a.authed(a.updateSettings))
	mux.Handle("POST /api/sessions/{key}/send", a.authed(a.send))
	mux.Handle("POST /api/sessions/{key}/abort", a.authed(a.abort))
	mux.Handle("GET /api/events", a.authed(a.events))
	mux.Handle("GET /api/search", a.authed(a.search))
	mux.Handle("GET /api/reactions/{key}", a.authed(a.conversationReactions))
	mux.Handle("GET /api/messages/{id}/reactions", a.authed(a.messageReactions))
	mux.Handle("POST /api/messages/{id}/reactions", a.authed(a.toggleReaction))
	mux.Handle("GET /api/approvals", a.authed(a.listApprovals))
	mux.Handle("POST /api/approvals/{id}", a.authed(a.resolveApproval))
	mount("POST /api/push/subscriptions", wrapAuthed(a, x.PushSubscribe))
	mount("DELETE /api/push/subscriptions", wrapAuthed(a, x.PushUnsubscribe))
	mount("POST /api/account/logout-all", wrapAuthed(a, x.LogoutAll))
	mount("POST /api/account/password", wrapAuthed(a, x.Password))
	mount("GET /api/embed/conversations", wrapAuthed(a, x.EmbedConversations))
	mount("POST /api/embed/conversations", wrapAuthed(a, x.EmbedCreate))
	mount("POST /api/embed/conversations/{id}/messages", wrapAuthed(a, x.EmbedSend))
	mount("GET /api/embed/conversations/{id}/contexts", wrapAuthed(a, x.EmbedContexts))

	// Anything else under /api/ is a JSON 404 (after authentication, below).
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such route"})
	}))
	var h http.Handler = mux
	if a.d.Instrument != nil {
		h = a.d.Instrument(mux)
	}
	return a.guard(h)
}

// guard runs before the mux: first the cross-origin protection of state-changing requests
// (Deps.CrossOrigin, every route); then every /api/ and /ws request without a session is 401 JSON
// (never a redirect, even for unclean paths), and unclean API paths (../, %2e%2e, //) are 404
// rather than the mux's redirect.
func (a *api) guard(mux http.Handler) http.Handler {
	public := map[string]bool{"/api/health": true, "/api/config": true, "/api/login-options": true, "/api/auth": true}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/ws" || strings.HasPrefix(p, "/api/") || p == "/api" {
			if !public[p] {
				u, ok := a.d.Authenticate(r)
				if !ok || u.ID == "" {
					writeError(w, errUnauthorized)
					return
				}
				r = r.WithContext(chat.WithUser(r.Context(), u))
			}
			if clean := path.Clean(p); clean != p && clean+"/" != p || strings.Contains(r.URL.RawPath, "%2") || slices.Contains(strings.Split(p, "/"), "..") {
				writeError(w, errNotFoundRoute)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
	if a.d.CrossOrigin != nil {
		return a.d.CrossOrigin(h)
	}
	return h
}

// wrapAuthed gives a handler of another package the per-user limit of the API's own routes
// (authentication already happened in guard); nil stays nil.
func wrapAuthed(a *api, h http.Handler) http.Handler {
	if h == nil {
		return nil
	}
	return a.authed(func(w http.ResponseWriter, r *http.Request, _ chat.User) { h.ServeHTTP(w, r) })
}
