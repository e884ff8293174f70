package bridge

// This file keeps store reads off the Gateway client's dispatch goroutine (issue 14). Routing an
// event reads the store only for a session the bridge has not seen yet (ConversationByKey: whose
// conversation is it?) or, for a Gateway session, when the owner list is stale (Config.Owners).
// Such an event, and every later event of the same session key until the backlog is empty, runs
// on a worker of that key: one slow read delays only the session it is about, in order, while
// every other session's events keep flowing on the dispatch goroutine.

// approvalsKey orders the exec approval events: their handling always reads the store (the
// owners, the session's owner), so it always runs on this key's worker.
const approvalsKey = "\x00approvals"

// ordered runs fn, the handling of one event of session key (run runID): at once when routing it
// needs no store read and nothing of key is waiting, else on key's worker after the events of key
// already waiting. detach (may be nil) runs first when fn is deferred, on the caller's goroutine,
// to copy what fn must not share with the caller. It is called from one goroutine only (the
// Gateway client's dispatch goroutine), which is what orders the events of a key.
func (s *Service) ordered(key, runID string, fn, detach func()) {
	s.mu.Lock()
	if q, busy := s.slow[key]; busy {
		if detach != nil {
			detach()
		}
		s.slow[key] = append(q, fn)
		s.mu.Unlock()
		return
	}
	if s.routableLocked(key, runID) {
		s.mu.Unlock()
		fn()
		return
	}
	if detach != nil {
		detach()
	}
	s.slow[key] = []func(){fn}
	s.mu.Unlock()
	s.slowWG.Add(1)
	s.goBackground(func() {
		defer s.slowWG.Done()
		s.drainSlow(key)
	})
}

// drainSlow runs the waiting events of key in order until none is left.
func (s *Service) drainSlow(key string) {
	for {
		s.mu.Lock()
		q := s.slow[key]
		if len(q) == 0 {
			delete(s.slow, key)
			s.mu.Unlock()
			return
		}
		s.slow[key] = nil // still busy: later events queue behind these
		s.mu.Unlock()
		for _, fn := range q {
			fn()
		}
	}
}

// routableLocked reports whether routing an event of key and runID needs no store read: its run
// is tracked or recently ended, or key is a clawchat session already known to be someone's or
// nobody's; for a Gateway session, the owner list must be fresh for everyone it may go to.
// s.mu held.
func (s *Service) routableLocked(key, runID string) bool {
	if key == approvalsKey {
		return false
	}
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
