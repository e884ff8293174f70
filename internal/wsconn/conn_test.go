package wsconn

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer upgrades every request and echoes each text message back; closed receives each
// connection's close reason.
type echoServer struct {
	ws     *Server
	srv    *httptest.Server
	url    string
	closed chan error
	conns  chan *Conn
}

func newEchoServer(t *testing.T, cfg Config) *echoServer {
	t.Helper()
	e := &echoServer{ws: NewServer(cfg), closed: make(chan error, 16), conns: make(chan *Conn, 16)}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := e.ws.Upgrade(w, r)
		if err != nil {
			return
		}
		select {
		case e.conns <- c:
		default:
		}
		c.Start(Handler{
			OnMessage: func(data []byte) {
				if string(data) == "close-1008" {
					_ = c.Close(StatusPolicyViolation, "go away")
					return
				}
				if string(data) == "batch" {
					_ = c.WriteText(context.Background(), []byte("one"), []byte("two"), bytes.Repeat([]byte("3"), 70000))
					return
				}
				_ = c.WriteText(context.Background(), data)
			},
			OnClose: func(err error) { e.closed <- err },
		})
	}))
	e.url = "ws" + strings.TrimPrefix(e.srv.URL, "http")
	t.Cleanup(e.srv.Close)
	return e
}

func (e *echoServer) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, e.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(16 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func (e *echoServer) waitClosed(t *testing.T) error {
	t.Helper()
	select {
	case err := <-e.closed:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("OnClose not called")
		return nil
	}
}

func modes(t *testing.T, f func(t *testing.T, cfg Config)) {
	t.Run("epoll", func(t *testing.T) { f(t, Config{}) })
	t.Run("blocking", func(t *testing.T) { f(t, Config{Blocking: true}) })
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEchoAndBatch(t *testing.T) {
	modes(t, func(t *testing.T, cfg Config) {
		e := newEchoServer(t, cfg)
		c := e.dial(t)
		ctx := ctx5(t)
		big := make([]byte, 3<<20)
		for i := range big {
			big[i] = 'a' + byte(i%26)
		}
		for _, msg := range [][]byte{[]byte("hello"), []byte(""), big} {
			if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.Read(ctx)
			if err != nil || typ != websocket.MessageText || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes: %v %v %d bytes", len(msg), typ, err, len(got))
			}
		}
		// A fragmented message (several frames) with a ping in between.
		w, err := c.Writer(ctx, websocket.MessageText)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		for i := range 50 {
			part := bytes.Repeat([]byte{'x' + byte(i%3)}, 1000+i)
			want.Write(part)
			if _, err := w.Write(part); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("fragmented echo: %v, %d bytes, want %d", err, len(got), want.Len())
		}
		if err := c.Write(ctx, websocket.MessageText, []byte("batch")); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"one", "two", strings.Repeat("3", 70000)} {
			if _, got, err := c.Read(ctx); err != nil || string(got) != want {
				t.Fatalf("batch: %v %.20q", err, got)
			}
		}
		// Pings from the client are answered while the connection is otherwise idle.
		go func() { _, _, _ = c.Read(context.Background()) }()
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("ping: %v", err)
		}
		c.Close(websocket.StatusNormalClosure, "bye")
		var ce *CloseError
		if err := e.waitClosed(t); !errors.As(err, &ce) || ce.Code != StatusNormalClosure {
			t.Fatalf("OnClose(%v), want close 1000", err)
		}
	})
}

func TestServerClose(t *testing.T) {
	modes(t, func(t *testing.T, cfg Config) {
		e := newEchoServer(t, cfg)
		c := e.dial(t)
		ctx := ctx5(t)
		_ = c.Write(ctx, websocket.MessageText, []byte("close-1008"))
		_, _, err := c.Read(ctx)
		if st := websocket.CloseStatus(err); st != websocket.StatusPolicyViolation {
			t.Fatalf("close status %v (%v)", st, err)
		}
		var ce *CloseError
		if err := e.waitClosed(t); !errors.As(err, &ce) || ce.Code != StatusPolicyViolation {
			t.Fatalf("OnClose(%v), want our 1008", err)
		}
		sc := <-e.conns
		if err := sc.WriteText(ctx, []byte("late")); !errors.Is(err, ErrClosed) {
			t.Fatalf("write after close: %v", err)
		}
	})
}

