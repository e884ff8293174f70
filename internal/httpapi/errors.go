package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// apiError is an error answer: status, stable code, message safe to show.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Message }

var (
	errUnauthorized    = &apiError{http.StatusUnauthorized, "unauthorized", "sign in first"}
	errForeignOrigin   = &apiError{http.StatusForbidden, "forbidden", "cross-site request refused"}
	errTooManyRequests = &apiError{http.StatusTooManyRequests, "rate_limited", "too many requests"}
	errTooManyConns    = &apiError{http.StatusTooManyRequests, "limit_reached", "too many open connections for this account; close a tab or device"}
	errNotFoundRoute   = &apiError{http.StatusNotFound, "not_found", "conversation not found"}
)

// catalog maps chat sentinels to HTTP status and stable code. The order matters: the first match
// wins.
var catalog = []struct {
	err     error
	status  int
	code    string
	generic string
}{
	{chat.ErrNotFound, http.StatusNotFound, "not_found", "conversation not found"},
	{chat.ErrInvalid, http.StatusBadRequest, "bad_request", "invalid request"},
	{chat.ErrConflict, http.StatusConflict, "conflict", "conflict"},
	{chat.ErrForbidden, http.StatusForbidden, "forbidden", "forbidden"},
	{chat.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large", "too large"},
	{chat.ErrRateLimited, http.StatusTooManyRequests, "rate_limited", "too many requests"},
	{chat.ErrLimitReached, http.StatusConflict, "limit_reached", "limit reached"},
	{chat.ErrUnavailable, http.StatusServiceUnavailable, "gateway_unavailable", "the assistant is not reachable right now"},
}

// classify returns the answer for err. Unknown errors are 500 "internal error" (their text is
// never shown: it may name internals).
func classify(err error) *apiError {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae
	}
	for _, c := range catalog {
		if errors.Is(err, c.err) {
			msg := c.generic
			if c.err != chat.ErrNotFound { // every not-found reads the same, whatever the cause
				if m, ok := strings.CutSuffix(err.Error(), ": "+c.err.Error()); ok && m != "" && !strings.Contains(m, "bridge:") {
					msg = m
				}
			}
			return &apiError{c.status, c.code, msg}
		}
	}
	return &apiError{http.StatusInternalServerError, "internal", "internal error"}
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	ae := classify(err)
	if ae.Code == "rate_limited" && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	var b errorBody
	b.Error.Code, b.Error.Message = ae.Code, ae.Message
	writeJSON(w, ae.Status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func retryAfter(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	return strconv.Itoa(max(s, 1))
}

// decodeJSON reads a size-limited JSON body with no unknown fields into v. An empty body is
// allowed when allowEmpty.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, allowEmpty bool) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if allowEmpty && err.Error() == "EOF" {
			return nil
		}
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fmt.Errorf("request body larger than %d bytes: %w", limit, chat.ErrTooLarge)
		}
		return fmt.Errorf("invalid JSON body (%s): %w", jsonProblem(err), chat.ErrInvalid)
	}
	if dec.More() {
		return fmt.Errorf("invalid JSON body (trailing data): %w", chat.ErrInvalid)
	}
	return nil
}

func jsonProblem(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}
