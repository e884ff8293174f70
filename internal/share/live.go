package share

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// Typing and presence of shared conversations. Neither is stored: typing is one event to the
// other participants (relayed to other instances like conversation events), presence is who has
// a conversation open now, kept in memory by each instance for its own connections and exchanged
// between instances on Bus (PostgreSQL LISTEN/NOTIFY; in-process on SQLite).

// Bus is the cross-instance message channel (internal/store implements it).
type Bus interface {
	Publish(ctx context.Context, channel string, payload []byte) error
	Listen(ctx context.Context, channel string, fn func(payload []byte), onListen func()) error
}

// LocalPublisher delivers an event to this instance's connections of a user only (the hub):
// every instance computes and delivers presence itself.
type LocalPublisher interface {
	Publish(userID string, ev chat.Event) uint64
}

// presenceChannel is the Bus channel of presence.
const presenceChannel = "clawchat_presence"

// Presence timing: each instance repeats its viewers every presenceRefresh; an instance's
// viewers that were not repeated for presenceTTL are forgotten (it stopped or lost its
// connection to the database).
const (
	presenceRefresh = 20 * time.Second
	presenceTTL     = 3 * presenceRefresh
)

// Typing tells the other participants of conversation id that u started or stopped typing.
// Read-only participants cannot type (chat.ErrForbidden).
func (s *Service) Typing(ctx context.Context, u chat.User, id string, typing bool) error {
	c, role, err := s.access(ctx, u, id)
	if err != nil {
		return err
	}
	if !role.CanSend() {
		return chat.Public(chat.ErrForbidden, "read-only participants cannot send")
	}
	ids, err := s.Participants(ctx, c)
	if err != nil {
		return err
	}
	ev := chat.Typing{Conversation: c.ID, UserID: u.ID, Name: displayName(u), Typing: typing}.Event()
	for _, p := range ids {
		if p != u.ID {
			s.cfg.Publisher.Publish(p, ev)
		}
	}
	return nil
}

func displayName(u chat.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.ID
}

// viewerState is one instance's viewers of one conversation: user id → name.
type viewerState struct {
	conv    string
	viewers map[string]string
	at      time.Time // when it was last heard (remote instances)
}

// presenceMsg is one Bus message: an instance's complete viewers of one conversation.
type presenceMsg struct {
	Origin  string        `json:"o"`
	Key     string        `json:"k"`
	Conv    string        `json:"c"`
	Viewers []chat.Sender `json:"v"`
}

// Presence tracks who views which conversation, on this instance (by connection) and on the
// others (from Bus), and tells the participants connected here. Safe for concurrent use.
type Presence struct {
	svc    *Service
	bus    Bus
	local  LocalPublisher
	origin string
	now    func() time.Time
	log    interface{ Warn(string, ...any) }

	mu     sync.Mutex
	conns  map[any]viewing                    // connection → what it views
	mine   map[string]map[string]*localViewer // key → user → their connections here
	remote map[string]map[string]*viewerState // key → origin → viewers there
	convOf map[string]string                  // key → conversation id
}

type viewing struct {
	key, user string
}

type localViewer struct {
	name  string
	conns int
}

// NewPresence returns the presence tracker of this instance (origin: a unique instance name,
// e.g. the hub epoch).
func (s *Service) NewPresence(bus Bus, local LocalPublisher, origin string) *Presence {
	return &Presence{svc: s, bus: bus, local: local, origin: origin, now: s.cfg.Now, log: s.log,
		conns: map[any]viewing{}, mine: map[string]map[string]*localViewer{}, remote: map[string]map[string]*viewerState{}, convOf: map[string]string{}}
}

