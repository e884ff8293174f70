// Package wsconn owns readiness-driven server-side WebSocket connections (RFC 6455, text
// messages, no extensions): the opening handshake on a hijacked net/http connection, framing,
// control frames, keepalive pings and batched writes.
//
// An idle connection holds no goroutine and no buffer: on Linux every socket is registered
// with one epoll instance per Server (level-triggered, one-shot), served by a single poll
// goroutine that exists only while connections exist. When a socket becomes readable the poll
// goroutine starts a short-lived goroutine that reads what is available into a pooled buffer,
// unmasks and parses it, hands complete text messages to the Handler, and re-arms the socket.
// Only a message split across reads keeps bytes between readiness events, and only until it is
// complete. One-shot registration means at most one goroutine reads a connection at a time, and
// level triggering means a socket re-armed with unread bytes is reported again at once, so a
// reader may stop early (fairness) without losing a wake-up.
//
// Elsewhere (other operating systems, or connections without a file descriptor) each
// connection gets one reading goroutine instead; the behaviour is the same.
//
// Keepalive pings and the close handshake's timeout use one runtime timer per connection (no
// goroutine while waiting).
//
// Violations (RFC 6455 §7.1.7): one that loses the frame boundaries (1002, or a malformed close
// frame) fails the connection: the close frame is sent and TCP is closed at once. One that
// leaves the stream in sync (1003 binary, 1007 invalid UTF-8, 1009 too big) starts the close
// handshake instead: further data frames are skipped unread, and the connection closes as soon
// as the peer's close frame arrives (or after CloseTimeout).
package wsconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrClosed is returned by writes on a connection that is closing or closed.
var ErrClosed = errors.New("wsconn: connection closed")

// Config configures a Server. Zero values take the defaults.
type Config struct {
	ReadLimit    int64         // maximum message size, default 8 MiB
	WriteTimeout time.Duration // per write call (a batch), default 10 s
	PingInterval time.Duration // keepalive ping after this much time, default 25 s; < 0 disables
	PongTimeout  time.Duration // a ping unanswered for this long closes the connection, default 20 s
	CloseTimeout time.Duration // wait for the peer's close frame after ours, default 5 s
	// Blocking gives every connection its own reading goroutine instead of the shared epoll
	// instance (the portable path; always used where epoll is unavailable).
	Blocking bool
	Logger   *slog.Logger
}

// Server upgrades HTTP requests to WebSocket connections and reads all of them. It is safe for
// concurrent use. A Server needs no shutdown: its poll goroutine exits when its last connection
// closes, and callers close connections themselves.
type Server struct {
	cfg  Config
	poll *poller // nil: blocking mode
	rbuf sync.Pool
	wbuf sync.Pool
}

const (
	readBufSize  = 16 << 10
	maxWriteCopy = 64 << 10 // batches up to this size are copied into one buffer; larger ones use writev
	readBudget   = 64       // reads per readiness event before yielding to other connections
)

// NewServer returns a Server with cfg's defaults filled in.
func NewServer(cfg Config) *Server {
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = 8 << 20
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.PongTimeout <= 0 {
		cfg.PongTimeout = 20 * time.Second
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg}
	if !cfg.Blocking {
		s.poll = newPoller(cfg.Logger)
	}
	s.rbuf.New = func() any { b := make([]byte, readBufSize); return &b }
	s.wbuf.New = func() any { b := make([]byte, 0, 4<<10); return &b }
	return s
}

// Handler receives a connection's messages and its end.
type Handler struct {
	// OnMessage is called with each complete text message, in order and one at a time for a
	// connection, on a goroutine owned by the Server. data is valid only during the call. The
	// connection reads nothing more while it runs, so it should hand long work to another
	// goroutine.
	OnMessage func(data []byte)
	// OnClose is called exactly once when the connection is gone (closed by either side, a
	// failed write, a protocol error or a missed pong), with the reason (a *CloseError when a
	// close frame was received or sent). It runs on whichever goroutine noticed; it must not
	// block on this connection's writes.
	OnClose func(err error)
}