func TestProtocolViolations(t *testing.T) {
	cases := []struct {
		name string
		send func(c *websocket.Conn, ctx context.Context) error
		want websocket.StatusCode
	}{
		{"too big", func(c *websocket.Conn, ctx context.Context) error {
			return c.Write(ctx, websocket.MessageText, make([]byte, 1<<20+1))
		}, websocket.StatusMessageTooBig},
		{"binary", func(c *websocket.Conn, ctx context.Context) error {
			return c.Write(ctx, websocket.MessageBinary, []byte("x"))
		}, websocket.StatusUnsupportedData},
		{"invalid utf-8", func(c *websocket.Conn, ctx context.Context) error {
			return c.Write(ctx, websocket.MessageText, []byte{0xff, 0xfe})
		}, websocket.StatusInvalidFramePayloadData},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, cfg Config) {
				cfg.ReadLimit = 1 << 20
				e := newEchoServer(t, cfg)
				c := e.dial(t)
				ctx := ctx5(t)
				if err := tc.send(c, ctx); err != nil {
					t.Fatal(err)
				}
				_, _, err := c.Read(ctx)
				if st := websocket.CloseStatus(err); st != tc.want {
					t.Fatalf("close status %v (%v), want %v", st, err, tc.want)
				}
				e.waitClosed(t)
			})
		})
	}
}

// rawDial opens a TCP connection, sends the handshake (plus extra bytes in the same write) and
// reads the 101 answer.
func rawDial(t *testing.T, e *echoServer, extra []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), extra...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake answer %d %v", resp.StatusCode, resp.Header)
	}
	return nc, br
}

