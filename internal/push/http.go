package push

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/clawchat/clawchat/internal/chat"
)

// maxRequestBytes bounds a subscription request body; a real one is under 1 KiB.
const maxRequestBytes = 8 << 10

// PostSubscription handles POST /api/push/subscriptions: the body is a browser
// PushSubscription.toJSON(); it answers 201 {"ok":true}. The user comes from
// chat.UserFrom(r.Context()) (401 JSON without one). Invalid subscriptions get 400 with a
// message that never quotes the keys.
func (s *Service) PostSubscription(w http.ResponseWriter, r *http.Request) {
	u, ok := chat.UserFrom(r.Context())
	if !ok || u.ID == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "sign in first")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "subscription too large")
		return
	}
	sessionID := ""
	if s.cfg.SessionID != nil {
		sessionID = s.cfg.SessionID(r)
	}
	if err := s.SubscribeSession(r.Context(), u.ID, sessionID, body); err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]bool{"ok": true})
}

// DeleteSubscription handles DELETE /api/push/subscriptions with body {"endpoint":"…"}: it
// removes that subscription if it is the signed-in user's and answers 204 either way.
func (s *Service) DeleteSubscription(w http.ResponseWriter, r *http.Request) {
	u, ok := chat.UserFrom(r.Context())
	if !ok || u.ID == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "sign in first")
		return
	}
	var in struct {
		Endpoint string `json:"endpoint"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&in); err != nil || in.Endpoint == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "body must be {\"endpoint\":\"…\"}")
		return
	}
	if err := s.Unsubscribe(r.Context(), u.ID, in.Endpoint); err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, chat.ErrConflict) {
		writeError(w, http.StatusConflict, "conflict", "this push endpoint is registered to another account; subscribe again to get a new one")
		return
	}
	if errors.Is(err, chat.ErrInvalid) {
		// Our validation messages are fixed strings without input echoed back.
		writeError(w, http.StatusBadRequest, "bad_request", publicMessage(err))
		return
	}
	s.log.ErrorContext(r.Context(), "push subscription request failed", "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error")
}

// publicMessage strips the "push: subscribe: invalid request: " prefix from a validation error.
func publicMessage(err error) string {
	msg := err.Error()
	marker := chat.ErrInvalid.Error() + ": "
	if i := strings.Index(msg, marker); i >= 0 {
		return msg[i+len(marker):]
	}
	return "invalid push subscription"
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