// Conn is one server-side WebSocket connection. WriteText, Close and CloseNow are safe for
// concurrent use.
type Conn struct {
	s     *Server
	nc    net.Conn
	rc    syscall.RawConn // epoll mode only
	early []byte          // bytes the client sent right after its handshake
	h     Handler

	p  parser // read side: one reader at a time
	id uint32 // epoll registration (guarded by the poller's mutex)

	// stream is set for a plain HTTP response stream (Server.Stream, e.g. server-sent events):
	// writes go out unframed, whatever the client sends is discarded, ping is written as the
	// keepalive and no answer is awaited, and Close closes at once (there is no close handshake).
	stream bool
	ping   []byte

	wmu     sync.Mutex // serialises writes
	closing atomic.Bool

	mu        sync.Mutex
	dead      bool
	closeSent bool
	awaitPong bool
	timer     *time.Timer
	closeErr  error
	done      chan struct{} // made by Wait, closed by teardown
}

// Upgrade performs the opening handshake of r and takes the connection over from net/http.
// Authentication and origin checks belong before it. On error the response has been written
// (400/426 for a bad handshake). The connection reads nothing until Start.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request) (*Conn, error) {
	accept, err := checkHandshake(w, r)
	if err != nil {
		return nil, err
	}
	nc, early, err := hijack(w, accept, s.cfg.WriteTimeout)
	if err != nil {
		return nil, err
	}
	c := &Conn{s: s, nc: nc, early: early}
	c.p.limit = s.cfg.ReadLimit
	if s.poll != nil {
		if sc, ok := nc.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				c.rc = rc
			}
		}
	}
	return c, nil
}

// Start begins reading: messages go to h.OnMessage, and h.OnClose learns of the end. Call it once,
// after anything that must be written before the first message is handled.
func (c *Conn) Start(h Handler) {
	c.mu.Lock()
	c.h = h
	if c.dead {
		c.mu.Unlock()
		if h.OnClose != nil {
			h.OnClose(c.closeErr)
		}
		return
	}
	if c.s.cfg.PingInterval > 0 && !c.closeSent {
		c.resetTimer(c.s.cfg.PingInterval)
	}
	c.mu.Unlock()
	if len(c.early) > 0 {
		early := c.early
		c.early = nil
		if !c.consume(early) {
			return
		}
	}
	if c.rc == nil {
		go c.readLoop()
		return
	}
	if err := c.s.poll.add(c); err != nil {
		if errors.Is(err, ErrClosed) {
			c.teardown(err)
			return
		}
		c.s.cfg.Logger.Warn("wsconn: epoll registration failed, reading with a goroutine", "err", err)
		go c.readLoop()
	}
}

// readLoop is the portable reader: one goroutine per connection.
func (c *Conn) readLoop() {
	buf := make([]byte, 4<<10)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 && !c.consume(buf[:n]) {
			return
		}
		if err != nil {
			c.teardown(fmt.Errorf("wsconn: read: %w", err))
			return
		}
	}
}

// readReady runs on a fresh goroutine when the poller reports the socket readable.
func (c *Conn) readReady() {
	bp := c.s.rbuf.Get().(*[]byte)
	defer c.s.rbuf.Put(bp)
	buf := *bp
	for range readBudget {
		n, err := c.rawRead(buf)
		if n > 0 && !c.consume(buf[:n]) {
			return
		}
		if err == errWouldBlock || (err == nil && n > 0 && n < len(buf)) {
			break
		}
		if err == nil && n == 0 {
			err = io.EOF
		}
		if err != nil {
			c.teardown(fmt.Errorf("wsconn: read: %w", err))
			return
		}
	}
	if !c.s.poll.rearm(c) {
		c.teardown(fmt.Errorf("wsconn: re-arm: %w", ErrClosed))
	}
}

// consume parses b; it reports whether the connection should keep reading.
func (c *Conn) consume(b []byte) bool {
	if c.stream {
		return true // a stream's client has nothing to say; only its end (EOF) matters
	}
	err := c.p.feed(b, c.emit)
	if err == nil {
		return true
	}
	var ce *CloseError
	if errors.As(err, &ce) {
		// A violation that loses the frame boundaries, or an invalid close frame: fail the
		// connection (RFC 6455 §7.1.7): send the close frame, then close TCP at once, since
		// the peer's answer could not be found in the stream anyway.
		_, _ = c.sendClose(ce.Code, ce.Reason)
		c.teardown(ce)
		return false
	}
	c.teardown(err)
	return false
}

