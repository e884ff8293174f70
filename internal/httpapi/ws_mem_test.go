package httpapi_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/hub"
)

// TestWSIdleMemory opens idle, authenticated and subscribed /ws connections and reports the
// heap and stack they hold per connection (server side plus the test client's bare socket).
// The clients are raw TCP connections, so almost everything measured is the server's.
func TestWSIdleMemory(t *testing.T) {
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
		c, err := idleClient(addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	after := memNow()
	per := float64(after.bytes-before.bytes) / n
	t.Logf("%d idle /ws connections: %.0f bytes of heap+stack each (heap %.0f, stack %.0f), %.2f goroutines each",
		n, per, float64(after.heap-before.heap)/n, float64(after.stack-before.stack)/n, float64(after.goroutines-before.goroutines)/n)
	if !raceEnabled && per > 8<<10 {
		t.Errorf("%.0f bytes per idle connection, want ≤ 8 KiB", per)
	}
}

type memSample struct{ bytes, heap, stack, goroutines int64 }

func memNow() memSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{int64(ms.HeapAlloc + ms.StackInuse), int64(ms.HeapAlloc), int64(ms.StackInuse), int64(runtime.NumGoroutine())}
}

// idleClient upgrades, reads hello, subscribes and reads the answer, then keeps only the socket.
func idleClient(addr string) (net.Conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nX-Test-User: alice\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("upgrade: %v %v", resp, err)
	}
	if hello, err := readServerFrame(br); err != nil || !strings.Contains(string(hello), `"hello"`) {
		nc.Close()
		return nil, fmt.Errorf("hello: %q %v", hello, err)
	}
	sub := []byte(`{"type":"req","id":"1","method":"subscribe","params":{}}`)
	frame := append([]byte{0x81, 0x80 | byte(len(sub)), 0, 0, 0, 0}, sub...) // zero mask key
	if _, err := nc.Write(frame); err != nil {
		nc.Close()
		return nil, err
	}
	if res, err := readServerFrame(br); err != nil || !strings.Contains(string(res), `"ok":true`) {
		nc.Close()
		return nil, fmt.Errorf("subscribe: %q %v", res, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, nil
}

func readServerFrame(br *bufio.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, err
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return nil, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		return nil, fmt.Errorf("unexpectedly large frame")
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return p, err
}
