package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestBackoffSchedule(t *testing.T) {
	maxJitter := func(n int64) int64 { return n - 1 }
	b := backoff{min: 500 * time.Millisecond, max: 30 * time.Second, int64n: maxJitter}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := b.next(); got != w {
			t.Errorf("attempt %d: %v, want %v", i, got, w)
		}
	}
	b.reset()
	if got := b.next(); got != 500*time.Millisecond {
		t.Errorf("after reset: %v", got)
	}
	// full jitter: the lower bound is always min, the upper bound the ceiling
	b = backoff{min: 500 * time.Millisecond, max: 30 * time.Second, int64n: func(int64) int64 { return 0 }}
	for range 10 {
		if got := b.next(); got != 500*time.Millisecond {
			t.Fatalf("min jitter gave %v", got)
		}
	}
	// real randomness stays within bounds
	b = backoff{min: 10 * time.Millisecond, max: 80 * time.Millisecond}
	for i := range 200 {
		got := b.next()
		if got < 10*time.Millisecond || got > 80*time.Millisecond {
			t.Fatalf("draw %d out of bounds: %v", i, got)
		}
	}
}

func TestWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fired := make(chan time.Time, 1)
		start := time.Now()
		w := newWatchdog(2*time.Second, func() { fired <- time.Now() })
		defer w.stop()
		for range 5 { // kicked every second: never fires
			time.Sleep(time.Second)
			w.kick()
		}
		synctest.Wait()
		select {
		case <-fired:
			t.Fatal("watchdog fired while kicked")
		default:
		}
		at := <-fired
		if got := at.Sub(start); got != 7*time.Second {
			t.Errorf("fired after %v, want 7s (5s of kicks + 2s silence)", got)
		}
	})
}

func TestSeqTrackerEviction(t *testing.T) {
	tr := seqTracker{maxRuns: 3}
	agent := func(run string, seq int64) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"runId": run, "seq": seq, "stream": "assistant"})
		return b
	}
	for _, r := range []string{"a", "b", "c"} {
		tr.process("agent", nil, agent(r, 1))
	}
	tr.process("agent", nil, agent("a", 2)) // a is now the most recent
	tr.process("agent", nil, agent("d", 1)) // evicts b
	if len(tr.runs) != 3 {
		t.Fatalf("runs = %d", len(tr.runs))
	}
	if _, ok := tr.runs["b"]; ok {
		t.Errorf("least recently used run not evicted")
	}
	if _, ok := tr.process("agent", nil, agent("a", 2)); ok {
		t.Errorf("duplicate of a delivered")
	}
}

// pipeTransport is an in-memory transport usable inside a synctest bubble.
type pipeTransport struct {
	toClient   chan []byte
	fromClient chan []byte
	closed     chan struct{}
	once       sync.Once
	mu         sync.Mutex
	code       int
}

func newPipe() *pipeTransport {
	return &pipeTransport{toClient: make(chan []byte, 16), fromClient: make(chan []byte, 16), closed: make(chan struct{})}
}

