package app

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/config"
	"github.com/clawchat/clawchat/internal/testkit/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(storetest.Main(m)) }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestServeWithoutGateway runs the whole server in-process against a Gateway that is not there:
// /healthz is 200, /readyz is 503 with a reason that names no address, the API wants a session,
// and cancelling the context shuts everything down (goleak checks nothing is left).
func TestServeWithoutGateway(t *testing.T) {
	port, gwPort := freePort(t), freePort(t)
	const token = "gateway-token-must-not-leak"
	env := map[string]string{
		"CLAWCHAT_LISTEN":        "127.0.0.1:" + strconv.Itoa(port),
		"CLAWCHAT_DATA_DIR":      t.TempDir(),
		"CLAWCHAT_LOCAL_USERS":   "alice:correct-horse-battery",
		"OPENCLAW_GATEWAY_URL":   "ws://127.0.0.1:" + strconv.Itoa(gwPort),
		"OPENCLAW_GATEWAY_TOKEN": token,
		"CLAWCHAT_LOG_FORMAT":    "json",
	}
	srv := startServe(t, env)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	get := func(path string) (int, string) { return srv.get(base + path) }
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, body := get("/readyz")
		if st == http.StatusServiceUnavailable && strings.Contains(body, "gateway") {
			if strings.Contains(body, strconv.Itoa(gwPort)) || strings.Contains(body, "127.0.0.1") {
				t.Errorf("/readyz reveals the Gateway address: %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never reported the gateway: %d %s", st, body)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the first dial attempt; no signal to await
	}
	if st, _ := get("/healthz"); st != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", st)
	}
	if st, body := get("/api/sessions"); st != http.StatusUnauthorized || !strings.Contains(body, "unauthorized") {
		t.Errorf("/api/sessions without a session = %d %s, want 401 JSON", st, body)
	}
	srv.stop(t)
	if strings.Contains(srv.logs.String(), token) || strings.Contains(srv.logs.String(), "correct-horse-battery") {
		t.Error("a secret reached the log")
	}
}

// running is a whole server run in-process by startServe.
type running struct {
	logs *bytes.Buffer // its log lines (read after stop)
	stop func(t *testing.T)
	get  func(url string) (int, string) // GET url without keep-alives; status 0 and the error when unreachable
}

// startServe runs `clawchat serve` in-process with env as its environment. stop cancels it and
// fails the test unless Run returns nil within 20 s.
func startServe(t *testing.T, env map[string]string) *running {
	t.Helper()
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
	r := &running{logs: &logs}
	r.get = func(url string) (int, string) {
		res, err := hc.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	stopped := false
	r.stop = func(t *testing.T) {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
