package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clawchat/clawchat/internal/chat"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"public text survives wrapping", fmt.Errorf("push: subscribe: %w", chat.Public(chat.ErrInvalid, "endpoint must use https")), 400, "bad_request", "endpoint must use https"},
		{"suffix convention", fmt.Errorf("title too long: %w", chat.ErrInvalid), 400, "bad_request", "title too long"},
		{"internal prefix is hidden", fmt.Errorf("bridge: secret detail: %w", chat.ErrConflict), 409, "conflict", "conflict"},
		{"not found always reads the same", chat.Public(chat.ErrNotFound, "conversation u2/x of bob"), 404, "not_found", "conversation not found"},
		{"unknown is internal", errors.New("dial tcp 10.0.0.1: refused"), 500, "internal", "internal error"},
		{"explicit answer", fmt.Errorf("x: %w", ErrForeignOrigin), 403, "forbidden", "cross-site request refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Classify(tc.err)
			if e.Status != tc.status || e.Code != tc.code || e.Message != tc.msg {
				t.Fatalf("Classify = %d %q %q; want %d %q %q", e.Status, e.Code, e.Message, tc.status, tc.code, tc.msg)
			}
		})
	}
}

func TestWriteErrorShape(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, chat.ErrRateLimited)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("got %d %v", rec.Code, rec.Header())
	}
	var b struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error.Code != "rate_limited" {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
}
