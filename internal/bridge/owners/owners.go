// Package owners answers "who may see the events of this Gateway session?" for the bridge, from
// its own memory where it can and from the store where it must.
//
//   - A clawchat session key (agent:<agent>:clawchat:<user>:<conv>) belongs to the user whose
//     conversation row has it. The Registry remembers whose each key is once the store said so
//     (Remember), and which keys belong to nobody for a while, so that routing a Gateway event
//     rarely needs a store read (Known tells when it does not; Resolve reads).
//   - A Gateway session outside the namespace (an owner's gw: view) goes to the owners who opened
//     it (Watch), and only while they still hold the owner role: IsOwnerNow reads
//     Config.Owners at most every 2 s (UserChanged drops the cache at once; issue 16), and fails
//     closed when the store cannot be read.
//
// The watch lists are bounded: a watcher unused for WatchIdle is evicted by Prune, and at most
// MaxWatchedSessions sessions with MaxWatchersPerSession watchers each are kept (the least recently
// used go first). A Registry has its own locks and never calls back into its users; it is safe
// for concurrent use.
package owners

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/sessionkey"
	"github.com/clawchat/clawchat/internal/chat"
)

// Bounds of the watch lists.
const (
	WatchIdle             = time.Hour
	MaxWatchedSessions    = 4096
	MaxWatchersPerSession = 64
)

// ownerCacheTTL bounds how long a role read from Config.Owners is believed when delivering Gateway
// session events. UserChanged drops the cache at once; the TTL only covers a change this process
// was not told about.
const ownerCacheTTL = 2 * time.Second

// ownerRecheck is how old the cache may be before a "not an owner" answer is read again.
const ownerRecheck = 250 * time.Millisecond

// How long a clawchat key that belongs to nobody is believed to (after a failed lookup, and after
// a delete).
const (
	notOursFor       = 30 * time.Second
	notOursAfterDrop = time.Minute
)

// Store is the store read the Registry needs (internal/store implements it): the conversation of
// a session key, chat.ErrNotFound when there is none.
type Store interface {
	ConversationByKey(ctx context.Context, sessionKey string) (chat.Conversation, error)
}

// Config configures a Registry. Store, Now, Logger and Base are required.
type Config struct {
	Store  Store
	Now    func() time.Time
	Logger *slog.Logger
	// Base is the context of store reads made on behalf of events (cancelled at shutdown).
	Base context.Context
	// Owners returns the ids of every owner account (optional). Without it every watcher counts as
	// an owner (tests); UserChanged still prunes the watch lists.
	Owners func(ctx context.Context) ([]string, error)
}

// Ref is whose conversation a clawchat session key is, as the store said.
type Ref struct{ ConvID, UserID string }

// Registry is the ownership memory. The zero value is not usable; call New.
type Registry struct {
	cfg Config

	mu      sync.Mutex
	owned   map[string]Ref                  // clawchat key → owner
	notOurs map[string]time.Time            // clawchat keys known to belong to nobody, until expiry
	watch   map[string]map[string]time.Time // gateway key → watcher → last use

	cache ownerCache
}

// ownerCache holds the owner ids last read from Config.Owners.
type ownerCache struct {
	mu  sync.Mutex
	ids map[string]bool
	at  time.Time // zero: must be read again
}

// New returns a Registry.
func New(cfg Config) *Registry {
	return &Registry{cfg: cfg, owned: map[string]Ref{}, notOurs: map[string]time.Time{}, watch: map[string]map[string]time.Time{}}
}

// Remember records that c's session key is c's (read from or written to the store). Gateway
// (gw:) conversations and keys outside the namespace are ignored.
func (g *Registry) Remember(c chat.Conversation) {
	if sessionkey.IsGatewayID(c.ID) || !sessionkey.IsOwnNamespace(c.SessionKey) {
		return
	}
	g.mu.Lock()
	delete(g.notOurs, c.SessionKey)
	g.owned[c.SessionKey] = Ref{ConvID: c.ID, UserID: c.UserID}
	g.mu.Unlock()
}