func (c *Conn) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

func (c *Conn) emit(op int, payload []byte) error {
	switch op {
	case opFail:
		// A violation that keeps the stream in sync (1003, 1007, 1009): start the close
		// handshake; the parser drains data frames until the peer's close frame arrives.
		code := StatusCode(uint16(payload[0])<<8 | uint16(payload[1]))
		if err := c.Close(code, string(payload[2:])); err != nil {
			return err
		}
		if c.isDead() {
			return ErrClosed
		}
	case opText:
		if !c.closing.Load() && c.h.OnMessage != nil {
			c.h.OnMessage(payload)
		}
	case opPing:
		if !c.closing.Load() {
			c.wmu.Lock()
			err := c.writeFrame(opPong, payload, time.Now().Add(c.s.cfg.WriteTimeout))
			c.wmu.Unlock()
			if err != nil {
				return err
			}
		}
	case opPong:
		c.mu.Lock()
		if c.awaitPong && !c.closeSent && !c.dead {
			c.awaitPong = false
			c.resetTimer(c.s.cfg.PingInterval)
		}
		c.mu.Unlock()
	case opClose:
		ce := &CloseError{Code: StatusNoStatus}
		if len(payload) >= 2 {
			ce = &CloseError{Code: StatusCode(uint16(payload[0])<<8 | uint16(payload[1])), Reason: string(payload[2:])}
		}
		// Echo the peer's code (RFC 6455 §5.5.1) unless we closed first, then end.
		_, _ = c.sendClose(ce.Code, "")
		c.teardown(ce)
		return ce
	}
	return nil
}

// sendClose writes a close frame unless one was sent already; it reports whether it did.
func (c *Conn) sendClose(code StatusCode, reason string) (bool, error) {
	c.mu.Lock()
	if c.closeSent || c.dead {
		c.mu.Unlock()
		return false, nil
	}
	c.closeSent = true
	c.closing.Store(true)
	c.mu.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return true, c.writeFrame(opClose, closePayload(code, reason), time.Now().Add(c.s.cfg.WriteTimeout))
}

// Close starts the close handshake: it sends a close frame with code and reason (after writes in
// progress) and closes the connection when the peer answers, or after the close timeout. Later
// writes fail with ErrClosed. It returns the error of writing the close frame; the connection
// is then closed at once.
func (c *Conn) Close(code StatusCode, reason string) error {
	if c.stream {
		c.mu.Lock()
		if c.closeErr == nil {
			c.closeErr = &CloseError{Code: code, Reason: reason}
		}
		c.mu.Unlock()
		c.wmu.Lock() // after writes in progress
		c.closing.Store(true)
		c.wmu.Unlock()
		c.teardown(ErrClosed)
		return nil
	}
	c.closing.Store(true)
	sent, err := c.sendClose(code, reason)
	if err != nil {
		c.teardown(fmt.Errorf("wsconn: write close: %w", err))
		return err
	}
	if !sent {
		return nil
	}
	c.mu.Lock()
	if !c.dead {
		c.resetTimer(c.s.cfg.CloseTimeout)
	}
	if c.closeErr == nil {
		c.closeErr = &CloseError{Code: code, Reason: reason}
	}
	c.mu.Unlock()
	return nil
}

// Wait blocks until the connection is closed (the close handshake finished or timed out, or
// the connection failed), or until ctx is done.
func (c *Conn) Wait(ctx context.Context) error {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return nil
	}
	if c.done == nil {
		c.done = make(chan struct{})
	}
	done := c.done
	c.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wsconn: wait: %w", ctx.Err())
	}
}

// CloseNow closes the connection without a close handshake.
func (c *Conn) CloseNow() error {
	c.teardown(ErrClosed)
	return nil
}

// resetTimer (re)schedules the connection's timer; c.mu is held.
func (c *Conn) resetTimer(d time.Duration) {
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.onTimer)
		return
	}
	c.timer.Reset(d)
}

