package share

import (
	"context"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// Fanout delivers the events of a shared conversation to every participant (issue 13). The chat
// core publishes an event of a conversation to one user (the one whose run or request it is);
// Fanout finds the conversation's participants and publishes the event to each of them, through
// the inner Publisher (hub, relay, push). Events of conversations that are not shared, and events
// that belong to no conversation, go to the one user as before.
//
// Participants are read from the store on first use and kept until Invalidate (every membership
// change calls it) or fanoutTTL: a removed participant gets nothing once the change is applied.
// An event addressed to a user who may not see the conversation is dropped.
type Fanout struct {
	svc   *Service
	inner FanoutTarget
	now   func() time.Time

	mu    sync.Mutex
	byRef map[ref]*fanEntry // (addressee, conversation id) → the conversation
	byKey map[string]*fanEntry
}

// FanoutTarget is where Fanout delivers (the app's publisher).
type FanoutTarget interface {
	Publish(userID string, ev chat.Event) uint64
	PublishAll(ev chat.Event)
}

type ref struct{ user, conv string }

type fanEntry struct {
	key   string
	users []string // nil: read again
	at    time.Time
}

// fanoutTTL bounds how long participants read from the store are believed without an
// Invalidate (a change made by a process that could not notify this one).
const fanoutTTL = 30 * time.Second

// NewFanout returns a Fanout delivering through inner.
func (s *Service) NewFanout(inner FanoutTarget) *Fanout {
	return &Fanout{svc: s, inner: inner, now: s.cfg.Now, byRef: map[ref]*fanEntry{}, byKey: map[string]*fanEntry{}}
}

// conversationOf returns the conversation id of an event that all participants see, or "".
// Reactions, errors and conversation.created/deleted stay personal.
func conversationOf(ev chat.Event) string {
	switch b := ev.Body.(type) {
	case chat.RunQueued:
		return b.Conversation
	case chat.RunStarted:
		return b.Conversation
	case chat.RunStatus:
		return b.Conversation
	case chat.RunDelta:
		return b.Conversation
	case chat.RunReasoning:
		return b.Conversation
	case chat.RunTool:
		return b.Conversation
	case chat.RunUsage:
		return b.Conversation
	case chat.RunFinal:
		return b.Conversation
	case chat.RunAborted:
		return b.Conversation
	case chat.RunError:
		return b.Conversation
	case chat.RunApproval:
		return b.Conversation
	case chat.ConversationUpdated:
		return b.ID
	}
	return ""
}

// Publish delivers ev to userID, or to every participant when ev belongs to a shared
// conversation that userID takes part in. It returns the seq of userID's copy (0 when userID
// did not get it).
func (f *Fanout) Publish(userID string, ev chat.Event) uint64 {
	conv := conversationOf(ev)
	if conv == "" {
		return f.inner.Publish(userID, ev)
	}
	users, ok := f.participants(userID, conv)
	if !ok {
		return f.inner.Publish(userID, ev) // not in the store (a gw: session): as before
	}
	var seq uint64
	for _, u := range users {
		if s := f.inner.Publish(u, ev); u == userID {
			seq = s
		}
	}
	return seq
}

// PublishAll passes through.
func (f *Fanout) PublishAll(ev chat.Event) { f.inner.PublishAll(ev) }

// Participants returns who sees conversation conv as addressed to userID (the participants, or
// userID alone when it is not shared); false when the conversation is not in the store.
func (f *Fanout) Participants(userID, conv string) ([]string, bool) {
	return f.participants(userID, conv)
}

func (f *Fanout) participants(userID, conv string) ([]string, bool) {
	now := f.now()
	f.mu.Lock()
	e := f.byRef[ref{userID, conv}]
	if e != nil && e.users != nil && now.Sub(e.at) < fanoutTTL {
		users := e.users
		f.mu.Unlock()
		return users, true
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	key := ""
	if e != nil {
		key = e.key
	} else {
		c, _, err := f.svc.cfg.Store.Access(ctx, userID, conv)
		if err != nil {
			return nil, false
		}
		key = c.SessionKey
		f.mu.Lock()
		if len(f.byRef) > 100_000 { // bounded: a cache, not a registry
			clear(f.byRef)
		}
		if f.byKey[key] == nil {
			f.byKey[key] = &fanEntry{key: key}
		}
		e = f.byKey[key]
		f.byRef[ref{userID, conv}] = e
		f.mu.Unlock()
	}
	ms, err := f.svc.cfg.Store.Members(ctx, key)
	if err != nil {
		return nil, false
	}
	var users []string
	if len(ms) == 0 {
		users = []string{userID} // not shared: its creator alone, who is userID (Access said so)
	} else {
		for _, m := range ms {
			users = append(users, m.UserID)
		}
	}
	f.mu.Lock()
	e.users, e.at = users, now
	f.mu.Unlock()
	return users, true
}

// Invalidate drops what Fanout knows of the participants of the conversation with key (or of
// every conversation when key is "").
func (f *Fanout) Invalidate(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if key == "" {
		for _, e := range f.byKey {
			e.users = nil
		}
		return
	}
	if e := f.byKey[key]; e != nil {
		e.users = nil
	}
}
