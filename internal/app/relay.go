package app

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

// relayChannel is the PostgreSQL NOTIFY channel of cross-instance conversation events.
const relayChannel = "clawchat_events"

// relayQueue bounds the events waiting to be published; beyond it they are dropped (logged), and
// the other instances' browsers catch up at their next reload.
const relayQueue = 256

// relayed names the events that cross instances: conversation changes. Runs do not (every
// instance translates them from its own Gateway connection), nor do queued sends (they stay on the
// instance that queued them).
var relayed = map[string]bool{
	"conversation.created": true,
	"conversation.updated": true,
	"conversation.deleted": true,
}

var relayUserRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,127}$`)

// relayDB is the part of store.DB the relay uses.
type relayDB interface {
	Publish(ctx context.Context, channel string, payload []byte) error
	Listen(ctx context.Context, channel string, fn func(payload []byte), onListen func()) error
}

// relayHub is the part of hub.Hub the relay uses.
type relayHub interface {
	Epoch() string
	Publish(userID string, ev chat.Event) uint64
	PublishAll(ev chat.Event)
}

// relayMessage is one NOTIFY payload: the origin instance (its hub epoch), the user, the event.
// Name "resync" with no payload is the hint sent instead of an event too large for NOTIFY.
type relayMessage struct {
	Origin  string          `json:"o"`
	UserID  string          `json:"u"`
	Name    string          `json:"n"`
	Payload json.RawMessage `json:"p,omitempty"`
}

type relayOut struct {
	userID string
	ev     chat.Event
}

// relay carries conversation.created/updated/deleted between clawchat instances that share one
// PostgreSQL database: Forward queues an event published on this instance, Run publishes queued
// events with NOTIFY and delivers the other instances' events to this instance's hub. Each message
// is tagged with the origin's hub epoch, so an instance ignores its own. It is only built on
// PostgreSQL (on SQLite there is one instance and nothing to relay). Forward is safe for
// concurrent use and never blocks.
type relay struct {
	db      relayDB
	hub     relayHub
	origin  string
	log     *slog.Logger
	out     chan relayOut
	dropped atomic.Int64
	// ready is closed when the relay first listens: from then on other instances' events arrive.
	ready chan struct{}
}

func newRelay(db relayDB, h relayHub, log *slog.Logger) *relay {
	return &relay{db: db, hub: h, origin: h.Epoch(), log: log, out: make(chan relayOut, relayQueue), ready: make(chan struct{})}
}

// Forward queues ev of userID for the other instances when it is a conversation event.
func (r *relay) Forward(userID string, ev chat.Event) {
	if !relayed[ev.Name] {
		return
	}
	select {
	case r.out <- relayOut{userID, ev}:
	default:
		if r.dropped.Add(1)%100 == 1 {
			r.log.Warn("cross-instance relay queue full; conversation events dropped", "dropped", r.dropped.Load())
		}
	}
}

// encode returns the NOTIFY payload for ev: the event itself, or a resync hint for userID when
// it would exceed store.MaxPayload.
func (r *relay) encode(userID string, ev chat.Event) ([]byte, error) {
	b, err := json.Marshal(relayMessage{Origin: r.origin, UserID: userID, Name: ev.Name, Payload: ev.Payload})
	if err != nil {
		return nil, fmt.Errorf("relay: encode: %w", err)
	}
	if len(b) <= store.MaxPayload {
		return b, nil
	}
	return json.Marshal(relayMessage{Origin: r.origin, UserID: userID, Name: "resync"})
}

// Run publishes forwarded events and delivers the other instances' events until ctx is done.
func (r *relay) Run(ctx context.Context) error {
	first := true
	done := make(chan error, 1)
	go func() {
		done <- r.db.Listen(ctx, relayChannel, r.receive, func() {
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
				err = r.db.Publish(ctx, relayChannel, b)
			}
			if err != nil && ctx.Err() == nil {
				r.log.Warn("cross-instance relay publish failed", "event", o.ev.Name, "err", err)
			}
		}
	}
}

// receive delivers one message from another instance to this instance's hub.
func (r *relay) receive(payload []byte) {
	var m relayMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		r.log.Warn("cross-instance relay: malformed message", "err", err)
		return
	}
	if m.Origin == r.origin || !relayUserRe.MatchString(m.UserID) {
		return
	}
	switch {
	case m.Name == "resync":
		r.hub.Publish(m.UserID, chat.Resync{Reason: "conversation changed on another instance"}.Event())
	case relayed[m.Name] && json.Valid(m.Payload):
		r.hub.Publish(m.UserID, chat.Event{Name: m.Name, Payload: m.Payload})
	}
}
