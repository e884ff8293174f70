// Package relay carries conversation events between clawchat instances that share one PostgreSQL
// database (LISTEN/NOTIFY), so a conversation created, renamed or deleted on one instance shows on
// the browsers connected to the others. Runs are not relayed: every instance translates them from
// its own Gateway connection. It imports chat and store (for store.MaxPayload) only; the
// composition root (internal/app) builds a Relay when the store is PostgreSQL.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync/atomic"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/store"
)

// channel is the PostgreSQL NOTIFY channel of cross-instance conversation events.
const channel = "clawchat_events"

// queueSize bounds the events waiting to be published; beyond it they are dropped (logged), and
// the other instances' browsers catch up at their next reload.
const queueSize = 256

// relayed names the events that cross instances: conversation changes. Runs do not (every
// instance translates them from its own Gateway connection), nor do queued sends (they stay on the
// instance that queued them).
var relayed = map[string]bool{
	"conversation.created": true,
	"conversation.updated": true,
	"conversation.deleted": true,
	// Shared conversations (issue 13): membership and typing reach the participants connected
	// to other instances. Presence does not: every instance computes it (share.Presence).
	"conversation.members": true,
	"typing":               true,
}

var userRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,127}$`)

// DB is the part of store.DB the relay uses.
type DB interface {
	Publish(ctx context.Context, channel string, payload []byte) error
	Listen(ctx context.Context, channel string, fn func(payload []byte), onListen func()) error
}

// Hub is the part of hub.Hub the relay uses.
type Hub interface {
	Epoch() string
	Publish(userID string, ev chat.Event) uint64
	PublishAll(ev chat.Event)
}

// message is one NOTIFY payload: the origin instance (its hub epoch), the user, the event.
// Name "resync" with no payload is the hint sent instead of an event too large for NOTIFY.
type message struct {
	Origin  string          `json:"o"`
	UserID  string          `json:"u"`
	Name    string          `json:"n"`
	Payload json.RawMessage `json:"p,omitempty"`
}

type outgoing struct {
	userID string
	ev     chat.Event
}

// Relay carries conversation.created/updated/deleted between clawchat instances that share one
// PostgreSQL database: Forward queues an event published on this instance, Run publishes queued
// events with NOTIFY and delivers the other instances' events to this instance's hub. Each message
// is tagged with the origin's hub epoch, so an instance ignores its own. It is only built on
// PostgreSQL (on SQLite there is one instance and nothing to relay). Forward is safe for
// concurrent use and never blocks.
type Relay struct {
	db      DB
	hub     Hub
	origin  string
	log     *slog.Logger
	out     chan outgoing
	dropped atomic.Int64
	// ready is closed when the relay first listens: from then on other instances' events arrive.
	ready chan struct{}
}

// New returns a Relay that publishes through db and delivers to h; h's epoch names this instance.
func New(db DB, h Hub, log *slog.Logger) *Relay {
	return &Relay{db: db, hub: h, origin: h.Epoch(), log: log, out: make(chan outgoing, queueSize), ready: make(chan struct{})}
}

// Forward queues ev of userID for the other instances when it is a conversation event.
func (r *Relay) Forward(userID string, ev chat.Event) {
	if !relayed[ev.Name] {
		return
	}
	select {
	case r.out <- outgoing{userID, ev}:
	default:
		if r.dropped.Add(1)%100 == 1 {
			r.log.Warn("cross-instance relay queue full; conversation events dropped", "dropped", r.dropped.Load())
		}
	}
}

// encode returns the NOTIFY payload for ev: the event itself, or a resync hint for userID when
// it would exceed store.MaxPayload.
func (r *Relay) encode(userID string, ev chat.Event) ([]byte, error) {
	b, err := json.Marshal(message{Origin: r.origin, UserID: userID, Name: ev.Name, Payload: ev.Payload})
	if err != nil {
		return nil, fmt.Errorf("relay: encode: %w", err)
	}
	if len(b) <= store.MaxPayload {
		return b, nil
	}
	return json.Marshal(message{Origin: r.origin, UserID: userID, Name: "resync"})
}

// Run publishes forwarded events and delivers the other instances' events until ctx is done.
func (r *Relay) Run(ctx context.Context) error {
	first := true
	done := make(chan error, 1)
	go func() {
		done <- r.db.Listen(ctx, channel, r.receive, func() {
			if first {
				first = false
				close(r.ready)
				return
			}
			// Messages published while the listening connection was down are lost: every
			// browser on this instance reloads its conversation list.
			r.hub.PublishAll(chat.Resync{Reason: "conversation changes missed"}.Event())
		})
	}()
	for {
		select {
		case <-ctx.Done():
			err := <-done
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("relay: listen: %w", err)
			}
			return nil
		case err := <-done:
			if ctx.Err() == nil {
				return fmt.Errorf("relay: listen ended: %w", err)
			}
			return nil
		case o := <-r.out:
			b, err := r.encode(o.userID, o.ev)
			if err == nil {
				err = r.db.Publish(ctx, channel, b)
			}
			if err != nil && ctx.Err() == nil {
				r.log.Warn("cross-instance relay publish failed", "event", o.ev.Name, "err", err)
			}
		}
	}
}

// receive delivers one message from another instance to this instance's hub.
func (r *Relay) receive(payload []byte) {
	var m message
	if err := json.Unmarshal(payload, &m); err != nil {
		r.log.Warn("cross-instance relay: malformed message", "err", err)
		return
	}
	if m.Origin == r.origin || !userRe.MatchString(m.UserID) {
		return
	}
	switch {
	case m.Name == "resync":
		r.hub.Publish(m.UserID, chat.Resync{Reason: "conversation changed on another instance"}.Event())
	case relayed[m.Name] && json.Valid(m.Payload):
		r.hub.Publish(m.UserID, chat.Event{Name: m.Name, Payload: m.Payload})
	}
}
