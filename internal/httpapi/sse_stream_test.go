package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/hub"
)

// sseClient opens GET /api/events as alice over a bare socket and reads up to the first blank
// line of the body (the retry: line), then keeps only the socket and its reader.
func sseClient(addr, lastEventID string) (net.Conn, *bufio.Reader, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /api/events HTTP/1.1\r\nHost: " + addr + "\r\nX-Test-User: alice\r\nAccept: text/event-stream\r\n"
	if lastEventID != "" {
		req += "Last-Event-ID: " + lastEventID + "\r\n"
	}
	if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
		nc.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		nc.Close()
		return nil, nil, fmt.Errorf("open: %v %v", res, err)
	}
	body := bufio.NewReader(res.Body)
	for {
		l, err := body.ReadString('\n')
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		if l == "\n" {
			break
		}
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, body, nil
}

// waitConnections waits until the hub counts n live connections for alice.
func waitConnections(t *testing.T, h *hub.Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for h.Connections("alice") != n {
		if time.Now().After(deadline) {
			t.Fatalf("alice has %d connections, want %d", h.Connections("alice"), n)
		}
		time.Sleep(5 * time.Millisecond) // async boundary: the server notices closes on its own
	}
}

// TestSSEIdleMemory opens idle, authenticated /api/events streams and reports the heap and stack
// they hold per connection: served on the event loop, a stream holds no goroutine.
func TestSSEIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2000 connections")
	}
	const n = 2000
	e := newEnv(t, hub.Config{})
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	before := memNow()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		waitConnections(t, e.hub, 0)
	}()
	for i := range n {
		c, _, err := sseClient(addr, "")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	after := memNow()
	per := float64(after.bytes-before.bytes) / n
	gor := float64(after.goroutines-before.goroutines) / n
	t.Logf("%d idle SSE streams: %.0f bytes of heap+stack each (heap %.0f, stack %.0f), %.3f goroutines each",
		n, per, float64(after.heap-before.heap)/n, float64(after.stack-before.stack)/n, gor)
	if gor > 0.01 {
		t.Errorf("%.3f goroutines per idle stream, want none", gor)
	}
	if !raceEnabled && per > 8<<10 {
		t.Errorf("%.0f bytes per idle stream, want ≤ 8 KiB", per)
	}
}

// TestSSEStreamLifecycle: events reach the stream as they are published, Last-Event-ID resumes,
// a client that leaves releases its subscription, and Shutdown ends every stream with
// server.restart.
func TestSSEStreamLifecycle(t *testing.T) {
	e := newEnv(t, hub.Config{Epoch: "ep"})
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	// Twenty idle streams hold no goroutine each: at most the shared poll loop is added.
	base := runtime.NumGoroutine()
	for range 20 {
		c, _, err := sseClient(addr, "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitConnections(t, e.hub, 20)
	// The HTTP server's per-connection goroutines end asynchronously after the hijack: await
	// them (bounded) rather than count at once.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base+3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // async boundary: goroutines of hijacked connections exit
	}
	if g := runtime.NumGoroutine(); g > base+3 {
		t.Errorf("%d goroutines with 20 idle streams, %d before", g, base)
	}
	nc, br, err := sseClient(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	waitConnections(t, e.hub, 21)
	next := func(br *bufio.Reader) []string {
		t.Helper()
		var rec []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if l == "\n" {
				if len(rec) > 0 {
					return rec
				}
				continue
			}
			rec = append(rec, strings.TrimSuffix(l, "\n"))
		}
	}
	e.hub.Publish("alice", chat.NewEvent("run.delta", map[string]string{"text": "a"}))
	e.hub.Publish("bob", chat.NewEvent("run.delta", map[string]string{"text": "bob-secret"}))
	e.hub.Publish("alice", chat.NewEvent("run.final", map[string]string{"text": "b"}))
	if got := strings.Join(next(br), "|"); got != `id: ep-1|event: run.delta|data: {"text":"a"}` {
		t.Fatalf("first event %q", got)
	}
	if got := strings.Join(next(br), "|"); got != `id: ep-2|event: run.final|data: {"text":"b"}` {
		t.Fatalf("second event %q", got)
	}
	nc.Close()
	waitConnections(t, e.hub, 20)

	// Resume after ep-1: only ep-2 is replayed.
	nc, br, err = sseClient(addr, "ep-1")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := strings.Join(next(br), "|"); got != `id: ep-2|event: run.final|data: {"text":"b"}` {
		t.Fatalf("replayed %q", got)
	}
	e.api.Shutdown()
	if got := strings.Join(next(br), "|"); got != "event: server.restart|data: {}" {
		t.Fatalf("at shutdown %q", got)
	}
	if _, err := br.ReadString('\n'); err != io.EOF {
		t.Fatalf("after server.restart: %v, want EOF", err)
	}
	waitConnections(t, e.hub, 0) // Shutdown ended the twenty too
}
