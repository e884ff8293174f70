// Package bridgetest provides in-memory fakes for testing the bridge and the HTTP API: a
// conversation store and a scriptable Gateway upstream. Test use only.
package bridgetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// Store is an in-memory bridge.Store. Safe for concurrent use.
type Store struct {
	mu    sync.Mutex
	convs map[[2]string]chat.Conversation
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{convs: map[[2]string]chat.Conversation{}} }

// CreateConversation implements bridge.Store.
func (s *Store) CreateConversation(_ context.Context, c chat.Conversation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.convs[[2]string{c.UserID, c.ID}]; ok {
		return chat.ErrConflict
	}
	for _, o := range s.convs {
		if o.SessionKey == c.SessionKey {
			return chat.ErrConflict
		}
	}
	s.convs[[2]string{c.UserID, c.ID}] = c
	return nil
}

// Conversation implements bridge.Store.
func (s *Store) Conversation(_ context.Context, userID, id string) (chat.Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.convs[[2]string{userID, id}]
	if !ok {
		return chat.Conversation{}, chat.ErrNotFound
	}
	return c, nil
}

// ConversationByKey implements bridge.Store.
func (s *Store) ConversationByKey(_ context.Context, key string) (chat.Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.convs {
		if c.SessionKey == key {
			return c, nil
		}
	}
	return chat.Conversation{}, chat.ErrNotFound
}

// Conversations implements bridge.Store.
func (s *Store) Conversations(_ context.Context, userID string) ([]chat.Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []chat.Conversation
	for _, c := range s.convs {
		if c.UserID == userID {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// UpdateConversation implements bridge.Store.
func (s *Store) UpdateConversation(_ context.Context, c chat.Conversation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.convs[[2]string{c.UserID, c.ID}]; !ok {
		return chat.ErrNotFound
	}
	s.convs[[2]string{c.UserID, c.ID}] = c
	return nil
}

// RetitleConversation implements bridge.Store.
func (s *Store) RetitleConversation(_ context.Context, userID, id, from, to string, at time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.convs[[2]string{userID, id}]
	if !ok {
		return false, chat.ErrNotFound
	}
	if c.Title != from {
		return false, nil
	}
	c.Title, c.UpdatedAt = to, at
	s.convs[[2]string{userID, id}] = c
	return true, nil
}

// DeleteConversation implements bridge.Store.
func (s *Store) DeleteConversation(_ context.Context, userID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.convs[[2]string{userID, id}]; !ok {
		return chat.ErrNotFound
	}
	delete(s.convs, [2]string{userID, id})
	return nil
}

// CountConversations implements bridge.Store (as store.DB does: a host context's shared
// conversation, "ctx-…", does not count).
func (s *Store) CountConversations(_ context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.convs {
		if c.UserID == userID && (c.HostApp == "" || !strings.HasPrefix(c.ID, "ctx-")) {
			n++
		}
	}
	return n, nil
}

// Call is one request the fake upstream received.
type Call struct {
	Method string
	Params map[string]any
}

// Upstream is a scriptable fake Gateway: each method answers with the function in Handlers, or
// an empty object. Safe for concurrent use.
type Upstream struct {
	mu       sync.Mutex
	calls    []Call
	Handlers map[string]func(params map[string]any) (any, error)
}

// NewUpstream returns a fake whose chat.send acknowledges "started" with the idempotency key.
func NewUpstream() *Upstream {
	return &Upstream{Handlers: map[string]func(map[string]any) (any, error){
		"chat.send": func(p map[string]any) (any, error) {
			return map[string]any{"runId": p["idempotencyKey"], "status": "started"}, nil
		},
		"chat.abort": func(p map[string]any) (any, error) {
			return map[string]any{"ok": true, "aborted": true, "runIds": []any{p["runId"]}}, nil
		},
	}}
}

// Handle sets the handler of method.
func (u *Upstream) Handle(method string, f func(params map[string]any) (any, error)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.Handlers[method] = f
}

// Request implements bridge.Upstream.
func (u *Upstream) Request(ctx context.Context, method string, params, result any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("fake: encode %s: %w", method, err)
	}
	var p map[string]any
	_ = json.Unmarshal(b, &p)
	u.mu.Lock()
	u.calls = append(u.calls, Call{Method: method, Params: p})
	h := u.Handlers[method]
	u.mu.Unlock()
	var res any = map[string]any{}
	if h != nil {
		if res, err = h(p); err != nil {
			return err
		}
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	return json.Unmarshal(out, result)
}

// Calls returns the requests so far, optionally only those of method.
func (u *Upstream) Calls(method string) []Call {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []Call
	for _, c := range u.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Recorder is a bridge.Publisher that records events per user. Safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events map[string][]chat.Event
	all    []chat.Event
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{events: map[string][]chat.Event{}} }

// Publish implements bridge.Publisher.
func (r *Recorder) Publish(userID string, ev chat.Event) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events[userID] = append(r.events[userID], ev)
	ev.Seq = uint64(len(r.events[userID]))
	return ev.Seq
}

// PublishAll implements bridge.Publisher.
func (r *Recorder) PublishAll(ev chat.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, ev)
	for u := range r.events {
		r.events[u] = append(r.events[u], ev)
	}
}

// Events returns userID's events so far.
func (r *Recorder) Events(userID string) []chat.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chat.Event(nil), r.events[userID]...)
}

// Names returns the names of userID's events.
func (r *Recorder) Names(userID string) []string {
	var out []string
	for _, e := range r.Events(userID) {
		out = append(out, e.Name)
	}
	return out
}
