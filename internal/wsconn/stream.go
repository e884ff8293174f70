package wsconn

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// ErrNoHijack is returned by Stream when the connection cannot be taken over from net/http
// (HTTP/2, a HEAD request, or a ResponseWriter without Hijack). Nothing has been written: the
// caller can serve the stream the ordinary way.
var ErrNoHijack = errors.New("wsconn: connection cannot be hijacked")

// Stream takes over r's connection for a long-lived plain HTTP response, such as server-sent
// events, served like a WebSocket: no goroutine and no buffer while idle, the socket watched by
// the Server's epoll instance for the client's end, writes batched with one system call.
//
// It writes the status line, the headers already set on w (Content-Length and
// Transfer-Encoding are dropped; "Connection: close" delimits the body) and body, in one write.
// Later writes (WriteText) are sent unframed. Every PingInterval ping is written as a keepalive.
// Bytes the client sends are discarded; its EOF or a failed write ends the connection.
// Close and CloseNow end it at once. The returned Conn reads nothing until Start.
func (s *Server) Stream(w http.ResponseWriter, r *http.Request, status int, body, ping []byte) (*Conn, error) {
	if r.ProtoMajor != 1 || r.Method == http.MethodHead { // HEAD: net/http drops the body itself
		return nil, ErrNoHijack
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			return nil, ErrNoHijack
		}
		return nil, fmt.Errorf("wsconn: hijack: %w", err)
	}
	h := w.Header().Clone()
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	h.Set("Connection", "close")
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	_ = h.Write(&head)
	head.WriteString("\r\n")
	head.Write(body)
	_ = conn.SetDeadline(time.Time{})
	_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if _, err := conn.Write(head.Bytes()); err != nil {
		conn.Close()
		return nil, fmt.Errorf("wsconn: write stream head: %w", err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	c := &Conn{s: s, nc: conn, stream: true, ping: ping}
	if s.poll != nil {
		if sc, ok := conn.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				c.rc = rc
			}
		}
	}
	return c, nil
}
