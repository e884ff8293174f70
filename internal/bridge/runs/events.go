package runs

import (
	"github.com/clawchat/clawchat/internal/chat"
)

// owners returns who may see events of key: the conversation's owner for clawchat keys, the
// owners watching a gateway session otherwise (bridge/owners).
func (s *Tracker) owners(key string) (convID string, users []string) {
	if isOwnNamespace(key) {
		s.mu.Lock()
		cs := s.convs[key]
		s.mu.Unlock()
		if cs != nil {
			return cs.convID, []string{cs.userID}
		}
	}
	return s.ownersOf.Resolve(key)
}

// routeRun returns the tracked run for runID, adopting a run started elsewhere (another clawchat
// instance, a channel, a follow-up turn) when its session has an owner here. Gateway sessions are
// delivered to one watching owner (the first found) to keep run state single-owner.
//
// With reopen (a chat delta, or a final with its message), a run that clawchat ended by inference
// without a reply is brought back (reopenLocked).
func (s *Tracker) routeRun(runID, key string, reopen bool) *run {
	s.mu.Lock()
	if r := s.runs[runID]; r != nil {
		if r.key != key { // a run id never moves between sessions; refuse to cross-deliver
			s.mu.Unlock()
			return nil
		}
		r.lastEvent = s.cfg.Now()
		s.mu.Unlock()
		return r
	}
	if rr, ended := s.recent[runID]; ended {
		if reopen && rr.inferred && rr.end != nil && rr.end.event() != "run.final" && isOwnNamespace(key) {
			r := s.reopenLocked(runID, key)
			s.mu.Unlock()
			return r
		}
		s.mu.Unlock()
		return nil // trailing events after final/aborted/error
	}
	s.mu.Unlock()
	convID, users := s.owners(key)
	if len(users) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.runs[runID]; r != nil {
		return r
	}
	cs := s.convs[key]
	if cs == nil {
		cs = &convState{key: key, userID: users[0], convID: convID}
		s.convs[key] = cs
	}
	if cs.active != nil {
		// Another run in the same session (e.g. a Gateway follow-up) while ours runs: track it too,
		// but it does not become the conversation's active run.
		r := &run{id: runID, key: key, userID: cs.userID, convID: cs.convID, started: s.cfg.Now(), lastEvent: s.cfg.Now(), sent: true}
		s.runs[runID] = r
		s.userRuns[r.userID]++
		return r
	}
	r := &run{id: runID, key: key, userID: cs.userID, convID: cs.convID, started: s.cfg.Now(), lastEvent: s.cfg.Now(), sent: true}
	cs.active = r
	s.runs[runID] = r
	s.userRuns[r.userID]++
	s.announceLocked(r, nil)
	return r
}

// publishRun sends a run event (built with r's conversation and run id) to the run's user, unless
// the run is in a Gateway session and the user is no longer an owner (checked at every delivery:
// issue 16).
func (s *Tracker) publishRun(r *run, ev chat.Event) {
	if !s.deliverable(r) {
		return
	}
	s.cfg.Publisher.Publish(r.userID, ev)
}

// Snapshot returns a run.snapshot event for each of u's active runs (sent after a resync).
func (s *Tracker) Snapshot(u chat.User) []chat.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []chat.Event
	for _, r := range s.runs {
		if r.userID != u.ID {
			continue
		}
		text, rev, reasoning, tools := r.content.View()
		out = append(out, chat.RunSnapshot{
			Conversation: r.convID, RunID: r.id, Text: text, Rev: &rev, Reasoning: &reasoning,
			Tools: tools, State: "running",
		}.Event())
	}
	return out
}
