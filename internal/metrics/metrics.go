// Package metrics owns clawchat's Prometheus registry (never the global default one) and the
// typed metrics every subsystem records into. All names follow clawchat_<subsystem>_<name>_<unit>,
// every metric has Help text, and every label has a small, fixed set of values (route patterns,
// status classes, outcomes), never raw paths, user ids or error messages.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "clawchat"

// Metrics holds the registry and the typed metrics. All methods are safe for concurrent use, and
// a nil *Metrics is a valid no-op recorder, so packages can take an optional *Metrics.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	browserConns *prometheus.GaugeVec

	runsStarted  prometheus.Counter
	runsFinished *prometheus.CounterVec
	runDuration  *prometheus.HistogramVec

	gatewayState      *prometheus.GaugeVec
	gatewayReconnects prometheus.Counter
	gatewayRequests   *prometheus.HistogramVec

	fanoutLag    prometheus.Histogram
	hubEvictions prometheus.Counter
	rateLimited  *prometheus.CounterVec
	pushResults  *prometheus.CounterVec
	storeQueries *prometheus.HistogramVec

	stateMu sync.Mutex
	states  map[string]bool // gateway states seen, so all but the current one read 0
}

// New creates a fresh registry with the Go runtime and process collectors and every clawchat
// metric registered on it. Each call is independent (tests may create many).
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, states: map[string]bool{}}
	latency := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests served, by route pattern and status class (2xx, 4xx, …).",
	}, []string{"route", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help:    "Time to serve an HTTP request, by route pattern (WebSocket upgrades and event streams excluded).",
		Buckets: latency,
	}, []string{"route"})
	m.browserConns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "browser", Name: "connections",
		Help: "Open browser event connections, by transport (ws, sse).",
	}, []string{"transport"})
	m.runsStarted = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "runs", Name: "started_total",
		Help: "Assistant runs started through clawchat.",
	})
	m.runsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "runs", Name: "finished_total",
		Help: "Assistant runs finished, by outcome (final, aborted, error, lost).",
	}, []string{"outcome"})
	m.runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "runs", Name: "duration_seconds",
		Help:    "Wall time from a run's start to its end, by outcome.",
		Buckets: []float64{.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800},
	}, []string{"outcome"})
	m.gatewayState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "gateway", Name: "connection_state",
		Help: "1 for the current state of the operator connection to the OpenClaw Gateway, 0 for the others.",
	}, []string{"state"})
	m.gatewayReconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "gateway", Name: "reconnects_total",
		Help: "Reconnection attempts to the OpenClaw Gateway.",
	})
	m.gatewayRequests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "gateway", Name: "request_duration_seconds",
		Help:    "Latency of Gateway requests, by method and outcome (ok, error).",
		Buckets: latency,
	}, []string{"method", "outcome"})
	m.fanoutLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "hub", Name: "fanout_lag_seconds",
		Help:    "Time from receiving a Gateway event to queueing it for a browser connection.",
		Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	m.hubEvictions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "hub", Name: "evictions_total",
		Help: "Browser connections closed because they could not keep up.",
	})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "ratelimit", Name: "rejections_total",
		Help: "Requests refused by a rate limit, by kind (login, send, api, …).",
	}, []string{"kind"})
	m.pushResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "push", Name: "results_total",
		Help: "Web Push deliveries, by outcome (sent, gone, rate_limited, rejected, failed, error).",
	}, []string{"outcome"})
	m.storeQueries = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "store", Name: "query_duration_seconds",
		Help:    "Latency of store operations, by operation name.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"op"})

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.browserConns,
		m.runsStarted, m.runsFinished, m.runDuration,
		m.gatewayState, m.gatewayReconnects, m.gatewayRequests,
		m.fanoutLag, m.hubEvictions, m.rateLimited, m.pushResults, m.storeQueries,
	)
	for _, t := range []string{"ws", "sse"} {
		m.browserConns.WithLabelValues(t)
	}
	// Pre-declare the known states so dashboards see every series (at 0) from the start.
	for _, s := range []string{"connecting", "connected", "disconnected", "pairing_required", "auth_failed"} {
		m.gatewayState.WithLabelValues(s)
		m.states[s] = true
	}
	return m
}

// Registry returns the registry, for packages that bring their own collectors (for example
// database/sql pool statistics). The caller must not unregister clawchat's metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format. Protect it with Guard.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
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
	m.httpRequests.WithLabelValues(route, statusClass(status)).Inc()
	if duration >= 0 {
		m.httpDuration.WithLabelValues(route).Observe(duration.Seconds())
	}
}

// BrowserConnected counts an open browser connection of transport "ws" or "sse" and returns the
// function that uncounts it; call it exactly once when the connection ends.
func (m *Metrics) BrowserConnected(transport string) (done func()) {
	if m == nil {
		return func() {}
	}
	g := m.browserConns.WithLabelValues(transport)
	g.Inc()
	var once sync.Once
	return func() { once.Do(g.Dec) }
}

// RunStarted counts a run started by clawchat.
func (m *Metrics) RunStarted() {
	if m != nil {
		m.runsStarted.Inc()
	}
}

// RunFinished counts a finished run with its outcome ("final", "aborted", "error", "lost") and
// duration.
func (m *Metrics) RunFinished(outcome string, duration time.Duration) {
	if m == nil {
		return
	}
	m.runsFinished.WithLabelValues(outcome).Inc()
	m.runDuration.WithLabelValues(outcome).Observe(duration.Seconds())
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
		m.gatewayState.WithLabelValues(s).Set(v)
	}
}

// GatewayReconnect counts one reconnection attempt.
func (m *Metrics) GatewayReconnect() {
	if m != nil {
		m.gatewayReconnects.Inc()
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
	m.gatewayRequests.WithLabelValues(method, outcome).Observe(duration.Seconds())
}

// FanoutLag records how long an event took from the Gateway to a browser connection's queue.
func (m *Metrics) FanoutLag(d time.Duration) {
	if m != nil {
		m.fanoutLag.Observe(d.Seconds())
	}
}

// HubEviction counts a slow browser connection that was closed.
func (m *Metrics) HubEviction() {
	if m != nil {
		m.hubEvictions.Inc()
	}
}

// RateLimited counts a request refused by the limiter of this kind.
func (m *Metrics) RateLimited(kind string) {
	if m != nil {
		m.rateLimited.WithLabelValues(kind).Inc()
	}
}

// PushResult counts a Web Push delivery by outcome. It makes *Metrics a push.Recorder.
func (m *Metrics) PushResult(outcome string) {
	if m != nil {
		m.pushResults.WithLabelValues(outcome).Inc()
	}
}

// StoreQuery records the latency of one store operation (op is a fixed operation name).
func (m *Metrics) StoreQuery(op string, d time.Duration) {
	if m != nil {
		m.storeQueries.WithLabelValues(op).Observe(d.Seconds())
	}
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}