func (p *pipeTransport) Read(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.toClient:
		return b, nil
	case <-p.closed:
		// Like a real WebSocket, frames sent before the close are read before it.
		select {
		case b := <-p.toClient:
			return b, nil
		default:
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return nil, &closeError{code: p.code}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeTransport) Write(ctx context.Context, b []byte) error {
	select {
	case p.fromClient <- b:
		return nil
	case <-p.closed:
		return errors.New("closed")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipeTransport) Ping(ctx context.Context) error { return nil }
func (p *pipeTransport) SetReadLimit(int64)             {}
func (p *pipeTransport) Close(code int, _ string) error {
	p.once.Do(func() {
		p.mu.Lock()
		p.code = code
		p.mu.Unlock()
		close(p.closed)
	})
	return nil
}
func (p *pipeTransport) CloseNow() error { return p.Close(1006, "") }

func (p *pipeTransport) closeCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code
}

// serveHello plays the gateway side of a handshake on p: challenge, read connect, hello-ok.
func serveHello(t *testing.T, p *pipeTransport, tickMs int64) {
	p.toClient <- []byte(`{"type":"event","event":"connect.challenge","payload":{"nonce":"n-1","ts":1}}`)
	var req struct {
		ID     string        `json:"id"`
		Params ConnectParams `json:"params"`
	}
	select {
	case b := <-p.fromClient:
		if err := json.Unmarshal(b, &req); err != nil {
			t.Errorf("connect frame: %v", err)
			return
		}
	case <-p.closed:
		return
	}
	if code := VerifyDeviceSignature(&req.Params, "n-1"); code != "" {
		t.Errorf("device signature: %s", code)
	}
	hello, _ := json.Marshal(map[string]any{"type": "res", "id": req.ID, "ok": true, "payload": map[string]any{
		"type": "hello-ok", "protocol": 4, "server": map[string]any{"version": "x", "connId": "c"},
		"auth":   map[string]any{"role": "operator", "scopes": req.Params.Scopes},
		"policy": map[string]any{"maxPayload": 1 << 20, "maxBufferedBytes": 1 << 21, "tickIntervalMs": tickMs},
	}})
	p.toClient <- hello
}

func newTestClient(t *testing.T, dial dialFunc) *Client {
	t.Helper()
	c, err := New(Config{URL: "ws://127.0.0.1:18789", Token: "secret-token", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c.dial = dial
	c.int64n = func(n int64) int64 { return n - 1 } // deterministic: top of the jitter range
	c.probe = func(context.Context, bool) bool { return false }
	return c
}

// A Gateway that was down long enough for the backoff to grow is redialled within a probe
// interval of becoming ready.
func TestReconnectAtOnceWhenGatewayPortOpens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var dials []time.Time
		var up time.Time
		c := newTestClient(t, func(ctx context.Context, url string) (transport, error) {
			mu.Lock()
			dials = append(dials, time.Now())
			mu.Unlock()
			return nil, errors.New("connection refused")
		})
		c.probe = func(context.Context, bool) bool {
			mu.Lock()
			defer mu.Unlock()
			return !up.IsZero() && !time.Now().Before(up)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(40 * time.Second) // backoff grown to 16-30 s
		mu.Lock()
		up = time.Now().Add(time.Second)
		n := len(dials)
		mu.Unlock()
		time.Sleep(2 * time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(dials) <= n {
			t.Fatalf("no dial within 1 s of the Gateway being ready (dials %v)", dials)
		}
		if d := dials[n].Sub(up); d < 0 || d > probeEvery {
			t.Errorf("redialled %v after the Gateway was ready, want within %v", d, probeEvery)
		}
	})
}

func TestReconnectBackoffTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var dials []time.Time
		c := newTestClient(t, func(ctx context.Context, url string) (transport, error) {
			mu.Lock()
			dials = append(dials, time.Now())
			mu.Unlock()
			return nil, errors.New("connection refused")
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(2 * time.Minute)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		var gaps []time.Duration
		for i := 1; i < len(dials); i++ {
			gaps = append(gaps, dials[i].Sub(dials[i-1]))
		}
		want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
		if len(gaps) < len(want) {
			t.Fatalf("only %d redials in 2 minutes: %v", len(gaps), gaps)
		}
		for i, w := range want {
			if gaps[i] != w {
				t.Errorf("gap %d = %v, want %v (all: %v)", i, gaps[i], w, gaps)
			}
		}
		if st := c.Status(); st.State != StateStopped {
			t.Errorf("state %v", st.State)
		}
	})
}

func TestTickWatchdogClosesSilentConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pipes := make(chan *pipeTransport, 4)
		c := newTestClient(t, func(ctx context.Context, url string) (transport, error) {
			p := newPipe()
			go serveHello(t, p, 1000)
			pipes <- p
			return p, nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()

		first := <-pipes
		synctest.Wait()
		if st := c.Status(); st.State != StateConnected {
			t.Fatalf("state %v (%s)", st.State, st.Reason)
		}
		connectedAt := time.Now()
		// ticks keep it alive
		for range 3 {
			time.Sleep(1500 * time.Millisecond)
			first.toClient <- []byte(`{"type":"event","event":"tick","payload":{"ts":1},"seq":1}`)
		}
		synctest.Wait()
		if first.closeCode() != 0 {
			t.Fatalf("closed while ticking (code %d)", first.closeCode())
		}
		lastFrame := time.Now()
		// silence: closed with 4000 after 2 × tickInterval
		<-first.closed
		if got := time.Since(lastFrame); got != 2*time.Second {
			t.Errorf("closed %v after the last frame, want 2s", got)
		}
		if first.closeCode() != closeTickTimeout {
			t.Errorf("close code %d, want 4000", first.closeCode())
		}
		second := <-pipes // reconnected
		synctest.Wait()
		if st := c.Status(); st.State != StateConnected {
			t.Errorf("state after reconnect %v", st.State)
		}
		_ = connectedAt
		cancel()
		<-done
		if second.closeCode() != 1000 {
			t.Errorf("shutdown close code %d, want 1000", second.closeCode())
		}
	})
}

func TestShutdownHintDelaysReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pipes := make(chan *pipeTransport, 4)
		var mu sync.Mutex
		var dials []time.Time
		c := newTestClient(t, func(ctx context.Context, url string) (transport, error) {
			mu.Lock()
			dials = append(dials, time.Now())
			mu.Unlock()
			p := newPipe()
			go serveHello(t, p, 30000)
			pipes <- p
			return p, nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		first := <-pipes
		synctest.Wait()
		first.toClient <- []byte(`{"type":"event","event":"shutdown","payload":{"reason":"gateway restarting","restartExpectedMs":7000},"seq":1}`)
		synctest.Wait()
		closedAt := time.Now()
		first.Close(1012, "service restart")
		<-pipes
		synctest.Wait()
		mu.Lock()
		gap := dials[1].Sub(closedAt)
		mu.Unlock()
		if gap != 7*time.Second {
			t.Errorf("redial %v after close, want 7s (restartExpectedMs)", gap)
		}
		cancel()
		<-done
	})
}

// blockingPingPipe never answers pings.
type blockingPingPipe struct{ *pipeTransport }

func (b blockingPingPipe) Ping(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.closed:
		return errors.New("closed")
	}
}

func TestUnansweredPingClosesConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pipes := make(chan *pipeTransport, 4)
		c := newTestClient(t, func(ctx context.Context, url string) (transport, error) {
			p := newPipe()
			go serveHello(t, p, 300000) // watchdog far away (10 min)
			pipes <- p
			return blockingPingPipe{p}, nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		first := <-pipes
		synctest.Wait()
		start := time.Now()
		<-first.closed
		// first ping at 25s, unanswered for 25s
		if got := time.Since(start); got != 50*time.Second {
			t.Errorf("closed after %v, want 50s", got)
		}
		<-pipes // reconnected
		synctest.Wait()
		if st := c.Status(); st.State != StateConnected {
			t.Errorf("state %v", st.State)
		}
		cancel()
		<-done
	})
}

