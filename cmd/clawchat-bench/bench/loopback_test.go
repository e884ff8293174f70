package bench

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coder/websocket"
)

// benchFrame is a typical run.delta browser frame (about 140 bytes).
var benchFrame = []byte(`{"type":"event","event":"run.delta","seq":12345,"payload":{"conversation":"bench-0","runId":"m-17-f3","text":"[ts:1795275190650123456] "}}`)

// BenchmarkLoopbackWSFrame is the physical floor of one delivery as httpapi does it: one
// coder/websocket Write (one write syscall) per frame to a reader on loopback. ns/op includes the
// reader's cost (same process).
func BenchmarkLoopbackWSFrame(b *testing.B) {
	ready := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		ready <- c
	}))
	defer srv.Close()
	ctx := context.Background()
	cli, _, err := websocket.Dial(ctx, "ws"+srv.URL[4:], nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cli.CloseNow()
	s := <-ready
	defer s.CloseNow()
	done := make(chan int)
	go func() {
		n := 0
		for {
			_, r, err := cli.Reader(ctx)
			if err != nil {
				done <- n
				return
			}
			_, _ = io.Copy(io.Discard, r)
			n++
		}
	}()
	b.SetBytes(int64(len(benchFrame)))
	for b.Loop() {
		if err := s.Write(ctx, websocket.MessageText, benchFrame); err != nil {
			b.Fatal(err)
		}
	}
	s.CloseNow()
	<-done
}

// BenchmarkLoopbackBatch16 writes 16 pre-framed WebSocket messages per write syscall (what a
// writer that flushes once per drained batch would pay) to a plain reader on loopback. ns/op is
// per frame.
func BenchmarkLoopbackBatch16(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			acc <- c
		}
	}()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	srv := <-acc
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, cli)
		close(done)
	}()
	// One unmasked server text frame: FIN|text, 7-bit or 16-bit length.
	one := []byte{0x81, 126, byte(len(benchFrame) >> 8), byte(len(benchFrame))}
	one = append(one, benchFrame...)
	var batch []byte
	for range 16 {
		batch = append(batch, one...)
	}
	b.SetBytes(int64(len(benchFrame)))
	i := 0
	for b.Loop() {
		if i%16 == 0 {
			if _, err := srv.Write(batch); err != nil {
				b.Fatal(err)
			}
		}
		i++
	}
	srv.Close()
	<-done
	cli.Close()
}
