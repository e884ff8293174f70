package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/wsconn"
)

// sseStream is one GET /api/events served like a /ws connection: after the response head the
// connection is taken over from net/http and handed to the API's wsconn.Server, so an idle stream
// holds no goroutine and no buffer. Its socket is watched (epoll) only for the client's end, a
// writer goroutine exists only while hub frames are pending, and the ": ping" keepalive is a
// timer. It costs its socket, this struct and the hub subscription.
type sseStream struct {
	a     *api
	sub   *hub.Subscription
	scope *eventScope // what of the user's events the stream gets (scope.go)
	lc    *liveConn   // its registration (live.go), forgotten when the stream ends

	mu          sync.Mutex
	conn        *wsconn.Conn // nil until the head is out
	pendingWake bool
	closed      bool
}

var (
	sseRetry          = []byte("retry: 2000\n\n")
	ssePing           = []byte(": ping\n\n")
	sseRestart        = []byte("event: server.restart\ndata: {}\n\n")
	sseSessionEnded   = []byte("event: session.ended\ndata: {}\n\n")
	sseAccountChanged = []byte("event: account.changed\ndata: {}\n\n")
)

// streamEvents serves GET /api/events on the shared event loop. It reports false, having written
// nothing, when the connection cannot be taken over (HTTP/2, or a test ResponseWriter): the caller
// then serves the stream with a goroutine.
//
// Once it took over, the stream owns lc: account events reach it through onLoop (endFor), and it
// forgets lc when it ends. An account event that arrived on ended before that ends it at once.
func (a *api) streamEvents(w http.ResponseWriter, r *http.Request, u chat.User, since hub.Cursor, lc *liveConn, onLoop *atomic.Pointer[sseStream], ended <-chan endReason) bool {
	s := &sseStream{a: a, lc: lc}
	sub, res := a.d.Hub.Subscribe(u.ID, since, s.wake)
	s.sub = sub
	scope, err := a.newEventScope(r.Context(), u) // see the WebSocket subscribe
	if err != nil {
		sub.Close()
		a.forget(lc)
		a.log.Error("event stream", "err", err)
		writeError(w, err)
		return true
	}
	s.scope = scope
	body := append([]byte(nil), sseRetry...)
	if res.Resync {
		body = append(body, a.d.Hub.Unsequenced(chat.Resync{Reason: "events missed"}.Event(), res.Seq).SSE...)
	}
	if res.Resync || since.Epoch == "" { // see the WebSocket subscribe: snapshots of running replies
		for _, ev := range scope.filter(a.d.Bridge.Snapshot(u)) {
			body = append(body, a.d.Hub.Unsequenced(ev, res.Seq).SSE...)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	conn, err := a.wsServer.Stream(w, r, http.StatusOK, body, ssePing)
	if err != nil {
		sub.Close()
		if errors.Is(err, wsconn.ErrNoHijack) {
			return false
		}
		a.forget(lc) // any other error: the connection is gone
		return true
	}
	a.connsMu.Lock()
	select {
	case <-a.shutdown:
		a.connsMu.Unlock()
		sub.Close()
		a.forget(lc)
		_ = conn.WriteText(context.Background(), sseRestart)
		_ = conn.CloseNow()
		return true
	default:
	}
	a.streams[s] = struct{}{}
	a.connsMu.Unlock()
	s.mu.Lock()
	s.conn = conn
	wake := s.pendingWake
	s.pendingWake = false
	s.mu.Unlock()
	conn.Start(wsconn.Handler{OnClose: s.ended})
	onLoop.Store(s)
	select {
	case why := <-ended: // signed out while the head was being written
		s.endFor(why)
	default:
	}
	if wake {
		go s.drain()
	}
	return true
}

// endFor ends the stream for an account reason with a last event (session.ended: EventSource
// reconnects and gets 401; account.changed: it reconnects with the new role). It does not block.
func (s *sseStream) endFor(why endReason) {
	ev := sseSessionEnded
	if why == endAccountChanged {
		ev = sseAccountChanged
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.conn.WriteText(ctx, ev)
		_ = s.conn.CloseNow()
	}()
}

// wake is the hub's callback: start a writer, or remember to once the head is out.
func (s *sseStream) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.conn == nil {
		s.pendingWake = true
		return
	}
	go s.drain()
}

// drain writes pending frames until none are left, each batch with one system call.
func (s *sseStream) drain() {
	var frames []*hub.Frame
	var msgs [][]byte
	for {
		var err error
		frames, err = s.sub.Take(frames)
		if err != nil {
			// Evicted (a slow reader) or closed: the stream ends and EventSource resumes with
			// Last-Event-ID.
			_ = s.conn.CloseNow()
			return
		}
		if len(frames) == 0 {
			return
		}
		msgs = msgs[:0]
		for _, f := range frames {
			if s.scope.allow(f.Event) {
				msgs = append(msgs, f.SSE)
			}
		}
		if len(msgs) == 0 {
			continue
		}
		err = s.conn.WriteText(context.Background(), msgs...)
		clear(msgs)
		if err != nil {
			return // the connection is gone; ended releases it
		}
	}
}

// ended is the connection's OnClose: release the subscription and the registration once.
func (s *sseStream) ended(error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.sub.Close()
	s.a.connsMu.Lock()
	delete(s.a.streams, s)
	s.a.connsMu.Unlock()
	s.a.forget(s.lc)
}

// goAway ends the stream for a server restart; EventSource reconnects and resumes.
func (s *sseStream) goAway() {
	_ = s.conn.WriteText(context.Background(), sseRestart)
	_ = s.conn.CloseNow()
}
