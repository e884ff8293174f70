package runs

import (
	"context"
	"fmt"

	"github.com/clawchat/clawchat/internal/bridge/upstream"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// This file is the conversation's queue and the send of a run: a message waits behind the
// conversation's running turn and starts when it ends (next), every message gets its own run.

func (q queued) message() Message {
	return Message{RunID: q.runID, MessageID: q.messageID, Text: q.text, Attachments: q.atts,
		Sender: q.sender, Suppress: q.suppress, Policy: q.policy, AgentContext: q.agentContext}
}

func queuedOf(m Message) queued {
	return queued{runID: m.RunID, messageID: m.MessageID, text: m.Text, atts: m.Attachments,
		sender: m.Sender, suppress: m.Suppress, policy: m.Policy, agentContext: m.AgentContext}
}

// Duplicate reports whether runID is tracked, recently ended or queued in session key: a retry
// of a message that is answered "duplicate" and never runs twice.
func (s *Tracker) Duplicate(runID, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs[runID] != nil {
		return true
	}
	if _, ok := s.recent[runID]; ok {
		return true
	}
	if cs := s.convs[key]; cs != nil {
		for _, q := range cs.queue {
			if q.runID == runID {
				return true
			}
		}
	}
	return false
}

// Submit queues m behind the running turn of session t.Key (run.queued, StatusQueued) or starts
// it as the conversation's run (run.started, then chat.send through Config.Send; StatusStarted,
// or StatusDuplicate when the Gateway already had it). A full queue or too many runs of the user
// refuse it (ErrQueueFull, ErrTooManyRuns, with chat.ErrLimitReached). Once accepted, the send no
// longer depends on ctx's cancellation (sendContext).
func (s *Tracker) Submit(ctx context.Context, t Target, m Message) (string, error) {
	q := queuedOf(m)
	s.mu.Lock()
	cs := s.convs[t.Key]
	if cs == nil {
		cs = &convState{key: t.Key, userID: t.UserID, convID: t.ConvID}
		s.convs[t.Key] = cs
	}
	if cs.active != nil || len(cs.queue) > 0 {
		if len(cs.queue) >= s.cfg.MaxQueued {
			s.mu.Unlock()
			return "", fmt.Errorf("at most %d queued messages per conversation: %w: %w", s.cfg.MaxQueued, chat.ErrLimitReached, ErrQueueFull)
		}
		cs.queue = append(cs.queue, q)
		pos := len(cs.queue)
		s.mu.Unlock()
		s.cfg.Publisher.Publish(t.UserID, chat.RunQueued{
			Conversation: t.ConvID, MessageID: m.MessageID, RunID: m.RunID, Position: pos, Text: m.Text,
		}.Event())
		return StatusQueued, nil
	}
	if s.userRuns[t.UserID] >= s.cfg.MaxConcurrentRuns {
		s.mu.Unlock()
		return "", fmt.Errorf("at most %d runs at once: %w: %w", s.cfg.MaxConcurrentRuns, chat.ErrLimitReached, ErrTooManyRuns)
	}
	r := s.startRunLocked(cs, q)
	s.mu.Unlock()

	// Accepted: from here the send does not depend on the caller's connection (runstate.go).
	sctx, cancel := s.sendContext(ctx)
	defer cancel()
	return s.dispatch(sctx, r, q)
}

// Unqueue removes the queued message runID of session key and returns its client message id, or
// reports false.
func (s *Tracker) Unqueue(key, runID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.convs[key]
	if cs == nil {
		return "", false
	}
	for i, q := range cs.queue {
		if q.runID == runID {
			cs.queue = append(cs.queue[:i:i], cs.queue[i+1:]...)
			return q.messageID, true
		}
	}
	return "", false
}

// Active returns the id of session key's active run, or "".
func (s *Tracker) Active(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.convs[key]; cs != nil && cs.active != nil {
		return cs.active.id
	}
	return ""
}

// startRunLocked registers q as cs's active run and announces it; s.mu held.
func (s *Tracker) startRunLocked(cs *convState, q queued) *run {
	now := s.cfg.Now()
	r := &run{
		id: q.runID, key: cs.key, userID: cs.userID, convID: cs.convID, messageID: q.messageID, sender: q.sender.Name,
		started: now, lastEvent: now, msg: &q,
	}
	cs.active = r
	s.runs[r.id] = r
	s.userRuns[r.userID]++
	// Published under s.mu so that run.started precedes every event of the run.
	s.announceLocked(r, &q.text)
	return r
}

// dispatch sends an already-registered run to the Gateway. On failure the run ends with run.error.
func (s *Tracker) dispatch(ctx context.Context, r *run, q queued) (string, error) {
	var ack gateway.ChatSendResult
	err := s.sendChecked(ctx, r, q, &ack)
	if err != nil && answerLost(ctx, err) {
		// Written, but the answer was lost: the Gateway may have it. The run stays; the
		// reconciliation after the reconnect (or right away, when connected) settles it.
		s.log.Info("chat.send answer lost; reconciling", "run", r.id, "err", err)
		s.mu.Lock()
		r.unknown = true
		connected := s.connected
		s.mu.Unlock()
		if connected {
			s.goBackground(func() { s.reconcileRun(s.base, r.id) })
		}
		return StatusStarted, nil
	}
	if err != nil && s.renew(ctx, r, q, err) {
		return StatusStarted, nil // the Gateway refused a message it had lost: sent as a new turn
	}
	if err != nil {
		if !upstream.IsChatError(err) { // the member-policy refusals are already phrased for the user
			err = s.mapUpstreamError(ctx, gateway.MethodChatSend, err)
		}
		s.failSend(r, err)
		return "", err
	}
	s.mu.Lock()
	r.sent, r.unknown = true, false
	resent := r.resent
	s.mu.Unlock()
	if resent {
		s.log.Info("lost message sent again", "run", r.id, "status", ack.Status)
	}
	switch ack.Status {
	case "in_flight", "ok":
		// The Gateway already has this message (a retry after a restart of clawchat).
		if ack.Status == "ok" {
			// It finished already: its reply is in history; resolve the run from there.
			s.goBackground(func() { s.reconcileRun(s.base, r.id) })
		}
		return StatusDuplicate, nil
	}
	return StatusStarted, nil
}

// sendChecked sends q with Config.Send (bridge/sending: conditional on its session policy).
func (s *Tracker) sendChecked(ctx context.Context, r *run, q queued, ack *gateway.ChatSendResult) error {
	m := q.message()
	res, err := s.cfg.Send(ctx, r.key, r.id, r.userID, &m)
	if err == nil && ack != nil {
		*ack = *res
	}
	return err
}

// endRunLocked forgets r; it reports false when r had already ended. s.mu held.
func (s *Tracker) endRunLocked(r *run) bool {
	if s.runs[r.id] != r {
		return false
	}
	delete(s.runs, r.id)
	s.recent[r.id] = recentRun{at: s.cfg.Now(), userID: r.userID, conv: r.convID}
	if s.userRuns[r.userID]--; s.userRuns[r.userID] <= 0 {
		delete(s.userRuns, r.userID)
	}
	if cs := s.convs[r.key]; cs != nil && cs.active == r {
		cs.active = nil
		s.promoteLocked(r.key)
		if cs.active == nil && len(cs.queue) == 0 {
			delete(s.convs, r.key)
		}
	}
	return true
}

// next starts the first queued message of the conversation, if any, in the background.
func (s *Tracker) next(key string) {
	s.mu.Lock()
	cs := s.convs[key]
	if cs == nil || cs.active != nil || len(cs.queue) == 0 {
		s.mu.Unlock()
		return
	}
	q := cs.queue[0]
	cs.queue = cs.queue[1:]
	r := s.startRunLocked(cs, q)
	s.mu.Unlock()
	s.goBackground(func() {
		ctx, cancel := s.sendContext(s.base)
		defer cancel()
		if _, err := s.dispatch(ctx, r, q); err != nil {
			s.log.Warn("queued send failed", "err", err)
		}
	})
}

// RunState returns the id of session key's active run ("" when none) and how many messages wait
// behind it.
func (s *Tracker) RunState(key string) (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.convs[key]
	if cs == nil {
		return "", 0
	}
	id := ""
	if cs.active != nil {
		id = cs.active.id
	}
	return id, len(cs.queue)
}

// ClearQueue drops the messages waiting in session key and returns its active run's id.
func (s *Tracker) ClearQueue(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.convs[key]
	if cs == nil {
		return ""
	}
	cs.queue = nil
	if cs.active != nil {
		return cs.active.id
	}
	return ""
}

// Forget ends session key's active run without telling anyone and forgets the session's state
// (its conversation was deleted).
func (s *Tracker) Forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.convs[key]; cs != nil {
		if cs.active != nil {
			s.endRunLocked(cs.active)
		}
		delete(s.convs, key)
	}
}
