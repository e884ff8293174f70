package bridge

import (
	"context"
	"fmt"

	"github.com/clawchat/clawchat/internal/bridge/runs"
	"github.com/clawchat/clawchat/internal/bridge/sending"
	"github.com/clawchat/clawchat/internal/bridge/upstream"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Attachment is a file sent with a message; Content is base64.
type Attachment = sending.Attachment

// SendParams is one message from a client.
type SendParams = sending.Params

// SendResult is the answer to a send.
type SendResult = sending.Result

// Send statuses.
const (
	StatusStarted   = runs.StatusStarted
	StatusQueued    = runs.StatusQueued
	StatusDuplicate = runs.StatusDuplicate
)

// PolicyDrift is the policy.drift payload owners get when a member's conversation was refused
// because its Gateway session's policy was changed outside clawchat.
type PolicyDrift = chat.PolicyDrift

// Send sends a message to one of u's conversations (bridge/sending). When the conversation has a
// run going, the message is queued in clawchat (run.queued) and sent when that run ends
// (run.started), so every message gets its own run and reply. A retry with the same client id
// answers duplicate with the same runId and never runs twice.
func (s *Service) Send(ctx context.Context, u chat.User, p SendParams) (SendResult, error) {
	return s.sending.Send(ctx, u, p)
}

// Abort stops u's run in a conversation: runID when given (a queued message is removed from the
// queue), else the conversation's active run. It reports whether something was stopped.
func (s *Service) Abort(ctx context.Context, u chat.User, conversation, runID string) (bool, error) {
	return s.sending.Abort(ctx, u, conversation, runID)
}

func (q queued) message() runs.Message {
	return runs.Message{RunID: q.runID, MessageID: q.messageID, Text: q.text, Attachments: q.atts,
		Sender: q.sender, Suppress: q.suppress, Policy: q.policy}
}

func queuedOf(m runs.Message) queued {
	return queued{runID: m.RunID, messageID: m.MessageID, text: m.Text, atts: m.Attachments,
		sender: m.Sender, suppress: m.Suppress, policy: m.Policy}
}

// runsAPI adapts the run state to sending.Runs.
type runsAPI struct{ s *Service }

func (a runsAPI) Duplicate(runID, key string) bool {
	s := a.s
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

func (a runsAPI) Submit(ctx context.Context, t runs.Target, m runs.Message) (string, error) {
	s := a.s
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
			return "", fmt.Errorf("at most %d queued messages per conversation: %w: %w", s.cfg.MaxQueued, chat.ErrLimitReached, runs.ErrQueueFull)
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
		return "", fmt.Errorf("at most %d runs at once: %w: %w", s.cfg.MaxConcurrentRuns, chat.ErrLimitReached, runs.ErrTooManyRuns)
	}
	r := s.startRunLocked(cs, q)
	s.mu.Unlock()

	// Accepted: from here the send does not depend on the caller's connection (runstate.go).
	sctx, cancel := s.sendContext(ctx)
	defer cancel()
	return s.dispatch(sctx, r, q)
}

func (a runsAPI) Unqueue(key, runID string) (string, bool) {
	s := a.s
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

func (a runsAPI) Active(key string) string {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.convs[key]; cs != nil && cs.active != nil {
		return cs.active.id
	}
	return ""
}

// startRunLocked registers q as cs's active run and announces it; s.mu held.
func (s *Service) startRunLocked(cs *convState, q queued) *run {
	now := s.cfg.Now()
	r := &run{
		id: q.runID, key: cs.key, userID: cs.userID, convID: cs.convID, messageID: q.messageID, sender: q.sender.Name,
		tools: map[string]*toolState{}, started: now, lastEvent: now, msg: &q,
	}
	cs.active = r
	s.runs[r.id] = r
	s.userRuns[r.userID]++
	// Published under s.mu so that run.started precedes every event of the run.
	s.announceLocked(r, &q.text)
	return r
}

// dispatch sends an already-registered run to the Gateway. On failure the run ends with run.error.
func (s *Service) dispatch(ctx context.Context, r *run, q queued) (string, error) {
	var ack gateway.ChatSendResult
	err := s.sendChecked(ctx, r, q, &ack)
	if err != nil && answerLost(ctx, err) {
		// Written, but the answer was lost: the Gateway may have it. The run stays; the
		// reconciliation after the reconnect (or right away, when connected) settles it.
		s.log.Info("chat.send answer lost; reconciling", "run", r.id, "err", err)
		s.mu.Lock()
		r.unknown = true
		connected := s.gwState == StateConnected
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

// sendChecked sends q through bridge/sending (conditional on its session policy).
func (s *Service) sendChecked(ctx context.Context, r *run, q queued, ack *gateway.ChatSendResult) error {
	m := q.message()
	res, err := s.sending.ChatSend(ctx, r.key, r.id, r.userID, &m)
	if err == nil && ack != nil {
		*ack = *res
	}
	return err
}

// endRunLocked forgets r; it reports false when r had already ended. s.mu held.
func (s *Service) endRunLocked(r *run) bool {
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
func (s *Service) next(key string) {
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
