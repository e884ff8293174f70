package httpapi

import (
	"context"
	"fmt"
	"sync"

	"github.com/clawchat/clawchat/internal/chat"
)

// eventScope is what one WebSocket or SSE connection may receive of its user's events. The hub
// fans out per user; a cookie session sees every conversation of its user, so its scope is nil
// and lets everything through. An embedded session (docs/embed.md) sees only the conversations
// of the host contexts its token grants: its scope passes an event of a conversation only when
// that conversation is one of them, and events of no conversation (gateway.status, resync).
// Owner-only events (approvals, policy drift) never reach it.
//
// The check runs where the connection's frames are written (its writer goroutine), never on
// the publisher's: it is a map lookup. The conversations are read once, when the connection
// subscribes (after the hub subscription, so that nothing created in between is missed); a
// conversation created or joined later in a granted context is learnt from its
// conversation.created event, which names its host context and reaches the connection before
// any other event of it.
type eventScope struct {
	embed *chat.EmbedScope

	mu    sync.Mutex
	convs map[string]struct{} // the visible conversations' ids
}

// newEventScope returns the scope of u's connection: nil (everything) for a session that is not
// embedded. It reads u's visible conversations (the bridge applies the same grant check as on
// every route).
func (a *api) newEventScope(ctx context.Context, u chat.User) (*eventScope, error) {
	if u.Embed == nil {
		return nil, nil
	}
	s := &eventScope{embed: u.Embed, convs: map[string]struct{}{}}
	for _, archived := range []bool{false, true} {
		list, _, err := a.d.Bridge.List(ctx, u, archived)
		if err != nil {
			return nil, fmt.Errorf("httpapi: event scope: %w", err)
		}
		for _, c := range list {
			s.convs[c.ID] = struct{}{}
		}
	}
	return s, nil
}

// allow reports whether the connection may receive ev. A nil scope allows everything.
func (s *eventScope) allow(ev chat.Event) bool {
	if s == nil {
		return true
	}
	switch ev.Name {
	case "approval.requested", "approval.resolved", "policy.drift":
		return false // owners' business; an embedded session is never an owner
	}
	conv, hc := chat.EventConversation(ev)
	if conv == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Name == "conversation.created" && hc != nil {
		if _, ok := s.embed.Role(hc.App, hc.ID); ok {
			s.convs[conv] = struct{}{}
			return true
		}
	}
	_, ok := s.convs[conv]
	if ok && ev.Name == "conversation.deleted" {
		delete(s.convs, conv)
	}
	return ok
}

// filter returns the events of evs that s allows (evs itself when s is nil).
func (s *eventScope) filter(evs []chat.Event) []chat.Event {
	if s == nil {
		return evs
	}
	out := evs[:0:0]
	for _, ev := range evs {
		if s.allow(ev) {
			out = append(out, ev)
		}
	}
	return out
}
