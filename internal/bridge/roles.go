package bridge

import (
	"context"
	"strings"
	"sync"
	"time"
)

// ownerCacheTTL bounds how long a role read from Config.Owners is believed when delivering Gateway
// session events. UserChanged drops the cache at once; the TTL only covers a change this process
// was not told about.
const ownerCacheTTL = 2 * time.Second

// ownerRecheck is how old the cache may be before a "not an owner" answer is read again.
const ownerRecheck = 250 * time.Millisecond

// ownerCache holds the owner ids last read from Config.Owners.
type ownerCache struct {
	mu  sync.Mutex
	ids map[string]bool
	at  time.Time // zero: must be read again
}

// isOwnerNow reports whether userID holds the owner role now, for delivering Gateway (gw:)
// session events: a demoted owner must stop receiving them even for a session they opened while
// owner (issue 16). With Config.Owners the answer is at most ownerCacheTTL old (or fresh after
// UserChanged); when the store cannot be read it is false (fail closed). A stale cache is read
// again synchronously; routing (gatewayWatchers) does that before taking s.mu, so the lock does
// not wait on the store. Without Config.Owners
// (tests) there is no source of truth and every watcher counts as an owner; UserChanged still
// prunes the watch lists.
func (s *Service) isOwnerNow(userID string) bool {
	if s.cfg.Owners == nil {
		return true
	}
	c := &s.ownerCache
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.cfg.Now()
	age := now.Sub(c.at)
	stale := c.at.IsZero() || age >= ownerCacheTTL || age < 0
	// A "no" is confirmed with a fresher read (at most every ownerRecheck): a run routed to a
	// user was authorized for an owner moments ago, and an owner created or promoted since the
	// last read must not lose their events for the rest of the TTL.
	if stale || (!c.ids[userID] && age >= ownerRecheck) {
		ctx, cancel := context.WithTimeout(s.base, 2*time.Second)
		ids, err := s.cfg.Owners(ctx)
		cancel()
		if err != nil {
			s.log.Warn("read owners for Gateway session events failed; withholding them", "err", err)
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

// UserChanged tells the service that userID's account or sessions changed (role change, sign-out,
// revocation, deletion, creation): the owners are read again, and when userID is no longer an
// owner (or there is no source of roles, Config.Owners nil) they are removed from every Gateway
// session's watch list, so Gateway runs are no longer routed to them. A re-promoted owner is
// added back the next time they open or write to the session.
func (s *Service) UserChanged(userID string) {
	s.ownerCache.mu.Lock()
	s.ownerCache.at = time.Time{}
	s.ownerCache.mu.Unlock()
	// Read the owners now, here, rather than on a delivery path. A change that left the user an
	// owner (a sign-in, a sign-out of one device, a new password) keeps their watches.
	if s.cfg.Owners != nil && s.isOwnerNow(userID) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, m := range s.watch {
		delete(m, userID)
		if len(m) == 0 {
			delete(s.watch, key)
		}
	}
}

// gatewayWatchers returns the watchers of Gateway session key who are owners now, and drops the
// others from the list. It takes s.mu itself and never holds it while reading the owners (a
// store read when the cache is stale), so the chat core's lock never waits on the database.
func (s *Service) gatewayWatchers(key string) []string {
	s.mu.Lock()
	var watchers []string
	for u := range s.watch[key] {
		watchers = append(watchers, u)
	}
	s.mu.Unlock()
	var users, gone []string
	for _, u := range watchers {
		if s.isOwnerNow(u) {
			users = append(users, u)
		} else {
			gone = append(gone, u)
		}
	}
	if len(gone) > 0 {
		s.mu.Lock()
		for _, u := range gone {
			delete(s.watch[key], u)
		}
		if len(s.watch[key]) == 0 {
			delete(s.watch, key)
		}
		s.mu.Unlock()
	}
	return users
}

// deliverable reports whether r's events may go to r.userID now: always for clawchat's own
// conversations (the user owns them), and for Gateway sessions only while the user is an owner.
func (s *Service) deliverable(r *run) bool {
	return !strings.HasPrefix(r.convID, GatewayPrefix) || s.isOwnerNow(r.userID)
}
