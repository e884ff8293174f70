package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/config"
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
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"serve"}, IO{
			Env:    config.Env{Getenv: func(k string) string { return env[k] }, ReadFile: os.ReadFile},
			Stdin:  strings.NewReader(""),
			Stdout: io.Discard,
			Stderr: &syncWriter{w: &logs},
		})
	}()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	get := func(url string) (int, string) {
		res, err := hc.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
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
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if st, _ := get(metricsURL); st != 0 {
		t.Errorf("the metrics listener still answers after shutdown: %d", st)
	}
}