// Forget records that key's conversation was deleted: it belongs to nobody for a minute (its
// trailing Gateway events are dropped without a store read).
func (g *Registry) Forget(key string) {
	g.mu.Lock()
	delete(g.owned, key)
	g.notOurs[key] = g.cfg.Now().Add(notOursAfterDrop)
	g.mu.Unlock()
}

// Known reports whether the owner of clawchat key is known without a store read: ok with its
// owner, or nobody (ok, zero Ref) while it is remembered as belonging to nobody.
func (g *Registry) Known(key string) (Ref, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o, ok := g.owned[key]; ok {
		return o, true
	}
	until, ok := g.notOurs[key]
	return Ref{}, ok && g.cfg.Now().Before(until)
}

// Resolve returns who may see events of key: the conversation's owner for clawchat keys (from
// memory, else the store, which it may wait on for up to 2 s; call it off the Gateway dispatch
// goroutine unless Known said so), the owners watching a Gateway session otherwise (Watchers).
func (g *Registry) Resolve(key string) (convID string, users []string) {
	if !sessionkey.IsOwnNamespace(key) {
		return sessionkey.GatewayPrefix + key, g.Watchers(key)
	}
	if o, ok := g.Known(key); ok {
		if o.UserID == "" {
			return "", nil
		}
		return o.ConvID, []string{o.UserID}
	}
	ctx, cancel := context.WithTimeout(g.cfg.Base, 2*time.Second)
	defer cancel()
	c, err := g.cfg.Store.ConversationByKey(ctx, key)
	if err != nil || c.SessionKey != key || c.UserID == "" {
		if err == nil || errors.Is(err, chat.ErrNotFound) {
			g.mu.Lock()
			g.notOurs[key] = g.cfg.Now().Add(notOursFor)
			g.mu.Unlock()
		}
		return "", nil
	}
	g.Remember(c)
	return c.ID, []string{c.UserID}
}

// Watch adds userID (an owner who opened or wrote to it) to the watchers of Gateway session key.
func (g *Registry) Watch(key, userID string) {
	now := g.cfg.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.watch[key]
	if m == nil {
		if len(g.watch) >= MaxWatchedSessions {
			g.evictSessionLocked()
		}
		m = map[string]time.Time{}
		g.watch[key] = m
	}
	if _, ok := m[userID]; !ok && len(m) >= MaxWatchersPerSession {
		oldest, at := "", time.Time{}
		for u, t := range m {
			if oldest == "" || t.Before(at) {
				oldest, at = u, t
			}
		}
		delete(m, oldest)
	}
	m[userID] = now
}

// evictSessionLocked drops the session whose latest use is the oldest; g.mu held.
func (g *Registry) evictSessionLocked() {
	oldest, at := "", time.Time{}
	for k, m := range g.watch {
		var last time.Time
		for _, t := range m {
			if t.After(last) {
				last = t
			}
		}
		if oldest == "" || last.Before(at) {
			oldest, at = k, last
		}
	}
	delete(g.watch, oldest)
}

// WatchersOf returns the current watchers of key, owners or not, without reading the store.
func (g *Registry) WatchersOf(key string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.watch[key]))
	for u := range g.watch[key] {
		out = append(out, u)
	}
	return out
}

// Watchers returns the watchers of Gateway session key who are owners now, and drops the others
// from the list. It never holds the Registry's lock while it reads the owners (a store read when
// the cache is stale).
func (g *Registry) Watchers(key string) []string {
	watchers := g.WatchersOf(key)
	var users, gone []string
	for _, u := range watchers {
		if g.IsOwnerNow(u) {
			users = append(users, u)
		} else {
			gone = append(gone, u)
		}
	}
	now := g.cfg.Now()
	g.mu.Lock()
	for _, u := range gone {
		delete(g.watch[key], u)
	}
	for _, u := range users {
		if m := g.watch[key]; m != nil {
			if _, ok := m[u]; ok {
				m[u] = now // in use
			}
		}
	}
	if len(g.watch[key]) == 0 {
		delete(g.watch, key)
	}
	g.mu.Unlock()
	return users
}

