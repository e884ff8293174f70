package wsconn

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStream: a hijacked plain HTTP stream gets its head and first body in one piece, unframed
// writes, a keepalive every PingInterval, ignores what the client sends, and ends with OnClose
// when the client goes away; Close ends it from the server side at once.
func TestStream(t *testing.T) {
	modes(t, func(t *testing.T, cfg Config) {
		cfg.PingInterval = 30 * time.Millisecond
		s := NewServer(cfg)
		conns := make(chan *Conn, 1)
		closed := make(chan error, 2)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("X-Test", "kept")
			c, err := s.Stream(w, r, http.StatusOK, []byte("retry: 1\n\n"), []byte(": ping\n\n"))
			if err != nil {
				t.Errorf("Stream: %v", err)
				return
			}
			c.Start(Handler{OnClose: func(err error) { closed <- err }})
			conns <- c
		}))
		t.Cleanup(srv.Close)

		open := func() (net.Conn, *bufio.Reader, *Conn) {
			nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(nc, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(nc)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("X-Test") != "kept" ||
				!res.Close || res.ContentLength != -1 || len(res.TransferEncoding) != 0 {
				t.Fatalf("head: %d %v len=%d te=%v", res.StatusCode, res.Header, res.ContentLength, res.TransferEncoding)
			}
			return nc, bufio.NewReader(res.Body), <-conns
		}
		line := func(br *bufio.Reader) string {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			return l
		}

		nc, br, c := open()
		if l := line(br); l != "retry: 1\n" {
			t.Fatalf("first body line %q", l)
		}
		line(br) // blank
		nc.Write([]byte("ignored bytes\r\n"))
		if err := c.WriteText(context.Background(), []byte("data: a\n\n"), []byte("data: b\n\n")); err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(got) < 3 {
			if l := line(br); l != "\n" {
				got = append(got, l)
			}
		}
		// The pings may come before or between the data lines.
		var data []string
		pings := 0
		for _, l := range got {
			if l == ": ping\n" {
				pings++
			} else {
				data = append(data, l)
			}
		}
		for len(data) < 2 {
			if l := line(br); l == ": ping\n" {
				pings++
			} else if l != "\n" {
				data = append(data, l)
			}
		}
		if data[0] != "data: a\n" || data[1] != "data: b\n" {
			t.Fatalf("data = %q", data)
		}
		for pings < 2 { // keepalive keeps coming without any answer from the client
			if l := line(br); l == ": ping\n" {
				pings++
			}
		}
		nc.Close()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("OnClose not called after the client left")
		}
		if err := c.WriteText(context.Background(), []byte("late")); !errors.Is(err, ErrClosed) {
			t.Fatalf("write after close: %v", err)
		}

		// Server side Close: EOF for the client at once.
		_, br, c = open()
		line(br)
		line(br)
		_ = c.Close(StatusGoingAway, "bye")
		for {
			if _, err := br.ReadString('\n'); err != nil {
				if err != io.EOF {
					t.Fatalf("after Close: %v, want EOF", err)
				}
				break
			}
		}
		var ce *CloseError
		if err := <-closed; !errors.As(err, &ce) || ce.Code != StatusGoingAway {
			t.Fatalf("OnClose(%v)", err)
		}
	})
}

// TestStreamNoHijack: a ResponseWriter that cannot be hijacked gets ErrNoHijack and nothing
// written, so the caller can serve the stream itself.
func TestStreamNoHijack(t *testing.T) {
	s := NewServer(Config{})
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/events", nil)
	if _, err := s.Stream(w, r, 200, []byte("x"), nil); !errors.Is(err, ErrNoHijack) {
		t.Fatalf("err = %v", err)
	}
	if w.Body.Len() != 0 || w.Code != 200 || w.Flushed {
		t.Fatal("something was written")
	}
	r.ProtoMajor = 2
	if _, err := s.Stream(w, r, 200, []byte("x"), nil); !errors.Is(err, ErrNoHijack) {
		t.Fatalf("HTTP/2: err = %v", err)
	}
	if _, err := s.Stream(w, httptest.NewRequest("HEAD", "/events", nil), 200, []byte("x"), nil); !errors.Is(err, ErrNoHijack) {
		t.Fatalf("HEAD: err = %v", err)
	}
}
