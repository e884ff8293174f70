package runs

import (
	"context"
	"slices"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// reconcile resolves in-flight runs from chat.history: after a reconnect or an event gap every
// run (onlyStale false), else only runs without events for StaleRunAfter. Runs whose chat.send
// is still waiting for its answer are left to dispatch.
func (s *Tracker) reconcile(ctx context.Context, onlyStale bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	var ids []string
	for id, r := range s.runs {
		if !r.sent && !r.unknown {
			continue // chat.send not answered yet; dispatch resolves it
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

// reconcileRun checks one run against chat.history and moves it to the state the Gateway
// reports (runstate.go): still running, ended with its reply, continued by another turn (which
// is adopted), lost (sent again once, then an error) or cut without a reply. While the Gateway
// says the session is busy without saying with what, it asks again every second for up to 30 s.
func (s *Tracker) reconcileRun(ctx context.Context, runID string) {
	for {
		again := s.reconcileOnce(ctx, runID)
		if !again {
			return
		}
		t := time.NewTimer(unknownRetryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (s *Tracker) reconcileOnce(ctx context.Context, runID string) (again bool) {
	s.mu.Lock()
	r := s.runs[runID]
	s.mu.Unlock()
	if r == nil {
		return false
	}
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HistoryTimeout)
	defer cancel()
	raw, err := s.gw.ChatHistory(hctx, gateway.ChatHistoryParams{SessionKey: r.key, Limit: 50})
	if err != nil {
		s.log.Debug("reconcile: history unavailable", "err", err)
		return false
	}
	v := judge(raw, runID)
	// Runs clawchat has seen end are not "another turn": the Gateway lists a run as active for
	// a moment after its final. Such stale information is asked again.
	stale := false
	s.mu.Lock()
	v.Others = slices.DeleteFunc(v.Others, func(id string) bool {
		_, ended := s.recent[id]
		stale = stale || ended
		return ended
	})
	s.mu.Unlock()
	switch {
	case v.Running:
		s.mu.Lock()
		r.sent, r.unknown, r.bare = true, false, false
		changed := v.InFlight != nil && s.runs[runID] == r
		var rev uint64
		if changed {
			rev, changed = r.content.Replace(*v.InFlight)
		}
		r.lastEvent = s.cfg.Now()
		s.mu.Unlock()
		if changed {
			s.publishRun(r, chat.RunDelta{Conversation: r.convID, RunID: r.id, Text: *v.InFlight, Replace: true, Rev: rev}.Event())
		}
		return false
	case v.Replied:
		if v.Aborted {
			s.finishInferred(r, chat.RunAborted{Text: v.Reply})
		} else {
			s.finishInferred(r, chat.RunFinal{Text: v.Reply})
		}
		return false
	case len(v.Others) > 0 && (v.UserRow || r.bare):
		// Another turn carries this message on: the Gateway's recovery turn after a crash, or
		// the turn a message sent to a busy session was merged into.
		s.continueIn(r, v.Others[0])
		return false
	case stale && !v.Replied:
		return s.retryUnknown(r)
	case !v.UserRow && len(v.Others) > 0:
		// Parked behind another turn: the Gateway either takes it into that turn or ends it
		// with an error event ("pending input ownership ended").
		return s.retryUnknown(r)
	case v.Unknown:
		return s.retryUnknown(r)
	case !v.UserRow:
		s.mu.Lock()
		resend := r.msg != nil && !r.resent
		r.resent = true
		s.mu.Unlock()
		if resend {
			// The Gateway never kept it (lost with a crash, or the answer to chat.send was lost
			// before it arrived): send it again with the same idempotency key.
			q := *r.msg
			sctx, cancel := s.sendContext(ctx)
			defer cancel()
			if _, err := s.dispatch(sctx, r, q); err != nil {
				s.log.Info("resend failed", "err", err)
			}
			return false
		}
		s.log.Info("message lost by the Gateway", "run", r.id, "others", len(v.Others), "hasActiveRun", raw.SessionInfo.HasActiveRun)
		partial := s.partial(r)
		s.finishInferred(r, chat.RunError{Message: "the assistant lost this message; send it again", Kind: "lost", Text: &partial})
		return false
	default:
		// Its message is in the transcript, nothing runs and no reply follows: the turn was cut.
		// After a crash the Gateway resumes cut sessions with a recovery turn, one session at a
		// time; while it says it owes this session one, wait for it (the run stays, so new
		// messages queue behind it), else wait a little before saying the turn was cut.
		s.mu.Lock()
		now := s.cfg.Now()
		if v.Owed {
			first := r.owedSince.IsZero()
			if first {
				r.owedSince = now
			}
			if now.Sub(r.owedSince) < recoveryOwedWait {
				r.lastEvent = now
				s.mu.Unlock()
				if first {
					s.log.Info("waiting for the Gateway's recovery turn", "run", r.id)
					s.publishRun(r, chat.RunStatus{Conversation: r.convID, RunID: r.id, Phase: "recovering"}.Event())
				}
				return true
			}
		}
		wait := r.retries < int(s.cfg.RecoveryGrace/unknownRetryEvery)
		s.mu.Unlock()
		if wait {
			return s.retryUnknown(r)
		}
		partial := s.partial(r)
		s.finishInferred(r, chat.RunError{Message: "the assistant stopped before it could reply", Kind: "interrupted", Text: &partial})
		return false
	}
}

// partial returns r's text so far.
func (s *Tracker) partial(r *run) string {
	return r.content.Text()
}

// retryUnknown reports whether r's reconciliation should be asked again (bounded).
func (s *Tracker) retryUnknown(r *run) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.retries++
	r.lastEvent = s.cfg.Now()
	return r.retries <= unknownRetries
}

// continueIn ends r, whose reply the Gateway produces in its turn otherID, with run.error
// (kind interrupted, or merged for a bare final; the partial text kept; continuedBy) and
// adopts otherID as the conversation's run, announced with r's message id.
func (s *Tracker) continueIn(r *run, otherID string) {
	s.mu.Lock()
	o := s.runs[otherID]
	if o == nil {
		if _, ended := s.recent[otherID]; ended {
			text := r.content.Text()
			s.mu.Unlock()
			s.finishInferred(r, chat.RunError{Message: "the assistant stopped before it could reply", Kind: "interrupted", Text: &text})
			return
		}
		now := s.cfg.Now()
		o = &run{id: otherID, key: r.key, userID: r.userID, convID: r.convID, started: now, lastEvent: now, sent: true}
		s.runs[otherID] = o
		s.userRuns[o.userID]++
	} else if o.key != r.key {
		s.mu.Unlock()
		return
	}
	if o.messageID == "" {
		o.messageID = r.messageID
	}
	kind := "interrupted"
	if r.bare {
		kind = "merged"
	}
	text := r.content.Text()
	s.mu.Unlock()
	s.finishInferred(r, chat.RunError{Message: "the assistant continues this message in its next turn", Kind: kind, Text: &text, ContinuedBy: otherID})
	s.mu.Lock()
	s.promoteLocked(r.key)
	s.announceLocked(o, nil)
	s.mu.Unlock()
}
