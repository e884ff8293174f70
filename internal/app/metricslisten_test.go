package app

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Regression: CLAWCHAT_METRICS_LISTEN was documented ("serve /metrics on a separate address
// instead") and validated, but nothing listened there. With it set, /metrics is served on that
// address (loopback may read it) and the main listener answers 404 for /metrics.
func TestMetricsListen(t *testing.T) {
	port, mport, gwPort := freePort(t), freePort(t), freePort(t)
	env := map[string]string{
		"CLAWCHAT_LISTEN":         "127.0.0.1:" + strconv.Itoa(port),
		"CLAWCHAT_METRICS_LISTEN": "127.0.0.1:" + strconv.Itoa(mport),
		"CLAWCHAT_DATA_DIR":       t.TempDir(),
		"OPENCLAW_GATEWAY_URL":    "ws://127.0.0.1:" + strconv.Itoa(gwPort),
		"OPENCLAW_GATEWAY_TOKEN":  "tok",
		"CLAWCHAT_LOG_FORMAT":     "json",
	}
	srv := startServe(t, env)
	get := srv.get
	metricsURL := "http://127.0.0.1:" + strconv.Itoa(mport) + "/metrics"
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, body := get(metricsURL)
		if st == http.StatusOK {
			if !strings.Contains(body, "clawchat_") {
				t.Errorf("metrics listener answered without clawchat metrics:\n%.500s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the metrics listener never served /metrics: %d %s", st, body)
		}
		time.Sleep(20 * time.Millisecond) // the listener opens once the server is built; no signal to await
	}
	if st, body := get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"); st != http.StatusNotFound || strings.Contains(body, "clawchat_") {
		t.Errorf("main listener /metrics = %d %.200s, want 404 (served on CLAWCHAT_METRICS_LISTEN instead)", st, body)
	}
	srv.stop(t)
	if st, _ := get(metricsURL); st != 0 {
		t.Errorf("the metrics listener still answers after shutdown: %d", st)
	}
}
