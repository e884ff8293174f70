package bridge

import (
	"context"
	"encoding/json"
	"slices"
)

// reconcile resolves in-flight runs from chat.history: after a reconnect or an event gap every
// run (onlyStale false), else only runs without events for StaleRunAfter.
func (s *Service) reconcile(ctx context.Context, onlyStale bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	var ids []string
	for id, r := range s.runs {
		if !r.sent {
			continue // chat.send not acknowledged yet; dispatch resolves it
		}
		if onlyStale && now.Sub(r.lastEvent) < s.cfg.StaleRunAfter {
			continue
		}
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		s.reconcileRun(ctx, id)
	}
}

// reconcileRun checks one run against chat.history and emits the missing terminal event.
func (s *Service) reconcileRun(ctx context.Context, runID string) {
	s.mu.Lock()
	r := s.runs[runID]
	s.mu.Unlock()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HistoryTimeout)
	defer cancel()
	var raw rawHistory
	if err := s.upstream(ctx, "chat.history", map[string]any{"sessionKey": r.key, "limit": 50}, &raw); err != nil {
		s.log.Debug("reconcile: history unavailable", "err", err)
		return
	}
	if raw.InFlightRun != nil && raw.InFlightRun.RunID == runID {
		s.mu.Lock()
		changed := raw.InFlightRun.Text != r.text && s.runs[runID] == r
		var rev uint64
		if changed {
			r.setText(raw.InFlightRun.Text)
			rev = r.textRev
		}
		r.lastEvent = s.cfg.Now()
		s.mu.Unlock()
		if changed {
			s.publishRun(r, "run.delta", map[string]any{"text": raw.InFlightRun.Text, "replace": true, "rev": rev})
		}
		return
	}
	if ids := raw.SessionInfo.ActiveRunIDs; ids != nil && slices.Contains(*ids, runID) {
		s.mu.Lock()
		r.lastEvent = s.cfg.Now()
		s.mu.Unlock()
		return
	}
	if raw.SessionInfo.ActiveRunIDs == nil && raw.SessionInfo.HasActiveRun {
		return // unknown: keep waiting
	}
	// The run is over. Find its reply: the assistant rows after the user row of this run.
	text, aborted, found := replyOf(raw.Messages, runID)
	s.mu.Lock()
	if !found {
		text = r.text
	}
	ended := s.endRunLocked(r)
	s.mu.Unlock()
	if !ended {
		return
	}
	if aborted {
		s.publishRun(r, "run.aborted", map[string]any{"text": text})
	} else {
		s.publishRun(r, "run.final", map[string]any{"text": text})
	}
	s.next(r.key)
}

// replyOf finds the reply of runID in transcript rows (oldest first): an assistant row tagged with
// the run id, or the assistant text after the user row whose idempotencyKey is "<runID>:user".
func replyOf(rows []json.RawMessage, runID string) (text string, aborted, found bool) {
	after := false
	for _, row := range rows {
		var m rawMessage
		if json.Unmarshal(row, &m) != nil {
			continue
		}
		tagged := (m.Meta != nil && m.Meta.RunID == runID) || m.IdempotencyKey == runID+":assistant" ||
			(m.OpenclawAbort != nil && m.OpenclawAbort.RunID == runID)
		switch {
		case m.Role == "user" && m.IdempotencyKey == runID+":user":
			after, found, text = true, true, ""
			continue
		case m.Role == "user":
			if after && !tagged {
				return text, aborted, found
			}
		case m.Role == "assistant" && (after || tagged):
			t, _, _ := contentParts(m.Content)
			if t != "" {
				if text != "" {
					text += "\n\n"
				}
				text += t
			}
			found = true
			if m.OpenclawAbort != nil && m.OpenclawAbort.Aborted {
				aborted = true
			}
		}
	}
	return text, aborted, found
}
