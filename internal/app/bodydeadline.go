package app

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// Request bodies must arrive at a minimum pace (issue 16: a POST /login declaring 60 KB and
// trickling a byte every 5 s stayed open, unauthenticated, for minutes; only the header had a
// timeout). A request with a body gets a read deadline of bodyGrace plus its declared length at
// bodyMinRate (bodyChunkedLimit for chunked bodies of unknown length); reading past it fails,
// the handler answers its usual 400/413, and net/http closes the connection. The deadline is
// lifted when the body has been read (or closed), so the handler's own work — a queued password
// hash, a Gateway call — is not cut short and the connection can be reused. Requests without a
// body are untouched: the WebSocket upgrade (whose engine owns the connection afterwards) and
// the SSE stream are GETs.
const (
	bodyGrace        = 10 * time.Second
	bodyMinRate      = 64 << 10 // bytes per second
	bodyChunkedLimit = 60 * time.Second
)

// bodyDeadline wraps next with the body read deadline described above.
func bodyDeadline(next http.Handler, grace time.Duration, minRate int64, chunked time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		d := chunked
		if r.ContentLength > 0 {
			d = grace + time.Duration(r.ContentLength/minRate)*time.Second
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r) // not a net/http connection (tests): nothing to bound
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline once the body is fully read or closed.
type deadlineBody struct {
	io.ReadCloser
	lift   func()
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.lifted {
		b.lifted = true
		b.lift()
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	if !b.lifted {
		b.lifted = true
		b.lift()
	}
	return b.ReadCloser.Close()
}