// clientFrame encodes a masked (or, with mask false, unmasked) client frame.
func clientFrame(fin bool, op byte, payload []byte, mask bool) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var b []byte
	n := len(payload)
	mbit := byte(0)
	if mask {
		mbit = 0x80
	}
	switch {
	case n <= 125:
		b = []byte{b0, mbit | byte(n)}
	case n <= 0xFFFF:
		b = []byte{b0, mbit | 126, byte(n >> 8), byte(n)}
	default:
		b = binary.BigEndian.AppendUint64([]byte{b0, mbit | 127}, uint64(n))
	}
	if !mask {
		return append(b, payload...)
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// readFrame reads one (unmasked) server frame.
func readFrame(t *testing.T, br *bufio.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if h[1]&0x80 != 0 {
		t.Fatal("server frame is masked")
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var ext [2]byte
		io.ReadFull(br, ext[:])
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		io.ReadFull(br, ext[:])
		n = binary.BigEndian.Uint64(ext[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	return h[0] & 0x0F, p
}

func TestRawClient(t *testing.T) {
	modes(t, func(t *testing.T, cfg Config) {
		e := newEchoServer(t, cfg)
		// A frame sent in the same packet as the handshake is not lost.
		nc, br := rawDial(t, e, clientFrame(true, opText, []byte("early"), true))
		if op, p := readFrame(t, br); op != opText || string(p) != "early" {
			t.Fatalf("early frame echo: %d %q", op, p)
		}
		// A ping between the fragments of a message, header bytes trickling in one at a time.
		msg := append(clientFrame(false, opText, []byte("frag"), true), clientFrame(true, opPing, []byte("pp"), true)...)
		msg = append(msg, clientFrame(true, opContinuation, []byte("mented"), true)...)
		for i := range msg {
			if _, err := nc.Write(msg[i : i+1]); err != nil {
				t.Fatal(err)
			}
		}
		if op, p := readFrame(t, br); op != opPong || string(p) != "pp" {
			t.Fatalf("pong: %d %q", op, p)
		}
		if op, p := readFrame(t, br); op != opText || string(p) != "fragmented" {
			t.Fatalf("fragmented: %d %q", op, p)
		}
		// An unmasked frame is a protocol error: close 1002.
		nc.Write(clientFrame(true, opText, []byte("naked"), false))
		op, p := readFrame(t, br)
		if op != opClose || len(p) < 2 || StatusCode(binary.BigEndian.Uint16(p)) != StatusProtocolError {
			t.Fatalf("want close 1002, got %d %q", op, p)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("after close 1002: %v, want EOF", err)
		}
		e.waitClosed(t)
	})
}

// TestFailClosesTCPAtOnce: after a violation that loses the frame boundaries (1002), the server
// fails the connection (RFC 6455 §7.1.7): close frame, then TCP closed at once, without waiting
// for the client's close frame (which it could not find in the stream anyway).
func TestFailClosesTCPAtOnce(t *testing.T) {
	modes(t, func(t *testing.T, cfg Config) {
		cfg.CloseTimeout = time.Hour // waiting for it would fail the test (10 s deadline)
		e := newEchoServer(t, cfg)
		for _, bad := range [][]byte{
			clientFrame(true, opText, []byte("naked"), false),                 // unmasked
			clientFrame(true, 0x3, nil, true),                                 // unknown opcode
			clientFrame(true, opContinuation, []byte("x"), true),              // continuation first
			clientFrame(true, opClose, []byte{0x03, 0xE7}, true),              // invalid close code
			append(clientFrame(true, opText, []byte("ok"), true), 0xF1, 0x80), // reserved bits after a good frame
		} {
			nc, br := rawDial(t, e, nil)
			start := time.Now()
			nc.Write(bad)
			var op byte
			for op = opText; op == opText; op, _ = readFrame(t, br) {
			}
			if op != opClose {
				t.Fatalf("%x: frame %d, want close", bad, op)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("%x: after close: %v, want EOF", bad, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%x: TCP closed after %v", bad, d)
			}
			var ce *CloseError
			if err := e.waitClosed(t); !errors.As(err, &ce) || ce.Code != StatusProtocolError {
				t.Errorf("%x: OnClose(%v), want 1002", bad, err)
			}
		}
	})
}

// TestInSyncViolationCompletesCloseHandshake: after a violation that leaves the stream in sync
// (1007 invalid UTF-8, 1009 too big, 1003 binary), the server sends its close frame, skips the
// client's further data frames, and closes TCP as soon as the client's close frame arrives
// (not after CloseTimeout).
func TestInSyncViolationCompletesCloseHandshake(t *testing.T) {
	modes(t, func(t *testing.T, cfg Config) {
		cfg.CloseTimeout = time.Hour // waiting for it would fail the test (10 s deadline)
		cfg.ReadLimit = 1 << 10
		e := newEchoServer(t, cfg)
		big := clientFrame(true, opText, make([]byte, 4<<10), true)
		for _, tc := range []struct {
			name       string
			first, mid []byte // mid is sent after the server's close frame arrived
			want       StatusCode
		}{
			{"invalid utf-8", clientFrame(true, opText, []byte{0xff, 0xfe}, true), nil, StatusInvalidPayload},
			{"binary", clientFrame(true, opBinary, []byte("x"), true), nil, StatusUnsupportedData},
			// The header and the first bytes go first; the rest of the payload after the close.
			{"too big", big[:100], big[100:], StatusMessageTooBig},
		} {
			t.Run(tc.name, func(t *testing.T) {
				nc, br := rawDial(t, e, nil)
				nc.Write(tc.first)
				op, p := readFrame(t, br)
				if op != opClose || len(p) < 2 || StatusCode(binary.BigEndian.Uint16(p)) != tc.want {
					t.Fatalf("want close %d, got %d %q", tc.want, op, p)
				}
				// The client still has frames in flight, then answers the close.
				rest := append(tc.mid, clientFrame(true, opText, []byte("in flight"), true)...)
				rest = append(rest, clientFrame(true, opText, []byte{0xC3}, true)...)
				rest = append(rest, clientFrame(true, opClose, p[:2], true)...)
				start := time.Now()
				if _, err := nc.Write(rest); err != nil {
					t.Fatal(err)
				}
				if _, err := br.ReadByte(); err != io.EOF {
					t.Fatalf("after the close handshake: %v, want EOF", err)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("TCP closed %v after the client's close frame", d)
				}
				var ce *CloseError
				if err := e.waitClosed(t); !errors.As(err, &ce) || ce.Code != tc.want {
					t.Errorf("OnClose(%v), want our %d", err, tc.want)
				}
			})
		}
	})
}

func TestBadHandshake(t *testing.T) {
	e := newEchoServer(t, Config{})
	for _, tc := range []struct {
		hdr  map[string]string
		want int
	}{
		{map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "short"}, 400},
		{map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, 426},
		{map[string]string{"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, 426},
		{map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!!!"}, 400},
	} {
		req, _ := http.NewRequest("GET", e.srv.URL, nil)
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%v: %d, want %d", tc.hdr, resp.StatusCode, tc.want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestKeepalive(t *testing.T) {
	modes(t, func(t *testing.T, cfg Config) {
		cfg.PingInterval = 20 * time.Millisecond
		cfg.PongTimeout = 200 * time.Millisecond
		e := newEchoServer(t, cfg)
		// A client that answers pings stays connected through many intervals.
		c := e.dial(t)
		readErr := make(chan error, 1)
		go func() { _, _, err := c.Read(context.Background()); readErr <- err }()
		deadline := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(deadline) {
			select {
			case err := <-e.closed:
				t.Fatalf("answering client closed: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
		c.CloseNow()
		e.waitClosed(t)
		<-readErr
		// A client that never answers is closed after the pong timeout.
		_, br := rawDial(t, e, nil)
		if op, _ := readFrame(t, br); op != opPing {
			t.Fatalf("want ping, got %d", op)
		}
		var ce *CloseError
		if err := e.waitClosed(t); !errors.As(err, &ce) || ce.Code != StatusGoingAway {
			t.Fatalf("silent client: OnClose(%v), want 1001 ping timeout", err)
		}
	})
}

func TestPollerStopsWhenIdle(t *testing.T) {
	e := newEchoServer(t, Config{})
	var cs []*websocket.Conn
	for range 5 {
		cs = append(cs, e.dial(t))
	}
	p := e.ws.poll
	// The server side registers each connection after the client's handshake returned: await it.
	var n int
	var running bool
	for deadline := time.Now().Add(5 * time.Second); ; runtime.Gosched() {
		p.mu.Lock()
		n, running = len(p.conns), p.epfd >= 0
		p.mu.Unlock()
		if n == 5 && running || time.Now().After(deadline) {
			break
		}
	}
	if n != 5 || !running {
		t.Fatalf("registered %d, running %v", n, running)
	}
	for _, c := range cs {
		c.CloseNow()
	}
	for range cs {
		e.waitClosed(t)
	}
	p.mu.Lock()
	n, running = len(p.conns), p.epfd >= 0
	p.mu.Unlock()
	if n != 0 || running {
		t.Fatalf("after close: registered %d, running %v", n, running)
	}
	// And it starts again.
	c := e.dial(t)
	ctx := ctx5(t)
	_ = c.Write(ctx, websocket.MessageText, []byte("again"))
	if _, got, err := c.Read(ctx); err != nil || string(got) != "again" {
		t.Fatalf("after restart: %v %q", err, got)
	}
	c.CloseNow()
	e.waitClosed(t)
}

func TestManyConnections(t *testing.T) {
	e := newEchoServer(t, Config{})
	e.closed = make(chan error, 200)
	const n = 100
	cs := make([]*websocket.Conn, n)
	for i := range cs {
		cs[i] = e.dial(t)
	}
	ctx := ctx5(t)
	errs := make(chan error, n)
	for i, c := range cs {
		go func() {
			msg := fmt.Sprint("m", i)
			for range 20 {
				if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
					errs <- err
					return
				}
				if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
					errs <- fmt.Errorf("%d: %v %q", i, err, got)
					return
				}
			}
			errs <- nil
		}()
	}
	for range cs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cs {
		c.Close(websocket.StatusNormalClosure, "")
	}
	for range cs {
		e.waitClosed(t)
	}
}

func TestWaitReturnsAfterCloseHandshake(t *testing.T) {
	e := newEchoServer(t, Config{CloseTimeout: 200 * time.Millisecond})
	c := e.dial(t)
	sc := <-e.conns
	go func() { _, _, _ = c.Read(context.Background()) }() // answers the close frame
	_ = sc.Close(StatusServiceRestart, "restart")
	if err := sc.Wait(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	e.waitClosed(t)
	// A peer that never answers is cut off after the close timeout.
	_, _ = rawDial(t, e, nil)
	sc = <-e.conns
	_ = sc.Close(StatusServiceRestart, "restart")
	start := time.Now()
	if err := sc.Wait(ctx5(t)); err != nil || time.Since(start) > 4*time.Second {
		t.Fatalf("wait: %v after %v", err, time.Since(start))
	}
	e.waitClosed(t)
}
