package httpapi

import (
	"net/http"
	"time"

	"github.com/clawchat/clawchat/internal/httpjson"
)

// The API answers through internal/httpjson, clawchat's one JSON writer and error catalog; these
// short names keep the handlers readable.

type apiError = httpjson.Error

var (
	errUnauthorized    = httpjson.ErrUnauthorized
	errForeignOrigin   = httpjson.ErrForeignOrigin
	errTooManyRequests = httpjson.ErrTooManyRequests
	errTooManyConns    = &apiError{Status: http.StatusTooManyRequests, Code: "limit_reached", Message: "too many open connections for this account; close a tab or device"}
	errNotFoundRoute   = &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "conversation not found"}
)

func classify(err error) *apiError                       { return httpjson.Classify(err) }
func writeError(w http.ResponseWriter, err error)        { httpjson.WriteError(w, err) }
func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }
func retryAfter(d time.Duration) string                  { return httpjson.RetryAfter(d) }

func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, allowEmpty bool) error {
	return httpjson.Decode(w, r, limit, v, allowEmpty)
}
