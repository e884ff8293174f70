package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/hub"
)

// parseEventID parses "<epoch>-<seq>" (Last-Event-ID).
func parseEventID(s string) hub.Cursor {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 || len(s) > 80 {
		return hub.Cursor{}
	}
	n, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return hub.Cursor{}
	}
	return hub.Cursor{Epoch: s[:i], Seq: n}
}

// events is GET /api/events: the user's events as server-sent events, resumable with
// Last-Event-ID, a ": ping" comment every PingInterval. Over HTTP/1.1 the stream is served on the
// shared event loop without a goroutine (sse_stream.go); otherwise by this handler.
func (a *api) events(w http.ResponseWriter, r *http.Request, u chat.User) {
	cred := ""
	if a.d.Credential != nil {
		if cred = a.d.Credential(r); cred == "" {
			writeError(w, errUnauthorized)
			return
		}
	}
	// An account event (sign-out, revocation, role change) ends the stream: through ended for the
	// goroutine path below, or through the event-loop stream once it took over (sse_stream.go).
	ended := make(chan endReason, 1)
	var onLoop atomic.Pointer[sseStream]
	lc, ok := a.admit(u, cred, func(why endReason) {
		if s := onLoop.Load(); s != nil {
			s.endFor(why)
			return
		}
		select {
		case ended <- why:
		default:
		}
	})
	if !ok {
		writeError(w, errTooManyConns)
		return
	}
	rc := http.NewResponseController(w)
	since := parseEventID(r.Header.Get("Last-Event-ID"))
	if since.Epoch == "" {
		since = parseEventID(r.URL.Query().Get("lastEventId"))
	}
	if a.streamEvents(w, r, u, since, lc, &onLoop, ended) {
		return // served on the shared event loop (sse_stream.go), which forgets lc when it ends
	}
	defer a.forget(lc)
	// HTTP/2 or no Hijack: one goroutine per stream.
	wake := make(chan struct{}, 1)
	sub, res := a.d.Hub.Subscribe(u.ID, since, func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	defer sub.Close()
	scope, err := a.newEventScope(r.Context(), u) // see the WebSocket subscribe
	if err != nil {
		a.log.Error("event stream", "err", err)
		writeError(w, err)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(a.d.WriteTimeout))
		_, err := w.Write(b)
		return err == nil
	}
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	if res.Resync && !write(a.d.Hub.Unsequenced(chat.Resync{Reason: "events missed"}.Event(), res.Seq).SSE) {
		return
	}
	if res.Resync { // see the WebSocket subscribe: how runs that ended in the gap ended
		for _, ev := range scope.filter(a.d.Bridge.EndedSnapshot(u)) {
			if !write(a.d.Hub.Unsequenced(ev, res.Seq).SSE) {
				return
			}
		}
	}
	if res.Resync || since.Epoch == "" { // see the WebSocket subscribe: snapshots of running replies
		for _, ev := range scope.filter(a.d.Bridge.Snapshot(u)) {
			if !write(a.d.Hub.Unsequenced(ev, res.Seq).SSE) {
				return
			}
		}
	}
	if rc.Flush() != nil {
		return
	}
	ping := time.NewTicker(a.d.PingInterval)
	defer ping.Stop()
	var buf []*hub.Frame
	for {
		select {
		case <-r.Context().Done():
			return
		case <-a.shutdown:
			// The stream ends; EventSource reconnects and resumes with Last-Event-ID.
			_ = write([]byte("event: server.restart\ndata: {}\n\n"))
			_ = rc.Flush()
			return
		case why := <-ended:
			// Signed out, revoked or deleted: EventSource reconnects and gets 401. Role changed: it
			// reconnects with the new role.
			ev := "event: session.ended\ndata: {}\n\n"
			if why == endAccountChanged {
				ev = "event: account.changed\ndata: {}\n\n"
			}
			_ = write([]byte(ev))
			_ = rc.Flush()
			return
		case <-ping.C:
			if !write([]byte(": ping\n\n")) || rc.Flush() != nil {
				return
			}
		case <-wake:
			for {
				var err error
				buf, err = sub.Take(buf)
				if err != nil {
					return // evicted or closed: the client reconnects with Last-Event-ID
				}
				if len(buf) == 0 {
					break
				}
				for _, f := range buf {
					if scope.allow(f.Event) && !write(f.SSE) {
						return
					}
				}
				if rc.Flush() != nil {
					return
				}
			}
		}
	}
}
