// Package metrics owns clawchat's metrics (never a global registry) and the typed metrics every
// subsystem records into, exposed in the Prometheus text format (expo.go). All names follow
// clawchat_<subsystem>_<name>_<unit>, every metric has Help text, and every label has a small,
// fixed set of values (route patterns, status classes, outcomes), never raw paths, user ids or
// error messages. The Go runtime (go_*) and process (process_*) metrics are exposed too.
package metrics

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"time"
)

const namespace = "clawchat"

// Metrics holds the typed metrics. All methods are safe for concurrent use, and a nil *Metrics is
// a valid no-op recorder, so packages can take an optional *Metrics.
type Metrics struct {
	start    time.Time
	families []*family // in exposition order

	httpRequests *family
	httpDuration *family

	browserConns *family

	runsStarted  *family
	runsFinished *family
	runDuration  *family

	gatewayState      *family
	gatewayReconnects *family
	gatewayRequests   *family

	fanoutLag    *family
	hubEvictions *family
	rateLimited  *family
	pushResults  *family
	storeQueries *family

	stateMu sync.Mutex
	states  map[string]bool // gateway states seen, so all but the current one read 0
}

// New creates a fresh set of metrics. Each call is independent (tests may create many).
func New() *Metrics {
	m := &Metrics{start: time.Now(), states: map[string]bool{}}
	latency := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	add := func(sub, name, help string, k kind, buckets []float64, labels ...string) *family {
		f := newFamily(namespace+"_"+sub+"_"+name, help, k, buckets, labels...)
		m.families = append(m.families, f)
		return f
	}
	m.httpRequests = add("http", "requests_total",
		"HTTP requests served, by route pattern and status class (2xx, 4xx, …).", counterKind, nil, "route", "status")
	m.httpDuration = add("http", "request_duration_seconds",
		"Time to serve an HTTP request, by route pattern (WebSocket upgrades and event streams excluded).", histogramKind, latency, "route")
	m.browserConns = add("browser", "connections",
		"Open browser event connections, by transport (ws, sse).", gaugeKind, nil, "transport")
	m.runsStarted = add("runs", "started_total", "Assistant runs started through clawchat.", counterKind, nil)
	m.runsFinished = add("runs", "finished_total",
		"Assistant runs finished, by outcome (final, aborted, error, lost).", counterKind, nil, "outcome")
	m.runDuration = add("runs", "duration_seconds", "Wall time from a run's start to its end, by outcome.", histogramKind,
		[]float64{.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}, "outcome")
	m.gatewayState = add("gateway", "connection_state",
		"1 for the current state of the operator connection to the OpenClaw Gateway, 0 for the others.", gaugeKind, nil, "state")
	m.gatewayReconnects = add("gateway", "reconnects_total", "Reconnection attempts to the OpenClaw Gateway.", counterKind, nil)
	m.gatewayRequests = add("gateway", "request_duration_seconds",
		"Latency of Gateway requests, by method and outcome (ok, error).", histogramKind, latency, "method", "outcome")
	m.fanoutLag = add("hub", "fanout_lag_seconds",
		"Time from receiving a Gateway event to queueing it for a browser connection.", histogramKind,
		[]float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1})
	m.hubEvictions = add("hub", "evictions_total", "Browser connections closed because they could not keep up.", counterKind, nil)
	m.rateLimited = add("ratelimit", "rejections_total",
		"Requests refused by a rate limit, by kind (login, send, api, …).", counterKind, nil, "kind")
	m.pushResults = add("push", "results_total",
		"Web Push deliveries, by outcome (sent, gone, rate_limited, rejected, failed, error).", counterKind, nil, "outcome")
	m.storeQueries = add("store", "query_duration_seconds", "Latency of store operations, by operation name.", histogramKind,
		[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}, "op")

	// Series without labels, and the known label values, exist (at 0) from the start, so that
	// dashboards see every series.
	for _, f := range []*family{m.runsStarted, m.gatewayReconnects, m.fanoutLag, m.hubEvictions} {
		f.declare()
	}
	for _, t := range []string{"ws", "sse"} {
		m.browserConns.declare(t)
	}
	for _, s := range []string{"connecting", "connected", "disconnected", "pairing_required", "auth_failed"} {
		m.gatewayState.declare(s)
		m.states[s] = true
	}
	return m
}

