package accesslog

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOneLinePerRequestWithoutQueryOrCookies(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}), log, func(*http.Request) string { return "192.0.2.1" })
	r := httptest.NewRequest(http.MethodGet, "/api/x?token=secret", nil)
	r.Header.Set("Cookie", "session=secret")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	line := buf.String()
	id := w.Header().Get("X-Request-Id")
	if len(id) != 16 || !strings.Contains(line, "request_id="+id) || !strings.Contains(line, "status=418") ||
		!strings.Contains(line, "path=/api/x") || !strings.Contains(line, "client_ip=192.0.2.1") {
		t.Fatalf("line %q, id %q", line, id)
	}
	if strings.Contains(line, "secret") || strings.Count(line, "\n") != 1 {
		t.Fatalf("logged too much: %q", line)
	}
}
