package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// shared is the package's one loopback Gateway, started on first use by sharedGateway and
// stopped by TestMain. Tests must not kill or restart it (start their own for that) and must
// use unique session keys (sessionKey).
var shared struct {
	once sync.Once
	g    *ochar.Gateway
	err  error
}

// needGateway skips under -short: these tests start real OpenClaw processes.
func needGateway(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real OpenClaw gateway; skipped with -short")
	}
}

// sharedGateway returns the package's shared Gateway, starting it (and installing Node and
// OpenClaw into the cache when missing) on first use. It fails the test, never skips, when
// the Gateway cannot start.
func sharedGateway(t testing.TB) *ochar.Gateway {
	t.Helper()
	needGateway(t)
	shared.once.Do(func() {
		// Generous: includes a first-time npm install (1-2 minutes) on a fresh machine.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		shared.g, shared.err = ochar.Start(ctx, ochar.Options{Progress: os.Stderr})
	})
	if shared.err != nil {
		t.Fatalf("start the shared OpenClaw gateway: %v", shared.err)
	}
	return shared.g
}

// stopShared stops the shared Gateway if it was started.
func stopShared() error {
	if shared.g == nil {
		return nil
	}
	return shared.g.Stop()
}

// ownGateway starts a Gateway for this test only (for crash, restart and netns tests); it
// is stopped in t.Cleanup.
func ownGateway(t testing.TB, opts ochar.Options) *ochar.Gateway {
	t.Helper()
	needGateway(t)
	return ochar.StartT(t, opts)
}

var reKeyUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// sessionKey returns a fresh canonical (lower-case, agent-qualified) session key naming the
// test, so that tests sharing a Gateway never see each other's sessions.
func sessionKey(t testing.TB) string {
	var b [4]byte
	rand.Read(b[:])
	name := reKeyUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "-")
	return "agent:main:e2e-" + strings.Trim(name, "-") + "-" + hex.EncodeToString(b[:])
}

// newRunID returns a fresh idempotency key (= runId of the turn it starts).
func newRunID() string {
	return "e2e-" + rand.Text()
}

// lockedBuffer is a goroutine-safe log sink.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// client is a running gateway.Client that records every event and status change it hands
// to its Handler, so tests can wait on conditions instead of sleeping.
type client struct {
	*gateway.Client
	t      testing.TB
	cfg    gateway.Config
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error

	mu       sync.Mutex
	events   []gateway.Event
	statuses []gateway.Status
	changed  chan struct{} // closed and replaced on every record
	stopped  bool
	runErr   error
}

// HandleEvent implements gateway.Handler.
func (c *client) HandleEvent(e gateway.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	close(c.changed)
	c.changed = make(chan struct{})
}

// HandleStatus implements gateway.Handler.
func (c *client) HandleStatus(s gateway.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statuses = append(c.statuses, s)
	close(c.changed)
	c.changed = make(chan struct{})
}

// startClient creates a gateway.Client for url/token with a fresh state dir (unless mod
// sets one), short reconnect delays and a captured log, and runs it until the test ends.
func startClient(t testing.TB, url, token string, mods ...func(*gateway.Config)) *client {
	t.Helper()
	c := &client{t: t, logs: &lockedBuffer{}, changed: make(chan struct{}), done: make(chan error, 1)}
	c.cfg = gateway.Config{
		URL:               url,
		Token:             token,
		StateDir:          t.TempDir(),
		DisplayName:       "clawchat e2e",
		ClientVersion:     "e2e",
		ReconnectMinDelay: 100 * time.Millisecond,
		ReconnectMaxDelay: time.Second,
		Logger:            slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Handler:           c,
	}
	for _, m := range mods {
		m(&c.cfg)
	}
	gc, err := gateway.New(c.cfg)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	c.Client = gc
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { c.done <- gc.Run(ctx) }()
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("client Run: %v", err)
		}
		if t.Failed() {
			t.Logf("client log:\n%s", c.logs.String())
		}
	})
	return c
}

// stop cancels Run and waits (bounded) for it to return. Idempotent.
func (c *client) stop() error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return c.runErr
	}
	c.stopped = true
	c.mu.Unlock()
	c.cancel()
	var err error
	select {
	case err = <-c.done:
	case <-time.After(15 * time.Second):
		c.t.Errorf("client Run did not return within 15s of cancel")
	}
	c.mu.Lock()
	c.runErr = err
	c.mu.Unlock()
	return err
}