// View records that connection conn of u now views conversation id ("" for none) and tells the
// participants. It returns the viewers now. A conversation u may not see is the one not-found.
func (p *Presence) View(ctx context.Context, conn any, u chat.User, id string) ([]chat.Sender, error) {
	if id == "" {
		p.Leave(conn)
		return []chat.Sender{}, nil
	}
	c, _, err := p.svc.access(ctx, u, id)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	prev, had := p.conns[conn]
	if had && prev.key == c.SessionKey {
		out := p.viewersLocked(c.SessionKey)
		p.mu.Unlock()
		return out, nil
	}
	if had {
		p.dropLocked(conn, prev)
	}
	p.conns[conn] = viewing{key: c.SessionKey, user: u.ID}
	p.convOf[c.SessionKey] = c.ID
	m := p.mine[c.SessionKey]
	if m == nil {
		m = map[string]*localViewer{}
		p.mine[c.SessionKey] = m
	}
	lv := m[u.ID]
	if lv == nil {
		lv = &localViewer{name: displayName(u)}
		m[u.ID] = lv
	}
	lv.conns++
	changed := []string{c.SessionKey}
	if had && prev.key != c.SessionKey {
		changed = append(changed, prev.key)
	}
	out := p.viewersLocked(c.SessionKey)
	p.mu.Unlock()
	for _, k := range changed {
		p.changed(ctx, k)
	}
	return out, nil
}

// Leave forgets connection conn (closed, or viewing nothing).
func (p *Presence) Leave(conn any) {
	p.mu.Lock()
	v, ok := p.conns[conn]
	if ok {
		p.dropLocked(conn, v)
	}
	p.mu.Unlock()
	if ok {
		ctx, cancel := p.svc.background(5 * time.Second)
		defer cancel()
		p.changed(ctx, v.key)
	}
}

func (p *Presence) dropLocked(conn any, v viewing) {
	delete(p.conns, conn)
	m := p.mine[v.key]
	if lv := m[v.user]; lv != nil {
		lv.conns--
		if lv.conns <= 0 {
			delete(m, v.user)
		}
	}
	if len(m) == 0 {
		delete(p.mine, v.key)
	}
}

// viewersLocked is the union of every instance's viewers of key, by name then id.
func (p *Presence) viewersLocked(key string) []chat.Sender {
	seen := map[string]string{}
	for u, lv := range p.mine[key] {
		seen[u] = lv.name
	}
	cutoff := p.now().Add(-presenceTTL)
	for origin, st := range p.remote[key] {
		if st.at.Before(cutoff) {
			delete(p.remote[key], origin)
			continue
		}
		for u, n := range st.viewers {
			seen[u] = n
		}
	}
	out := make([]chat.Sender, 0, len(seen))
	for u, n := range seen {
		out = append(out, chat.Sender{UserID: u, Name: n})
	}
	slices.SortFunc(out, func(a, b chat.Sender) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		if a.UserID < b.UserID {
			return -1
		}
		return 1
	})
	return out
}

// changed tells the other instances this instance's viewers of key, and the participants
// connected here everyone's.
func (p *Presence) changed(ctx context.Context, key string) {
	p.broadcast(ctx, key)
	p.deliver(ctx, key)
}

func (p *Presence) broadcast(ctx context.Context, key string) {
	p.mu.Lock()
	msg := presenceMsg{Origin: p.origin, Key: key, Conv: p.convOf[key], Viewers: []chat.Sender{}}
	for u, lv := range p.mine[key] {
		msg.Viewers = append(msg.Viewers, chat.Sender{UserID: u, Name: lv.name})
	}
	p.mu.Unlock()
	if p.bus == nil {
		return
	}
	b, err := json.Marshal(msg)
	if err == nil {
		err = p.bus.Publish(ctx, presenceChannel, b)
	}
	if err != nil {
		p.log.Warn("share: presence not sent to other instances", "err", err)
	}
}