// onTimer is the connection's single timer: the close handshake's timeout, a missed pong, or
// the next keepalive ping.
func (c *Conn) onTimer() {
	c.mu.Lock()
	switch {
	case c.dead:
		c.mu.Unlock()
	case c.closeSent:
		c.mu.Unlock()
		c.teardown(fmt.Errorf("wsconn: close handshake timed out: %w", ErrClosed))
	case c.awaitPong:
		c.closeErr = &CloseError{Code: StatusGoingAway, Reason: "ping timeout"}
		c.mu.Unlock()
		_ = c.Close(StatusGoingAway, "ping timeout")
	default:
		op := byte(opPing)
		if c.stream {
			// A stream's keepalive is a write that needs no answer: a dead peer shows up as a
			// failed write, or as EOF on the socket.
			op = 0
			c.resetTimer(c.s.cfg.PingInterval)
		} else {
			c.awaitPong = true
			c.resetTimer(c.s.cfg.PongTimeout)
		}
		c.mu.Unlock()
		c.wmu.Lock()
		err := ErrClosed
		if !c.closing.Load() {
			if c.stream {
				err = c.writeFrame(op, c.ping, time.Now().Add(c.s.cfg.WriteTimeout))
			} else {
				err = c.writeFrame(op, nil, time.Now().Add(c.s.cfg.WriteTimeout))
			}
		}
		c.wmu.Unlock()
		if err != nil && err != ErrClosed {
			c.teardown(fmt.Errorf("wsconn: write ping: %w", err))
		}
	}
}

// teardown ends the connection once: no more reads, timers stopped, socket closed, OnClose.
func (c *Conn) teardown(err error) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead = true
	c.closing.Store(true)
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.closeErr == nil {
		c.closeErr = err
	}
	err = c.closeErr
	onClose := c.h.OnClose
	if c.done != nil {
		close(c.done)
	}
	c.mu.Unlock()
	if c.s.poll != nil {
		c.s.poll.remove(c) // before the descriptor is closed and its number reused
	}
	_ = c.nc.Close()
	if onClose != nil {
		onClose(err)
	}
}

// WriteText writes msgs as text messages, in order, with one write system call (frames are
// copied into one pooled buffer, or gathered with writev when large). On a stream (Server.Stream)
// msgs are written as they are, unframed. It returns ErrClosed once
// the connection is closing. The write must finish within the Server's WriteTimeout or ctx's
// deadline, whichever is earlier; ctx's cancellation is checked before writing. A failed write
// closes the connection (a frame may be cut). Concurrent calls are serialised.
func (c *Conn) WriteText(ctx context.Context, msgs ...[]byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wsconn: write: %w", err)
	}
	deadline := time.Now().Add(c.s.cfg.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.wmu.Lock()
	if c.closing.Load() {
		c.wmu.Unlock()
		return ErrClosed
	}
	err := c.writeFrames(opText, msgs, deadline)
	c.wmu.Unlock()
	if err != nil {
		c.teardown(fmt.Errorf("wsconn: write: %w", err))
		return err
	}
	return nil
}

// writeFrame writes one frame; c.wmu is held.
func (c *Conn) writeFrame(op byte, payload []byte, deadline time.Time) error {
	return c.writeFrames(op, [][]byte{payload}, deadline)
}

// writeFrames writes msgs as frames of op with one write; c.wmu is held.
func (c *Conn) writeFrames(op byte, msgs [][]byte, deadline time.Time) error {
	total := 0
	for _, m := range msgs {
		total += len(m) + 10
	}
	if err := c.nc.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("wsconn: set deadline: %w", err)
	}
	if total <= maxWriteCopy {
		bp := c.s.wbuf.Get().(*[]byte)
		b := (*bp)[:0]
		for _, m := range msgs {
			if c.stream {
				b = append(b, m...)
			} else {
				b = appendFrame(b, op, m)
			}
		}
		_, err := c.nc.Write(b)
		if cap(b) <= maxWriteCopy {
			*bp = b[:0]
			c.s.wbuf.Put(bp)
		}
		return err
	}
	hdrs := make([]byte, 0, 10*len(msgs))
	bufs := make(net.Buffers, 0, 2*len(msgs))
	for _, m := range msgs {
		if c.stream {
			bufs = append(bufs, m)
			continue
		}
		start := len(hdrs)
		hdrs = appendHeader(hdrs, op, len(m))
		bufs = append(bufs, hdrs[start:], m)
	}
	_, err := bufs.WriteTo(c.nc)
	return err
}
