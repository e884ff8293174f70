package push

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/httpjson"
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
		httpjson.WriteError(w, httpjson.ErrUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		httpjson.Fail(w, http.StatusRequestEntityTooLarge, "too_large", "subscription too large")
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
	httpjson.Write(w, http.StatusCreated, map[string]bool{"ok": true})
}

// DeleteSubscription handles DELETE /api/push/subscriptions with body {"endpoint":"…"}: it
// removes that subscription if it is the signed-in user's and answers 204 either way.
func (s *Service) DeleteSubscription(w http.ResponseWriter, r *http.Request) {
	u, ok := chat.UserFrom(r.Context())
	if !ok || u.ID == "" {
		httpjson.WriteError(w, httpjson.ErrUnauthorized)
		return
	}
	var in struct {
		Endpoint string `json:"endpoint"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&in); err != nil || in.Endpoint == "" {
		httpjson.Fail(w, http.StatusBadRequest, "bad_request", "body must be {\"endpoint\":\"…\"}")
		return
	}
	if err := s.Unsubscribe(r.Context(), u.ID, in.Endpoint); err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// conflictMessage is the answer for an endpoint registered to another account (see SubscribeSession).
const conflictMessage = "this push endpoint is registered to another account; subscribe again to get a new one"

func (s *Service) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, chat.ErrConflict):
		httpjson.Fail(w, http.StatusConflict, "conflict", conflictMessage)
	case errors.Is(err, chat.ErrInvalid):
		// Validation errors are chat.Public with fixed texts that never echo the input back.
		httpjson.WriteError(w, err)
	default:
		s.log.ErrorContext(r.Context(), "push subscription request failed", "err", err)
		httpjson.WriteError(w, httpjson.ErrInternal)
	}
}
