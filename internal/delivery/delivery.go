// Package delivery takes every event the chat core publishes and delivers it: to the user's
// connections through the hub, to the other instances through the relay (PostgreSQL), to the
// run counters of /metrics, and as Web Push notifications (a finished reply when none of the
// user's devices is connected; a pending exec approval to an owner). It reads the typed payload
// (chat.Event.Body) and never decodes an event.
//
// Push notifications run as tracked jobs (each bounded by PushTimeout): Drain refuses new ones
// and waits for those in flight, so that shutdown closes the store they read only after them
// (issue 14). A Publisher is safe for concurrent use.
package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// PushTimeout bounds one push notification (a store lookup and the push service's answer).
const PushTimeout = 30 * time.Second

// Hub is the per-user fan-out (internal/hub implements it).
type Hub interface {
	Publish(userID string, ev chat.Event) uint64
	PublishAll(ev chat.Event)
	// Connections is how many connections userID has open now.
	Connections(userID string) int
}

// Relay forwards conversation events to the other instances (internal/relay implements it).
type Relay interface {
	Forward(userID string, ev chat.Event)
}

// Metrics counts runs (internal/metrics implements it).
type Metrics interface {
	RunStarted()
	RunFinished(outcome string, d time.Duration)
}

// Pusher sends Web Push notifications (internal/push implements it; exactly one instance sends a
// run's notification).
type Pusher interface {
	NotifyReplyFinished(ctx context.Context, userID, conversationID, runID, title, text string) error
	NotifyApproval(ctx context.Context, ownerID, approvalID, requester, command string) error
}

// Config configures a Publisher. Hub and Metrics are required.
type Config struct {
	Hub     Hub
	Metrics Metrics
	Relay   Relay  // optional: nil on a single instance (SQLite)
	Push    Pusher // optional: nil without Web Push
	// IncludeText allows message text (the reply, and the conversation title, which comes from
	// the user's first message) in push notifications.
	IncludeText bool
	// Title returns a conversation's title (with IncludeText; optional).
	Title  func(ctx context.Context, userID, conversationID string) (string, error)
	Logger *slog.Logger
}

// Publisher delivers events (bridge.Publisher).
type Publisher struct {
	cfg  Config
	jobs jobs
}

// New returns a Publisher.
func New(cfg Config) *Publisher {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg}
}

// Publish delivers ev to userID and reads its typed payload for metrics and push.
func (p *Publisher) Publish(userID string, ev chat.Event) uint64 {
	seq := p.cfg.Hub.Publish(userID, ev)
	if p.cfg.Relay != nil {
		p.cfg.Relay.Forward(userID, ev) // conversation events to the other instances
	}
	switch b := ev.Body.(type) {
	case chat.ApprovalRequested:
		if b.ID != "" {
			p.notifyApproval(userID, b.Approval)
		}
	case chat.RunStarted:
		p.cfg.Metrics.RunStarted()
	case chat.RunFinal:
		p.cfg.Metrics.RunFinished("final", 0)
		if b.RunID != "" {
			p.notifyFinished(userID, b)
		}
	case chat.RunAborted:
		p.cfg.Metrics.RunFinished("aborted", 0)
	case chat.RunError:
		p.cfg.Metrics.RunFinished("error", 0)
	}
	return seq
}

// PublishAll delivers ev to every connected user.
func (p *Publisher) PublishAll(ev chat.Event) { p.cfg.Hub.PublishAll(ev) }

// Drain refuses new push notifications and waits for those in flight (each ends within
// PushTimeout). Call it before closing the store.
func (p *Publisher) Drain() { p.jobs.drain() }

// notifyFinished sends a notification for a finished reply when none of the user's devices is
// connected (an open app shows the reply itself).
func (p *Publisher) notifyFinished(userID string, re chat.RunFinal) {
	if p.cfg.Push == nil || p.cfg.Hub.Connections(userID) > 0 {
		return
	}
	p.jobs.Go(func(ctx context.Context) {
		// Conversation titles come from the user's first message, so like the reply text they
		// go into a notification only when the operator allows message text in pushes.
		title := "New reply"
		if p.cfg.IncludeText && p.cfg.Title != nil {
			if t, err := p.cfg.Title(ctx, userID, re.Conversation); err == nil && t != "" {
				title = t
			}
		}
		if err := p.cfg.Push.NotifyReplyFinished(ctx, userID, re.Conversation, re.RunID, title, re.Text); err != nil {
			p.cfg.Logger.Warn("push notification failed", "user_id", userID, "err", err)
		}
	})
}

// notifyApproval pushes a pending exec approval to an owner, whether or not their app is open:
// approvals expire, and a member waits on it.
func (p *Publisher) notifyApproval(ownerID string, a chat.Approval) {
	if p.cfg.Push == nil {
		return
	}
	p.jobs.Go(func(ctx context.Context) {
		if err := p.cfg.Push.NotifyApproval(ctx, ownerID, a.ID, a.RequestedBy, a.Command); err != nil {
			p.cfg.Logger.Warn("approval push failed", "user_id", ownerID, "err", err)
		}
	})
}

// jobs tracks the push notifications in flight.
type jobs struct {
	mu     sync.Mutex
	wg     sync.WaitGroup
	closed bool
}

// Go runs job on its own goroutine with a PushTimeout context, unless drain has begun (then job
// is dropped and Go reports false).
func (j *jobs) Go(job func(ctx context.Context)) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return false
	}
	j.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), PushTimeout)
		defer cancel()
		job(ctx)
	})
	return true
}

// drain refuses new jobs and waits for the running ones.
func (j *jobs) drain() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.wg.Wait()
}