// Handler serves the metrics in the Prometheus text format. Protect it with Guard.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		for _, f := range m.families {
			f.write(&b)
		}
		writeRuntime(&b, m.start)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b.Bytes())
	})
}

// ObserveHTTP records one served request. route must be a route pattern (r.Pattern), never a
// raw path; "" is recorded as "unmatched". duration < 0 skips the latency histogram (long-lived
// WebSocket and SSE requests).
func (m *Metrics) ObserveHTTP(route string, status int, duration time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.add(1, route, statusClass(status))
	if duration >= 0 {
		m.httpDuration.observe(duration.Seconds(), route)
	}
}

// BrowserConnected counts an open browser connection of transport "ws" or "sse" and returns the
// function that uncounts it; call it exactly once when the connection ends.
func (m *Metrics) BrowserConnected(transport string) (done func()) {
	if m == nil {
		return func() {}
	}
	m.browserConns.add(1, transport)
	var once sync.Once
	return func() { once.Do(func() { m.browserConns.add(-1, transport) }) }
}

// RunStarted counts a run started by clawchat.
func (m *Metrics) RunStarted() {
	if m != nil {
		m.runsStarted.add(1)
	}
}

// RunFinished counts a finished run with its outcome ("final", "aborted", "error", "lost") and
// duration.
func (m *Metrics) RunFinished(outcome string, duration time.Duration) {
	if m == nil {
		return
	}
	m.runsFinished.add(1, outcome)
	m.runDuration.observe(duration.Seconds(), outcome)
}

// GatewayState sets the current Gateway connection state (1) and every other known state (0).
func (m *Metrics) GatewayState(state string) {
	if m == nil {
		return
	}
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	m.states[state] = true
	for s := range m.states {
		v := 0.0
		if s == state {
			v = 1
		}
		m.gatewayState.set(v, s)
	}
}

// GatewayReconnect counts one reconnection attempt.
func (m *Metrics) GatewayReconnect() {
	if m != nil {
		m.gatewayReconnects.add(1)
	}
}

// GatewayRequest records the latency of one Gateway request; method is the protocol method name
// (a fixed set), failed whether it returned an error.
func (m *Metrics) GatewayRequest(method string, duration time.Duration, failed bool) {
	if m == nil {
		return
	}
	outcome := "ok"
	if failed {
		outcome = "error"
	}
	m.gatewayRequests.observe(duration.Seconds(), method, outcome)
}

// FanoutLag records how long an event took from the Gateway to a browser connection's queue.
func (m *Metrics) FanoutLag(d time.Duration) {
	if m != nil {
		m.fanoutLag.observe(d.Seconds())
	}
}

// HubEviction counts a slow browser connection that was closed.
func (m *Metrics) HubEviction() {
	if m != nil {
		m.hubEvictions.add(1)
	}
}

// RateLimited counts a request refused by the limiter of this kind.
func (m *Metrics) RateLimited(kind string) {
	if m != nil {
		m.rateLimited.add(1, kind)
	}
}

// PushResult counts a Web Push delivery by outcome. It makes *Metrics a push.Recorder.
func (m *Metrics) PushResult(outcome string) {
	if m != nil {
		m.pushResults.add(1, outcome)
	}
}

// StoreQuery records the latency of one store operation (op is a fixed operation name).
func (m *Metrics) StoreQuery(op string, d time.Duration) {
	if m != nil {
		m.storeQueries.observe(d.Seconds(), op)
	}
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}
