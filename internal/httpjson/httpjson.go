// Package httpjson is clawchat's one JSON edge for HTTP: the writer every handler answers with
// (auth, push, httpapi, websec), the error shape {"error":{"code":…,"message":…}}, the catalog that
// maps errors to a status, a stable code and a message safe to show, and the strict body decoder.
// It imports only internal/chat. Nothing here keeps state.
package httpjson

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

// Error is an error answer: HTTP status, stable code, and a message safe to show. Handlers may
// return or write one directly for conditions of their own (for example an unknown route).
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errors every surface answers the same way.
var (
	ErrUnauthorized    = &Error{http.StatusUnauthorized, "unauthorized", "sign in first"}
	ErrForeignOrigin   = &Error{http.StatusForbidden, "forbidden", "cross-site request refused"}
	ErrTooManyRequests = &Error{http.StatusTooManyRequests, "rate_limited", "too many requests"}
	ErrInternal        = &Error{http.StatusInternalServerError, "internal", "internal error"}
)

// catalog maps the chat sentinels to HTTP status, stable code and the message shown when the
// error carries no public text. The order matters: the first match wins.
var catalog = [...]struct {
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

// Classify returns the answer for err:
//   - an *Error anywhere in the chain is answered as it is;
//   - a chat sentinel gets its catalog status and code, and as message the text of a chat.Public
//     error in the chain, else (the convention the bridge still uses) the text before
//     ": <sentinel>" when err reads exactly "<text>: <sentinel>" and the text names no internal
//     package, else the catalog's generic message. Every not-found reads the same, whatever the
//     cause, so existence never leaks;
//   - anything else is 500 "internal error": its text is never shown, it may name internals.
func Classify(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	for _, c := range catalog {
		if !errors.Is(err, c.err) {
			continue
		}
		msg := c.generic
		if c.err != chat.ErrNotFound {
			if m, ok := chat.PublicMessage(err); ok && m != "" {
				msg = m
			} else if m, ok := strings.CutSuffix(err.Error(), ": "+c.err.Error()); ok && m != "" && !strings.Contains(m, "bridge:") {
				msg = m
			}
		}
		return &Error{c.status, c.code, msg}
	}
	return ErrInternal
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError answers err as Classify says. A rate-limited answer without a Retry-After header
// gets "Retry-After: 1".
func WriteError(w http.ResponseWriter, err error) {
	e := Classify(err)
	if e.Code == "rate_limited" && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	var b errorBody
	b.Error.Code, b.Error.Message = e.Code, e.Message
	Write(w, e.Status, b)
}

// Fail answers status with code and message; both must be constant, safe strings.
func Fail(w http.ResponseWriter, status int, code, message string) {
	WriteError(w, &Error{status, code, message})
}

// Write answers status with v as JSON (one line), with Content-Type, Cache-Control: no-store and
// X-Content-Type-Options: nosniff. A value that cannot be encoded becomes a 500 internal error.
func Write(w http.ResponseWriter, status int, v any) {
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

// RetryAfter formats d as a Retry-After value in whole seconds, at least 1.
func RetryAfter(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	return strconv.Itoa(max(s, 1))
}

// Decode reads a JSON body of at most limit bytes with no unknown fields and nothing after it into
// v. An empty body is allowed when allowEmpty. Errors wrap chat.ErrTooLarge or chat.ErrInvalid
// with a public message.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any, allowEmpty bool) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if allowEmpty && err.Error() == "EOF" {
			return nil
		}
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return chat.Public(chat.ErrTooLarge, fmt.Sprintf("request body larger than %d bytes", limit))
		}
		return chat.Public(chat.ErrInvalid, "invalid JSON body ("+Problem(err)+")")
	}
	if dec.More() {
		return chat.Public(chat.ErrInvalid, "invalid JSON body (trailing data)")
	}
	return nil
}

// Problem is encoding/json's description of a syntax or type problem in a request, which names
// only JSON positions, field names and Go types of the request structs: safe to show, cut to 120
// bytes.
func Problem(err error) string {
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}
