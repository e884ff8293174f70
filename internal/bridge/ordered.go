package bridge

// Gateway events are handled in order per session key by bridge/ordered, on the dispatch
// goroutine unless routing needs a store read (routable).

// approvalsKey orders the exec approval events: their handling always reads the store (the
// owners, the session's owner), so it always runs on this key's worker.
const approvalsKey = "\x00approvals"

// ordered runs fn, the handling of one event of session key (run runID), in order with the other
// events of key (ordered.Queue.Do).
func (s *Service) ordered(key, runID string, fn, detach func()) { s.queue.Do(key, runID, fn, detach) }

// routable reports whether routing an event of key and runID needs no store read (approval events
// always do; run events: runs.Tracker.Routable).
func (s *Service) routable(key, runID string) bool {
	if key == approvalsKey {
		return false
	}
	return s.tracker.Routable(key, runID)
}
