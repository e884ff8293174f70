package httpapi_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clawchat/clawchat/internal/hub"
)

// A client frame without a mask is a protocol error: the server closes with 1002.
func TestWSUnmaskedFrameClosed1002(t *testing.T) {
	e := newEnv(t, hub.Config{})
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nX-Test-User: alice\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	io.WriteString(nc, req)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if _, err := readServerFrame(br); err != nil {
		t.Fatal(err)
	}
	sub := []byte(`{"type":"req","id":"1","method":"ping","params":{}}`)
	nc.Write(append([]byte{0x81, byte(len(sub))}, sub...)) // no mask bit
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		p := make([]byte, h[1]&0x7F)
		io.ReadFull(br, p)
		if h[0]&0x0F == 0x8 {
			if len(p) < 2 || binary.BigEndian.Uint16(p) != 1002 {
				t.Fatalf("close payload %q, want 1002", p)
			}
			if strings.Contains(string(p), "ping") {
				t.Fatal("an unmasked request was handled")
			}
			return
		}
		if strings.Contains(string(p), `"res"`) {
			t.Fatalf("an unmasked request was answered: %s", p)
		}
	}
}

// A message over MaxWSMessage closes the connection with 1009 and is never handled.
func TestWSOversizedMessageClosed1009(t *testing.T) {
	e := newEnv(t, hub.Config{})
	a := e.dial(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	big := `{"type":"req","id":"1","method":"ping","params":{"x":"` + strings.Repeat("x", 8<<20) + `"}}`
	if err := a.c.Write(ctx, websocket.MessageText, []byte(big)); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := a.c.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st != websocket.StatusMessageTooBig {
				t.Fatalf("close = %v (%v), want 1009", st, err)
			}
			return
		}
		if strings.Contains(string(b), `"res"`) {
			t.Fatalf("oversized request answered: %.100s", b)
		}
	}
}
