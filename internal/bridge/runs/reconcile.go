package runs

import (
	"context"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/runstate"
	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/gateway"
)

// reconcile resolves in-flight runs from chat.history: after a reconnect or an event gap every
// run (onlyStale false), else only runs without events for StaleRunAfter. Runs whose chat.send
// is still waiting for its answer are left to dispatch.
func (s *Tracker) reconcile(ctx context.Context, onlyStale bool) {
	s.mu.Lock()
	ids := s.table.Reconcilable(onlyStale, s.cfg.Now(), s.cfg.StaleRunAfter)
	s.mu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		s.reconcileRun(ctx, id)
	}
}

// reconcileRun checks one run against chat.history and moves it to the state the Gateway
// reports (runstate.Table.Judge): still running, ended with its reply, continued by another
// turn (which is adopted), lost (sent again once, then an error) or cut without a reply. While
// the Gateway says the session is busy without saying with what, it asks again every second for
// up to 30 s.
func (s *Tracker) reconcileRun(ctx context.Context, runID string) {
	for {
		again := s.reconcileOnce(ctx, runID)
		if !again {
			return
		}
		t := time.NewTimer(runstate.RetryEvery)
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
	r := s.table.Run(runID)
	s.mu.Unlock()
	if r == nil {
		return false
	}
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HistoryTimeout)
	defer cancel()
	raw, err := s.gw.ChatHistory(hctx, gateway.ChatHistoryParams{SessionKey: r.Key(), Limit: 50})
	if err != nil {
		s.log.Debug("reconcile: history unavailable", "err", err)
		return false
	}
	s.mu.Lock()
	step := s.table.Judge(r, transcript.Judge(raw, runID), s.cfg.Now(), s.cfg.RecoveryGrace)
	s.mu.Unlock()
	if step.Note != "" {
		s.log.Info(step.Note, "run", r.ID(), "others", step.Others, "hasActiveRun", raw.SessionInfo.HasActiveRun)
	}
	switch step.Do {
	case runstate.End:
		s.finishInferred(r, step.End)
	case runstate.Continue:
		s.continueIn(r, step.Other)
	case runstate.Resend:
		sctx, cancel := s.sendContext(ctx)
		defer cancel()
		if _, err := s.dispatch(sctx, r, step.Resend); err != nil {
			s.log.Info("resend failed", "err", err)
		}
	default:
		if step.Event != nil {
			s.publishRun(r, *step.Event)
		}
	}
	return step.Again
}

// continueIn ends r, whose reply the Gateway produces in its turn otherID, with run.error
// (kind interrupted, or merged for a bare final; the partial text kept; continuedBy) and
// adopts otherID as the conversation's run, announced with r's message id
// (runstate.Table.ContinueIn: one call).
func (s *Tracker) continueIn(r *Run, otherID string) {
	s.mu.Lock()
	e, o := s.table.ContinueIn(r, otherID, s.cfg.Now())
	s.announceLocked(e.Promoted)
	s.mu.Unlock()
	s.ended(r, e)
	if o != nil {
		s.continued(o)
	}
}
