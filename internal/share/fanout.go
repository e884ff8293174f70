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
// An event addressed to a user who may not see the conversation goes only to its participants
// (the creator who left it), or to nobody.
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
	key        string
	creator    string
	users      []string // nil: read again before the next delivery
	at         time.Time
	refreshing bool
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

// Cached reports whether delivering an event of conversation conv addressed to userID needs no
// store read: a Gateway session (not in the store), or participants already read and not
// invalidated. The chat core asks before it handles a Gateway event on the dispatch goroutine
// (bridge/runs.CachingPublisher); when false, the event is handled on its session's worker.
func (f *Fanout) Cached(userID, conv string) bool {
	if !chat.ValidConversationID(conv) {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.byRef[ref{userID, conv}]
	return e != nil && e.users != nil
}

// PublishAll passes through.
func (f *Fanout) PublishAll(ev chat.Event) { f.inner.PublishAll(ev) }

// Participants returns who sees conversation conv as addressed to userID (the participants, or
// userID alone when it is not shared; nobody when userID has no such conversation); false for a
// Gateway session (gw:…), which is not in the store.
func (f *Fanout) Participants(userID, conv string) ([]string, bool) {
	return f.participants(userID, conv)
}

func (f *Fanout) participants(userID, conv string) ([]string, bool) {
	now := f.now()
	f.mu.Lock()
	e := f.byRef[ref{userID, conv}]
	if e != nil && e.users != nil {
		users := e.users
		if now.Sub(e.at) >= fanoutTTL && !e.refreshing {
			// Stale: serve what we know and read again off this path (events are published from
			// the Gateway's dispatch goroutine, which must not wait on the store). Membership
			// changes do not wait for this: Invalidate reads them at once.
			e.refreshing = true
			if !f.svc.goBackground(5*time.Second, func(ctx context.Context) { f.refresh(ctx, e) }) {
				e.refreshing = false // shutting down
			}
		}
		f.mu.Unlock()
		return users, true
	}
	f.mu.Unlock()
	ctx, cancel := f.svc.background(2 * time.Second)
	defer cancel()
	if e == nil {
		if !chat.ValidConversationID(conv) {
			return nil, false // a Gateway session (gw:…): not in the store, as before
		}
		c, _, err := f.svc.cfg.Store.Access(ctx, userID, conv)
		if err != nil {
			// The addressee may have left their own conversation (the chat core routes its
			// events to its creator): its participants get them. Otherwise it is gone, or was
			// never theirs: nobody does.
			if c, err = f.svc.cfg.Store.Conversation(ctx, userID, conv); err != nil {
				return nil, true
			}
		}
		f.mu.Lock()
		if len(f.byRef) > 100_000 || len(f.byKey) > 100_000 { // bounded: a cache, not a registry
			clear(f.byRef) // both together: an entry is always reachable by its key
			clear(f.byKey)
		}
		if f.byKey[c.SessionKey] == nil {
			f.byKey[c.SessionKey] = &fanEntry{key: c.SessionKey, creator: c.UserID}
		}
		e = f.byKey[c.SessionKey]
		f.byRef[ref{userID, conv}] = e
		f.mu.Unlock()
	}
	users, err := f.read(ctx, e)
	if err != nil {
		return nil, false
	}
	return users, true
}

// read reads e's participants from the store and keeps them.
func (f *Fanout) read(ctx context.Context, e *fanEntry) ([]string, error) {
	ms, err := f.svc.cfg.Store.Members(ctx, e.key)
	if err != nil {
		return nil, err
	}
	users := []string{e.creator} // not shared: its creator alone
	if len(ms) > 0 {
		users = users[:0]
		for _, m := range ms {
			users = append(users, m.UserID)
		}
	}
	f.mu.Lock()
	e.users, e.at = users, f.now()
	f.mu.Unlock()
	return users, nil
}

// refresh reads e's participants again (on a background goroutine of the Service).
func (f *Fanout) refresh(ctx context.Context, e *fanEntry) {
	_, _ = f.read(ctx, e)
	f.mu.Lock()
	e.refreshing = false
	f.mu.Unlock()
}

// Invalidate reads the participants of the conversation with key again (every membership
// change calls it, on every instance), so that a removed participant gets nothing more. It reads
// the store itself, not the next delivery.
func (f *Fanout) Invalidate(key string) {
	f.mu.Lock()
	e := f.byKey[key]
	if e != nil {
		e.users = nil // until read: the next delivery reads synchronously
	}
	f.mu.Unlock()
	if e == nil {
		return
	}
	ctx, cancel := f.svc.background(5 * time.Second)
	defer cancel()
	_, _ = f.read(ctx, e)
}