// waitFor waits until cond (called with the recorded events and statuses, under the lock;
// it must not block) returns true, or fails the test after timeout.
func (c *client) waitFor(timeout time.Duration, what string, cond func(ev []gateway.Event, st []gateway.Status) bool) {
	c.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok := cond(c.events, c.statuses)
		ch := c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			c.t.Fatalf("timed out after %s waiting for %s; status now %+v", timeout, what, c.Status())
		}
	}
}

// waitState waits until the client's current state is one of states and returns the status.
func (c *client) waitState(timeout time.Duration, states ...gateway.State) gateway.Status {
	c.t.Helper()
	var got gateway.Status
	c.waitFor(timeout, "state "+statesString(states), func(_ []gateway.Event, st []gateway.Status) bool {
		if len(st) == 0 {
			return false
		}
		got = st[len(st)-1]
		for _, s := range states {
			if got.State == s {
				return true
			}
		}
		return false
	})
	return got
}

// statusMark returns how many statuses have been recorded, for waitStateSince.
func (c *client) statusMark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.statuses)
}

// waitStateSince waits until a status recorded after mark satisfies pred and returns it.
func (c *client) waitStateSince(timeout time.Duration, mark int, what string, pred func(gateway.Status) bool) gateway.Status {
	c.t.Helper()
	var got gateway.Status
	c.waitFor(timeout, what, func(_ []gateway.Event, st []gateway.Status) bool {
		for _, s := range st[min(mark, len(st)):] {
			if pred(s) {
				got = s
				return true
			}
		}
		return false
	})
	return got
}

func statesString(states []gateway.State) string {
	var s []string
	for _, st := range states {
		s = append(s, string(st))
	}
	return strings.Join(s, "|")
}

// chatEvents returns the decoded chat events of runID recorded so far.
func chatEvents(ev []gateway.Event, runID string) []*gateway.ChatEvent {
	var out []*gateway.ChatEvent
	for _, e := range ev {
		if e.Name != "chat" {
			continue
		}
		ce, err := gateway.DecodeChatEvent(e.Payload)
		if err == nil && ce.RunID == runID {
			out = append(out, ce)
		}
	}
	return out
}

// agentEvents returns the decoded agent events of runID recorded so far.
func agentEvents(ev []gateway.Event, runID string) []*gateway.AgentEvent {
	var out []*gateway.AgentEvent
	for _, e := range ev {
		if e.Name != "agent" {
			continue
		}
		ae, err := gateway.DecodeAgentEvent(e.Payload)
		if err == nil && ae.RunID == runID {
			out = append(out, ae)
		}
	}
	return out
}

// waitTerminal waits for runID's terminal chat event (final, aborted, error) and returns
// all of the run's chat events, the terminal one last.
func (c *client) waitTerminal(timeout time.Duration, runID string) []*gateway.ChatEvent {
	c.t.Helper()
	var got []*gateway.ChatEvent
	c.waitFor(timeout, "the end of run "+runID, func(ev []gateway.Event, _ []gateway.Status) bool {
		got = chatEvents(ev, runID)
		for i, e := range got {
			if e.Terminal() {
				got = got[:i+1]
				return true
			}
		}
		return false
	})
	return got
}

// waitDelta waits until runID has streamed some text and returns the cumulative text.
func (c *client) waitDelta(timeout time.Duration, runID string) string {
	c.t.Helper()
	var text string
	c.waitFor(timeout, "streamed text of run "+runID, func(ev []gateway.Event, _ []gateway.Status) bool {
		for _, e := range chatEvents(ev, runID) {
			if e.State == gateway.ChatStateDelta {
				if s, ok := e.MessageText(); ok && s != "" {
					text = s
					return true
				}
			}
		}
		return false
	})
	return text
}

// ctxT returns a context for one request, cancelled at the end of the test.
func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// historyRow is the part of a chat.history message the tests look at.
type historyRow struct {
	Role          string          `json:"role"`
	StopReason    string          `json:"stopReason"`
	OpenclawAbort json.RawMessage `json:"openclawAbort"`
	Text          string          `json:"-"`
}

// history reads a session's transcript (newest 50 rows), oldest first.
func (c *client) history(t testing.TB, key string) []historyRow {
	t.Helper()
	h, err := c.ChatHistory(ctxT(t, 30*time.Second), gateway.ChatHistoryParams{SessionKey: key, Limit: 50})
	if err != nil {
		t.Fatalf("chat.history %s: %v", key, err)
	}
	rows := make([]historyRow, 0, len(h.Messages))
	for _, m := range h.Messages {
		var r historyRow
		if err := json.Unmarshal(m, &r); err != nil {
			t.Fatalf("history row %s: %v", m, err)
		}
		r.Text = gateway.MessageText(m)
		rows = append(rows, r)
	}
	return rows
}
