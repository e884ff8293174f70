package httpapi

import (
	"net/http"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
)

// settings is GET /api/sessions/{key}/settings: the conversation's agent, model, thinking level
// and permission mode, and the models and levels the user may pick (docs/api.md).
func (a *api) settings(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := convKey(r)
	if !ok {
		writeError(w, errNotFoundRoute)
		return
	}
	st, err := a.d.Bridge.Settings(r.Context(), u, key)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// updateSettings is PATCH /api/sessions/{key}/settings {"model"?, "thinkingLevel"?}.
func (a *api) updateSettings(w http.ResponseWriter, r *http.Request, u chat.User) {
	key, ok := convKey(r)
	if !ok {
		writeError(w, errNotFoundRoute)
		return
	}
	var b bridge.SettingsParams
	if err := decodeJSON(w, r, 4<<10, &b, false); err != nil {
		writeError(w, err)
		return
	}
	st, err := a.d.Bridge.UpdateSettings(r.Context(), u, key, b)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
