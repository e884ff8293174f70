package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/metrics"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("scrape: %d", w.Code)
	}
	return w.Body.String()
}

func TestRegistryExposesNamedMetrics(t *testing.T) {
	m := metrics.New()
	_ = metrics.New() // a second instance must not collide (no global registry)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/sessions/{key}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	h := m.Middleware(mux)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/sessions/secret-id-123", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/nowhere", nil))

	done := m.BrowserConnected("ws")
	m.BrowserConnected("sse")
	done()
	done() // idempotent
	m.RunStarted()
	m.RunFinished("final", 3*time.Second)
	m.GatewayState("connecting")
	m.GatewayState("connected")
	m.GatewayReconnect()
	m.GatewayRequest("chat.send", 20*time.Millisecond, false)
	m.FanoutLag(time.Millisecond)
	m.HubEviction()
	m.RateLimited("login")
	m.PushResult("sent")
	m.StoreQuery("conversation_get", time.Millisecond)

	body := scrape(t, m)
	for _, want := range []string{
		`clawchat_http_requests_total{route="GET /api/sessions/{key}",status="4xx"} 1`,
		`clawchat_http_requests_total{route="unmatched",status="4xx"} 1`,
		`clawchat_http_request_duration_seconds_count{route="GET /api/sessions/{key}"} 1`,
		`clawchat_browser_connections{transport="ws"} 0`,
		`clawchat_browser_connections{transport="sse"} 1`,
		`clawchat_runs_started_total 1`,
		`clawchat_runs_finished_total{outcome="final"} 1`,
		`clawchat_runs_duration_seconds_count{outcome="final"} 1`,
		`clawchat_gateway_connection_state{state="connected"} 1`,
		`clawchat_gateway_connection_state{state="connecting"} 0`,
		`clawchat_gateway_connection_state{state="pairing_required"} 0`,
		`clawchat_gateway_reconnects_total 1`,
		`clawchat_gateway_request_duration_seconds_count{method="chat.send",outcome="ok"} 1`,
		`clawchat_hub_fanout_lag_seconds_count 1`,
		`clawchat_hub_evictions_total 1`,
		`clawchat_ratelimit_rejections_total{kind="login"} 1`,
		`clawchat_push_results_total{outcome="sent"} 1`,
		`clawchat_store_query_duration_seconds_count{op="conversation_get"} 1`,
		`# HELP clawchat_push_results_total `,
		`go_goroutines `,
		`process_start_time_seconds `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, "secret-id-123") {
		t.Error("raw path leaked into a label")
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "# HELP clawchat_") && len(strings.Fields(line)) < 4 {
			t.Errorf("metric without help: %s", line)
		}
	}
}

func TestNilMetricsIsNoop(t *testing.T) {
	var m *metrics.Metrics
	m.RunStarted()
	m.PushResult("sent")
	m.BrowserConnected("ws")()
	m.ObserveHTTP("x", 200, time.Second)
}

func TestGuard(t *testing.T) {
	allow, err := metrics.ParseAllow("10.1.0.0/16, 192.168.5.7")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.ParseAllow("10.0.0.0/33"); err == nil {
		t.Error("bad CIDR accepted")
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics") })
	for _, tc := range []struct {
		remote string
		header string
		want   int
	}{
		{"127.0.0.1:5000", "", 200},
		{"[::1]:5000", "", 200},
		{"[::ffff:127.0.0.1]:5000", "", 200},
		{"10.1.2.3:5000", "", 200},
		{"192.168.5.7:5000", "", 200},
		{"192.168.5.8:5000", "", 404},
		{"10.2.0.1:5000", "", 404},
		{"203.0.113.9:5000", "", 404},
		{"127.0.0.1:5000", "203.0.113.9", 404}, // through an untrusted local proxy
		{"garbage", "", 404},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = tc.remote
		if tc.header != "" {
			r.Header.Set("X-Forwarded-For", tc.header)
		}
		w := httptest.NewRecorder()
		metrics.Guard(ok, allow, nil).ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("remote %s xff %q: %d, want %d", tc.remote, tc.header, w.Code, tc.want)
		}
	}
	// A trusted-proxy aware clientIP decides, not the TCP peer.
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.RemoteAddr = "127.0.0.1:1"
	w := httptest.NewRecorder()
	metrics.Guard(ok, allow, func(*http.Request) netip.Addr { return netip.MustParseAddr("10.1.9.9") }).ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("clientIP in allow list: %d", w.Code)
	}
}

func TestMiddlewareKeepsHijackAndFlush(t *testing.T) {
	m := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack through middleware: %v", err)
			return
		}
		c.Close()
	})
	mux.HandleFunc("GET /api/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through middleware: %v", err)
		}
	})
	// The server does not wait for a hijacked connection's handler (nor the middleware's
	// recording after it): wsDone closes once both returned.
	wsDone := make(chan struct{})
	var once sync.Once
	mw := m.Middleware(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.ServeHTTP(w, r)
		if r.URL.Path == "/ws" {
			once.Do(func() { close(wsDone) })
		}
	}))
	defer srv.Close()
	for _, p := range []string{"/ws", "/api/events"} {
		resp, err := srv.Client().Get(srv.URL + p)
		if err == nil {
			resp.Body.Close()
		}
	}
	<-wsDone
	srv.Close()
	body := scrape(t, m)
	for _, want := range []string{
		`clawchat_http_requests_total{route="GET /ws",status="1xx"} 1`,
		`clawchat_http_requests_total{route="GET /api/events",status="2xx"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, `request_duration_seconds_count{route="GET /ws"}`) ||
		strings.Contains(body, `request_duration_seconds_count{route="GET /api/events"}`) {
		t.Error("long-lived requests in the latency histogram")
	}
}
