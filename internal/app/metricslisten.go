package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/clawchat/clawchat/internal/metrics"
)

// serveMetrics serves GET /metrics on its own address (CLAWCHAT_METRICS_LISTEN), which then takes
// the place of /metrics on the main listener (routes answers 404 there). The same rule applies:
// only loopback and CLAWCHAT_METRICS_ALLOW, judged by the TCP peer (no proxy is believed on this
// listener). The returned stop closes the listener and waits for its goroutine.
func (s *server) serveMetrics(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("CLAWCHAT_METRICS_LISTEN %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Guard(s.metrics.Handler(), s.cfg.Metrics.Allow, nil))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // ErrServerClosed after stop
	}()
	s.log.Info("metrics listening", "addr", ln.Addr().String())
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}