func TestCancelledAndTimedOutRequestsLeaveNoPendingEntry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pipes := make(chan *pipeTransport, 1)
		c := newTestClient(t, func(ctx context.Context, url string) (transport, error) {
			p := newPipe()
			go serveHello(t, p, 30000)
			pipes <- p
			return p, nil
		})
		c.cfg.RequestTimeout = 3 * time.Second
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		p := <-pipes
		synctest.Wait()
		go func() { // swallow requests, never answer
			for {
				select {
				case <-p.fromClient:
				case <-p.closed:
					return
				}
			}
		}()
		pending := func() int {
			c.mu.Lock()
			cn := c.cur
			c.mu.Unlock()
			cn.mu.Lock()
			defer cn.mu.Unlock()
			return len(cn.pending)
		}
		rctx, rcancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() { errc <- c.Request(rctx, "x", nil, nil) }()
		synctest.Wait()
		if pending() != 1 {
			t.Fatalf("pending = %d while waiting", pending())
		}
		rcancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
		if pending() != 0 {
			t.Errorf("pending = %d after cancel", pending())
		}
		began := time.Now()
		if err := c.Request(context.Background(), "x", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v", err)
		}
		if got := time.Since(began); got != 3*time.Second {
			t.Errorf("timed out after %v, want RequestTimeout 3s", got)
		}
		if pending() != 0 {
			t.Errorf("pending = %d after timeout", pending())
		}
		// a late answer to an abandoned id is ignored
		p.toClient <- []byte(`{"type":"res","id":"r2","ok":true}`)
		synctest.Wait()
		cancel()
		<-done
	})
}

// TestProtocol3GatewayRetriesSlowly: a protocol-3 Gateway (OpenClaw before 2026.5.12) refuses
// connect with details {expectedProtocol: 3} and no details.code, then closes 1002. The client
// recognises it and waits IncompatibleRetryDelay between attempts instead of the normal backoff.
func TestProtocol3GatewayRetriesSlowly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var dials []time.Time
		c := newTestClient(t, func(ctx context.Context, url string) (transport, error) {
			mu.Lock()
			dials = append(dials, time.Now())
			mu.Unlock()
			p := newPipe()
			go func() {
				p.toClient <- []byte(`{"type":"event","event":"connect.challenge","payload":{"nonce":"n-1","ts":1}}`)
				var req struct {
					ID string `json:"id"`
				}
				select {
				case b := <-p.fromClient:
					_ = json.Unmarshal(b, &req)
				case <-p.closed:
					return
				}
				p.toClient <- []byte(`{"type":"res","id":"` + req.ID + `","ok":false,"error":{"code":"INVALID_REQUEST","message":"protocol mismatch","details":{"expectedProtocol":3}}}`)
				p.Close(1002, "protocol mismatch")
			}()
			return p, nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		st := c.Status()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st.State != StateIncompatible || st.GatewayProtocol != 3 ||
			st.Reason != "the Gateway speaks protocol 3; upgrade OpenClaw to 2026.5.12 or later" {
			t.Errorf("status = %+v", st)
		}
		mu.Lock()
		defer mu.Unlock()
		// Attempts at 0, 2, 4, 6, 8, 10 minutes: six, never the normal backoff's dozens.
		if len(dials) != 6 {
			t.Fatalf("%d attempts in 10 minutes, want 6", len(dials))
		}
		for i := 1; i < len(dials); i++ {
			if gap := dials[i].Sub(dials[i-1]); gap != IncompatibleRetryDelay {
				t.Errorf("gap %d = %v, want %v", i, gap, IncompatibleRetryDelay)
			}
		}
	})
}

// probeReady asks the Gateway's /readyz: 200 is ready, 503 (starting) is not, and without a
// /readyz (404) the Gateway counts as ready only when its port was closed before.
func TestProbeReady(t *testing.T) {
	var code atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()
	c, err := New(Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Token: "secret-token", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		code       int
		portClosed bool
		want       bool
	}{{503, true, false}, {200, false, true}, {404, false, false}, {404, true, true}, {500, true, false}} {
		code.Store(int32(tc.code))
		if got := c.probeReady(context.Background(), tc.portClosed); got != tc.want {
			t.Errorf("/readyz %d (port was closed %v): ready %v, want %v", tc.code, tc.portClosed, got, tc.want)
		}
	}
	srv.Close()
	if c.probeReady(context.Background(), true) {
		t.Error("a closed port is ready")
	}
}
