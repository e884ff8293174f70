package app

import (
	"net/http"

	"github.com/clawchat/clawchat/internal/auth"
	"github.com/clawchat/clawchat/internal/httpjson"
)

// miso-chat compatibility endpoints (docs/migrate-from-miso.md): what miso-chat's sign-in page
// and post-deploy smoke script ask before and after signing in. Both are public and reveal no
// more than GET /api/config.

// misoAuthMode is miso-chat's authMode word for clawchat's sign-in methods. clawchat always
// requires sign-in (miso-chat's "none" mode does not exist).
func misoAuthMode(pc auth.PublicConfig) string {
	if pc.OIDC.Enabled && !pc.Local {
		return "oidc"
	}
	return "local"
}

// loginOptions is GET /api/login-options.
func (s *server) loginOptions(w http.ResponseWriter, _ *http.Request) {
	pc := s.auth.PublicConfig()
	httpjson.Write(w, http.StatusOK, map[string]any{
		"authMode":         misoAuthMode(pc),
		"requiresAuth":     true,
		"localAuthEnabled": pc.Local,
		"oidcEnabled":      pc.OIDC.Enabled,
		"oidcLabel":        pc.OIDC.Label,
	})
}

// authStatus is GET /api/auth: {"authenticated":bool,…}. Signed out is 200 with
// authenticated false, as miso-chat answers.
func (s *server) authStatus(w http.ResponseWriter, r *http.Request) {
	pc := s.auth.PublicConfig()
	body := map[string]any{
		"authenticated": false,
		"authMode":      misoAuthMode(pc),
		"requiresAuth":  true,
		"oidc":          pc.OIDC.Enabled,
	}
	if u, ok := s.auth.Authenticate(r); ok {
		body["authenticated"] = true
		body["user"] = map[string]any{"id": u.ID, "name": u.Name, "username": u.Name, "role": u.Role}
	}
	httpjson.Write(w, http.StatusOK, body)
}