// WatchedSessions is how many Gateway sessions have watchers (for tests and metrics).
func (g *Registry) WatchedSessions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.watch)
}

// Prune forgets expired "belongs to nobody" answers and watchers unused for WatchIdle.
func (g *Registry) Prune() {
	now := g.cfg.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, until := range g.notOurs {
		if now.After(until) {
			delete(g.notOurs, k)
		}
	}
	for k, m := range g.watch {
		for u, t := range m {
			if now.Sub(t) > WatchIdle {
				delete(m, u)
			}
		}
		if len(m) == 0 {
			delete(g.watch, k)
		}
	}
}

// IsOwnerNow reports whether userID holds the owner role now, for delivering Gateway (gw:)
// session events: a demoted owner must stop receiving them even for a session they opened while
// owner (issue 16). With Config.Owners the answer is at most ownerCacheTTL old (or fresh after
// UserChanged); when the store cannot be read it is false (fail closed). A stale cache is read
// again synchronously. Without Config.Owners there is no source of truth and every watcher counts
// as an owner.
func (g *Registry) IsOwnerNow(userID string) bool {
	if g.cfg.Owners == nil {
		return true
	}
	c := &g.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	now := g.cfg.Now()
	age := now.Sub(c.at)
	stale := c.at.IsZero() || age >= ownerCacheTTL || age < 0
	// A "no" is confirmed with a fresher read (at most every ownerRecheck): a run routed to a
	// user was authorized for an owner moments ago, and an owner created or promoted since the
	// last read must not lose their events for the rest of the TTL.
	if stale || (!c.ids[userID] && age >= ownerRecheck) {
		ctx, cancel := context.WithTimeout(g.cfg.Base, 2*time.Second)
		ids, err := g.cfg.Owners(ctx)
		cancel()
		if err != nil {
			g.cfg.Logger.Warn("read owners for Gateway session events failed; withholding them", "err", err)
			c.ids, c.at = nil, time.Time{}
			return false
		}
		c.ids = make(map[string]bool, len(ids))
		for _, id := range ids {
			c.ids[id] = true
		}
		c.at = now
	}
	return c.ids[userID]
}

// Fresh reports whether IsOwnerNow answers for every one of users from its cache, without a store
// read. A refresh in progress (the cache's lock taken) counts as not fresh.
func (g *Registry) Fresh(users []string) bool {
	if g.cfg.Owners == nil {
		return true
	}
	c := &g.cache
	if !c.mu.TryLock() {
		return false
	}
	defer c.mu.Unlock()
	age := g.cfg.Now().Sub(c.at)
	if c.at.IsZero() || age >= ownerCacheTTL || age < 0 {
		return false
	}
	for _, u := range users {
		if !c.ids[u] && age >= ownerRecheck {
			return false
		}
	}
	return true
}

// UserChanged tells the Registry that userID's account or sessions changed (role change,
// sign-out, revocation, deletion, creation): the owners are read again, and when userID is no
// longer an owner (or there is no source of roles, Config.Owners nil) they are removed from every
// Gateway session's watch list. A re-promoted owner is added back the next time they open or
// write to the session.
func (g *Registry) UserChanged(userID string) {
	g.cache.mu.Lock()
	g.cache.at = time.Time{}
	g.cache.mu.Unlock()
	// Read the owners now, here, rather than on a delivery path. A change that left the user an
	// owner (a sign-in, a sign-out of one device, a new password) keeps their watches.
	if g.cfg.Owners != nil && g.IsOwnerNow(userID) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for key, m := range g.watch {
		delete(m, userID)
		if len(m) == 0 {
			delete(g.watch, key)
		}
	}
}

// Deliverable reports whether events of conversation convID may go to userID now: always for
// clawchat's own conversations (the user owns them), and for Gateway sessions only while the user
// is an owner.
func (g *Registry) Deliverable(convID, userID string) bool {
	return !sessionkey.IsGatewayID(convID) || g.IsOwnerNow(userID)
}
