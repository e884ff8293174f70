package httpapi

import (
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/clawchat/clawchat/internal/chat"
)

// routes declares every route of the API in one place.
func (a *api) routes() http.Handler {
	mux := http.NewServeMux()

	// Public.
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /api/health", a.health)
	if a.d.Login != nil {
		mux.Handle("POST /login", a.d.Login)
	}

	// Signed in.
	if a.d.Logout != nil {
		mux.Handle("POST /logout", a.d.Logout)
	}
	mux.Handle("GET /ws", http.HandlerFunc(a.ws))
	mux.Handle("GET /api/me", a.authed(a.me))
	mux.Handle("GET /api/sessions", a.authed(a.listSessions))
	mux.Handle("POST /api/sessions", a.authed(a.createSession))
	mux.Handle("PATCH /api/sessions/{key}", a.authed(a.updateSession))
	mux.Handle("DELETE /api/sessions/{key}", a.authed(a.deleteSession))
	mux.Handle("GET /api/sessions/{key}/history", a.authed(a.history))
	mux.Handle("POST /api/sessions/{key}/send", a.authed(a.send))
	mux.Handle("POST /api/sessions/{key}/abort", a.authed(a.abort))
	mux.Handle("GET /api/events", a.authed(a.events))
	mux.Handle("GET /api/reactions/{key}", a.authed(a.conversationReactions))
	mux.Handle("GET /api/messages/{id}/reactions", a.authed(a.messageReactions))
	mux.Handle("POST /api/messages/{id}/reactions", a.authed(a.toggleReaction))
	mux.Handle("GET /api/approvals", a.authed(a.listApprovals))
	mux.Handle("POST /api/approvals/{id}", a.authed(a.resolveApproval))

	for pattern, h := range a.d.Extra {
		mux.Handle(pattern, h)
	}
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
	public := map[string]bool{"/api/health": true}
	for _, p := range a.d.Public {
		_, route, _ := strings.Cut(p, " ")
		if route == "" {
			route = p
		}
		public[route] = true
	}
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
