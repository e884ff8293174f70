package gateway_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/gatewaytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testToken = "tok-9f8e7d6c5b4a-shared-secret"

// recorder is a gateway.Handler that records everything and lets tests wait.
type recorder struct {
	mu       sync.Mutex
	events   []gateway.Event
	statuses []gateway.Status
	changed  chan struct{}
	timeout  time.Duration // waitFor deadline (default 10s)
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) HandleEvent(e gateway.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.notify()
	r.mu.Unlock()
}

func (r *recorder) HandleStatus(s gateway.Status) {
	r.mu.Lock()
	r.statuses = append(r.statuses, s)
	r.notify()
	r.mu.Unlock()
}

func (r *recorder) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// waitFor blocks until cond (called under the lock) is true or the deadline passes.
func (r *recorder) waitFor(t *testing.T, what string, cond func(r *recorder) bool) {
	t.Helper()
	d := r.timeout
	if d == 0 {
		d = 10 * time.Second
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond(r)
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			var states []string
			for _, s := range r.statuses {
				states = append(states, string(s.State)+":"+s.Reason)
			}
			t.Fatalf("timed out waiting for %s; statuses: %q", what, states)
		}
	}
}

func (r *recorder) waitState(t *testing.T, st gateway.State) gateway.Status {
	t.Helper()
	var got gateway.Status
	r.waitFor(t, "state "+string(st), func(r *recorder) bool {
		for _, s := range r.statuses {
			if s.State == st {
				got = s
				return true
			}
		}
		return false
	})
	return got
}

// countState returns how many recorded statuses have state st.
func (r *recorder) countState(st gateway.State) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.statuses {
		if s.State == st {
			n++
		}
	}
	return n
}

func (r *recorder) eventsNamed(name string) []gateway.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []gateway.Event
	for _, e := range r.events {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) clearStatuses() {
	r.mu.Lock()
	r.statuses = nil
	r.mu.Unlock()
}

type harness struct {
	srv    *gatewaytest.Server
	client *gateway.Client
	rec    *recorder
	cfg    gateway.Config
	stop   func()
}

// start creates a client against srv and runs it until the test ends.
func start(t *testing.T, srv *gatewaytest.Server, mutate func(*gateway.Config)) *harness {
	t.Helper()
	rec := newRecorder()
	cfg := gateway.Config{
		URL:               srv.URL(),
		Token:             testToken,
		StateDir:          t.TempDir(),
		ClientVersion:     "1.2.3",
		DisplayName:       "clawchat test",
		ReconnectMinDelay: 10 * time.Millisecond,
		ReconnectMaxDelay: 50 * time.Millisecond,
		RequestTimeout:    5 * time.Second,
		Handler:           rec,
		Logger:            testLogger(t),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := gateway.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return &harness{srv: srv, client: c, rec: rec, cfg: cfg, stop: stop}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventsNamed_locked is eventsNamed for use inside waitFor (lock held).
func (r *recorder) eventsNamed_locked(name string) []gateway.Event {
	var out []gateway.Event
	for _, e := range r.events {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func contextWithCancel(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(parent)
}
