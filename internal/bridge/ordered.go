package bridge

// Gateway events are handled in order per session key by bridge/ordered, on the dispatch
// goroutine unless routing needs a store read (routable).

// approvalsKey orders the exec approval events: their handling always reads the store (the
// owners, the session's owner), so it always runs on this key's worker.
const approvalsKey = "\x00approvals"

// ordered runs fn, the handling of one event of session key (run runID), in order with the other
// events of key (ordered.Queue.Do).
func (s *Service) ordered(key, runID string, fn, detach func()) { s.queue.Do(key, runID, fn, detach) }

// routable reports whether routing an event of key and runID needs no store read: its run is
// tracked or recently ended, or key is a clawchat session already known to be someone's or
// nobody's; for a Gateway session, the owner list must be fresh for everyone it may go to.
func (s *Service) routable(key, runID string) bool {
	if key == approvalsKey {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !isOwnNamespace(key) {
		users := s.ownersOf.WatchersOf(key)
		if r := s.runs[runID]; r != nil {
			users = append(users, r.userID)
		}
		return s.ownersOf.Fresh(users)
	}
	if s.runs[runID] != nil {
		return true
	}
	if _, ended := s.recent[runID]; ended {
		return true
	}
	if s.convs[key] != nil {
		return true
	}
	_, known := s.ownersOf.Known(key)
	return known
}
