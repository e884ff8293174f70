package httpapi

import (
	"net/http"

	"github.com/clawchat/clawchat/internal/chat"
)

// search is GET /api/search?q=…: messages of the user's own conversations containing every word
// of q (docs/api.md).
func (a *api) search(w http.ResponseWriter, r *http.Request, u chat.User) {
	hits, err := a.d.Bridge.Search(r.Context(), u, r.URL.Query().Get("q"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": hits})
}
