package runs

import (
	"github.com/clawchat/clawchat/internal/bridge/runstate"
	"github.com/clawchat/clawchat/internal/bridge/sessionkey"
	"github.com/clawchat/clawchat/internal/chat"
)

// owners returns who may see events of key: the conversation's owner for clawchat keys, the
// owners watching a gateway session otherwise (bridge/owners).
func (s *Tracker) owners(key string) (convID string, users []string) {
	if sessionkey.IsOwnNamespace(key) {
		s.mu.Lock()
		userID, convID, ok := s.table.Conv(key)
		s.mu.Unlock()
		if ok {
			return convID, []string{userID}
		}
	}
	return s.ownersOf.Resolve(key)
}

// routeRun returns the tracked run for runID, adopting a run started elsewhere (another clawchat
// instance, a channel, a follow-up turn) when its session has an owner here. Gateway sessions are
// delivered to one watching owner (the first found) to keep run state single-owner.
//
// With reopen (a chat delta, or a final with its message), a run that clawchat ended by inference
// without a reply is brought back: tracked again and announced anew with run.started, so its
// reply reaches the user (runstate.Table.Route).
func (s *Tracker) routeRun(runID, key string, reopen bool) *Run {
	s.mu.Lock()
	rt := s.table.Route(runID, key, reopen, s.cfg.Now())
	if rt.Reopened {
		s.log.Info("run reopened: the Gateway streams it after all", "run", runID)
		s.announceLocked(rt.Run)
	}
	s.mu.Unlock()
	if rt.Known {
		return rt.Run // nil: trailing events after final/aborted/error, or another session's run id
	}
	// Who owns the session may read the store: outside the lock.
	convID, users := s.owners(key)
	if len(users) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, announce := s.table.Adopt(runID, key, users[0], convID, s.cfg.Now())
	if announce {
		s.announceLocked(r)
	}
	return r
}

// publishRun sends a run event (built with r's conversation and run id) to the run's user, unless
// the run is in a Gateway session and the user is no longer an owner (checked at every delivery:
// issue 16).
func (s *Tracker) publishRun(r *Run, ev chat.Event) {
	if !s.deliverable(r) {
		return
	}
	s.cfg.Publisher.Publish(r.UserID(), ev)
}

// Snapshot returns a run.snapshot event for each of u's active runs (sent after a resync).
func (s *Tracker) Snapshot(u chat.User) []chat.Event {
	s.mu.Lock()
	runs := s.table.Running(u.ID, s.cfg.Participants != nil)
	s.mu.Unlock()
	return s.visible(u, runs)
}

// EndedSnapshot returns one run.snapshot per run of u that ended in the last 10 minutes, oldest
// first, with how it ended: state final, aborted or error, its text, and for errors the message
// and kind. A client that resynced learns from it the end of every run it may have missed.
func (s *Tracker) EndedSnapshot(u chat.User) []chat.Event {
	s.mu.Lock()
	runs := s.table.EndedRuns(u.ID, s.cfg.Participants != nil)
	s.mu.Unlock()
	return s.visible(u, runs)
}

// visible returns the events of the snapshots u may see: of u's runs, and of the runs of the
// shared conversations u takes part in (decided outside the lock: it may read the store).
func (s *Tracker) visible(u chat.User, runs []runstate.Owned) []chat.Event {
	var out []chat.Event
	for _, o := range runs {
		if s.sees(u.ID, o.UserID, o.Snapshot.Conversation) {
			out = append(out, o.Snapshot.Event())
		}
	}
	return out
}
