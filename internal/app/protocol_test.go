package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/config"
	"github.com/clawchat/clawchat/internal/testkit/gatewaytest"
)

// TestProtocol3Gateway: against a Gateway that speaks protocol 3 (OpenClaw before 2026.5.12,
// which refuses with details {expectedProtocol: 3} and no details.code), /readyz and
// `clawchat gateway status` say what to upgrade, and the log carries the Gateway's message.
func TestProtocol3Gateway(t *testing.T) {
	const token = "gateway-token-protocol-3"
	gw := gatewaytest.NewServer(t, gatewaytest.Options{Token: token, Protocol: 3})
	const want = "the Gateway speaks protocol 3; upgrade OpenClaw to 2026.5.12 or later"
	port := freePort(t)
	env := map[string]string{
		"CLAWCHAT_LISTEN":        "127.0.0.1:" + strconv.Itoa(port),
		"CLAWCHAT_DATA_DIR":      t.TempDir(),
		"CLAWCHAT_LOCAL_USERS":   "alice:correct-horse-battery",
		"OPENCLAW_GATEWAY_URL":   gw.URL(),
		"OPENCLAW_GATEWAY_TOKEN": token,
		"CLAWCHAT_LOG_FORMAT":    "json",
	}
	cio := func(stdout, stderr io.Writer) IO {
		return IO{Env: config.Env{Getenv: func(k string) string { return env[k] }, ReadFile: os.ReadFile},
			Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr}
	}

	// clawchat gateway status
	var out strings.Builder
	err := Run(context.Background(), []string{"gateway", "status"}, cio(&out, io.Discard))
	if err == nil {
		t.Error("gateway status succeeded against a protocol-3 Gateway")
	}
	if !strings.Contains(out.String(), "state:    incompatible") || !strings.Contains(out.String(), "reason:   "+want) {
		t.Errorf("gateway status printed:\n%s", out.String())
	}

	// clawchat serve: /readyz
	var logs strings.Builder
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"serve"}, cio(io.Discard, &syncWriter{w: &logs})) }()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	var body struct {
		Ready  bool   `json:"ready"`
		Reason string `json:"reason"`
	}
	for {
		res, err := hc.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/readyz")
		if err == nil {
			_ = json.NewDecoder(res.Body).Decode(&body)
			res.Body.Close()
			if res.StatusCode == http.StatusServiceUnavailable && body.Reason == want {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never said %q (last: %+v, %v)", want, body, err)
		}
		time.Sleep(20 * time.Millisecond) // no push signal for /readyz
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, `"gateway_message":"protocol mismatch"`) {
		t.Errorf("the log does not carry the Gateway's message:\n%s", l)
	}
	// One attempt by `gateway status`, one by serve: no hammering.
	if n := len(gw.Connects()); n != 2 {
		t.Errorf("%d connect attempts, want 2", n)
	}
}
