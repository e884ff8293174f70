package wsconn

import (
	"bufio"
	"context"
	"net"
	"sync/atomic"
	"testing"
)

// countingConn counts Write calls.
type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

func TestWriteTextBatchIsOneWrite(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	cc := &countingConn{Conn: server}
	c := &Conn{s: NewServer(Config{Blocking: true}), nc: cc}
	defer c.CloseNow()
	msgs := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`), make([]byte, 300), []byte(`{"c":3}`)}
	done := make(chan error, 1)
	go func() { done <- c.WriteText(context.Background(), msgs...) }()
	br := bufio.NewReader(client)
	for i, want := range msgs {
		op, p := readFrame(t, br)
		if op != opText || string(p) != string(want) {
			t.Fatalf("frame %d: op %d, %d bytes", i, op, len(p))
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := cc.writes.Load(); n != 1 {
		t.Fatalf("%d writes for one batch, want 1", n)
	}
}
