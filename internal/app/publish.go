package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/metrics"
	"github.com/clawchat/clawchat/internal/relay"
)

// publisher sits between the chat core and the hub: it delivers every event and, on the side,
// counts runs for /metrics and asks for a push notification when a reply finishes.
type publisher struct {
	hub     *hub.Hub
	metrics *metrics.Metrics
	notify  func(userID string, ev chat.RunFinal)
	// message asks for a push to userID for another participant's message in a shared
	// conversation (run.started with a sender who is not userID).
	message func(userID string, ev chat.RunStarted)
	// approval asks for a push to an owner who was told of a pending exec approval.
	approval func(ownerID string, a chat.Approval)
	relay    *relay.Relay // nil on a single instance (SQLite)
}

// Publish delivers ev and reads its typed payload (ev.Body) for metrics and push; it never decodes
// an event it was handed.
func (p *publisher) Publish(userID string, ev chat.Event) uint64 {
	seq := p.hub.Publish(userID, ev)
	if p.relay != nil {
		p.relay.Forward(userID, ev) // conversation events to the other instances
	}
	switch b := ev.Body.(type) {
	case chat.ApprovalRequested:
		if p.approval != nil && b.ID != "" {
			p.approval(userID, b.Approval)
		}
	case chat.RunStarted:
		p.metrics.RunStarted()
		if p.message != nil && b.Sender != nil && b.Sender.UserID != userID && b.Text != nil {
			p.message(userID, b)
		}
	case chat.RunFinal:
		p.metrics.RunFinished("final", 0)
		if p.notify != nil && b.RunID != "" {
			p.notify(userID, b)
		}
	case chat.RunAborted:
		p.metrics.RunFinished("aborted", 0)
	case chat.RunError:
		p.metrics.RunFinished("error", 0)
	}
	return seq
}

func (p *publisher) PublishAll(ev chat.Event) { p.hub.PublishAll(ev) }

// notifyFinished sends a Web Push notification for a finished reply when none of the user's
// devices is connected (an open app shows the reply itself). Exactly one instance sends it: the
// push service claims the run id in the shared store.
func (s *server) notifyFinished(userID string, re chat.RunFinal) {
	if s.push == nil || s.hub.Connections(userID) > 0 {
		return
	}
	s.pushes.Go(func(ctx context.Context) {
		if s.muted(ctx, userID, re.Conversation) {
			return
		}
		// Conversation titles come from the user's first message, so like the reply text they
		// go into a notification only when the operator allows message text in pushes.
		title := "New reply"
		if s.cfg.Push.IncludeText {
			if c, err := s.db.Conversation(ctx, userID, re.Conversation); err == nil && c.Title != "" {
				title = c.Title
			}
		}
		if err := s.push.NotifyReplyFinished(ctx, userID, re.Conversation, re.RunID, title, re.Text); err != nil {
			s.log.Warn("push notification failed", "user_id", userID, "err", err)
		}
	})
}

// notifyMessage sends a Web Push notification to a participant of a shared conversation for
// another participant's message, when none of their devices is connected and they did not mute
// the conversation (issue 13). Exactly one instance sends it (the push service claims it).
func (s *server) notifyMessage(userID string, st chat.RunStarted) {
	if s.push == nil || s.hub.Connections(userID) > 0 || st.Sender == nil || st.Text == nil {
		return
	}
	s.pushes.Go(func(ctx context.Context) {
		if s.muted(ctx, userID, st.Conversation) {
			return
		}
		if err := s.push.NotifyMessage(ctx, userID, st.Conversation, st.RunID, st.Sender.Name, *st.Text); err != nil {
			s.log.Warn("push notification failed", "user_id", userID, "err", err)
		}
	})
}

// muted reports whether userID muted conversation (a store failure counts as not muted).
func (s *server) muted(ctx context.Context, userID, conversation string) bool {
	m, err := s.db.Muted(ctx, userID, conversation)
	return err == nil && m
}

// notifyApproval pushes a pending exec approval to an owner, whether or not their app is open:
// approvals expire, and a member waits on it.
func (s *server) notifyApproval(ownerID string, a chat.Approval) {
	if s.push == nil {
		return
	}
	s.pushes.Go(func(ctx context.Context) {
		if err := s.push.NotifyApproval(ctx, ownerID, a.ID, a.RequestedBy, a.Command); err != nil {
			s.log.Warn("approval push failed", "user_id", ownerID, "err", err)
		}
	})
}

// accessLog logs one line per request with a request id (also sent back as X-Request-Id).
// It logs the path but never the query string, bodies or cookies.
func accessLog(next http.Handler, log *slog.Logger, clientIP func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		lvl := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
			lvl = slog.LevelDebug
		}
		log.Log(r.Context(), lvl, "request", "request_id", id, "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration_ms", strconv.FormatFloat(float64(time.Since(start).Microseconds())/1000, 'f', 1, 64),
			"client_ip", clientIP(r))
	})
}

// statusWriter records the status code; it keeps Flush and Hijack working through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