// deliver publishes the viewers of key to its participants on this instance's hub.
func (p *Presence) deliver(ctx context.Context, key string) {
	p.mu.Lock()
	conv := p.convOf[key]
	viewers := p.viewersLocked(key)
	p.mu.Unlock()
	if conv == "" {
		return
	}
	ids, err := p.svc.participantsByKey(ctx, key, conv)
	if err != nil {
		p.log.Warn("share: presence not delivered", "err", err)
		return
	}
	ev := chat.Presence{Conversation: conv, Viewers: viewers}.Event()
	for _, id := range ids {
		p.local.Publish(id, ev)
	}
	if len(viewers) == 0 {
		p.mu.Lock()
		if len(p.mine[key]) == 0 && len(p.remote[key]) == 0 {
			delete(p.convOf, key)
		}
		p.mu.Unlock()
	}
}

// participantsByKey returns who sees the conversation with key (id conv): its participants when
// shared, else its creator (read from the store, so a removed person is never told).
func (s *Service) participantsByKey(ctx context.Context, key, conv string) ([]string, error) {
	ms, err := s.cfg.Store.Members(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("share: members: %w", err)
	}
	if len(ms) > 0 {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.UserID
		}
		return out, nil
	}
	return nil, nil // unshared: nobody else to tell
}

// Run exchanges presence with the other instances until ctx is done: it receives theirs and
// repeats this instance's every presenceRefresh (and forgets instances that went quiet).
func (p *Presence) Run(ctx context.Context) error {
	if p.bus == nil {
		<-ctx.Done()
		return nil
	}
	done := make(chan error, 1)
	go func() {
		done <- p.bus.Listen(ctx, presenceChannel, p.receive, func() { p.refresh(ctx) })
	}()
	t := time.NewTicker(presenceRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			err := <-done
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("share: presence: %w", err)
			}
			return nil
		case err := <-done:
			if ctx.Err() == nil {
				return fmt.Errorf("share: presence listen ended: %w", err)
			}
			return nil
		case <-t.C:
			p.refresh(ctx)
		}
	}
}

// refresh repeats this instance's viewers of every conversation viewed here, and delivers
// the conversations whose remote viewers expired.
func (p *Presence) refresh(ctx context.Context) {
	p.mu.Lock()
	keys := make([]string, 0, len(p.mine))
	for k := range p.mine {
		keys = append(keys, k)
	}
	var expired []string
	cutoff := p.now().Add(-presenceTTL)
	for k, origins := range p.remote {
		for o, st := range origins {
			if st.at.Before(cutoff) {
				delete(origins, o)
				expired = append(expired, k)
			}
		}
		if len(origins) == 0 {
			delete(p.remote, k)
		}
	}
	p.mu.Unlock()
	for _, k := range keys {
		p.broadcast(ctx, k)
	}
	for _, k := range expired {
		p.deliver(ctx, k)
	}
}

// receive applies another instance's viewers of one conversation.
func (p *Presence) receive(payload []byte) {
	var m presenceMsg
	if json.Unmarshal(payload, &m) != nil || m.Origin == p.origin || m.Key == "" || !chat.ValidConversationID(m.Conv) || len(m.Viewers) > 1000 {
		return
	}
	p.mu.Lock()
	origins := p.remote[m.Key]
	if origins == nil {
		origins = map[string]*viewerState{}
		p.remote[m.Key] = origins
	}
	prev := origins[m.Origin]
	st := &viewerState{conv: m.Conv, viewers: map[string]string{}, at: p.now()}
	for _, v := range m.Viewers {
		st.viewers[v.UserID] = v.Name
	}
	same := prev != nil && mapsEqual(prev.viewers, st.viewers)
	if len(st.viewers) == 0 {
		delete(origins, m.Origin)
		if len(origins) == 0 {
			delete(p.remote, m.Key)
		}
	} else {
		origins[m.Origin] = st
	}
	p.convOf[m.Key] = m.Conv
	p.mu.Unlock()
	if same || (prev == nil && len(st.viewers) == 0) {
		return
	}
	ctx, cancel := p.svc.background(5 * time.Second)
	defer cancel()
	p.deliver(ctx, m.Key)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
