package runs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/clawchat/clawchat/internal/bridge/runstate"
	"github.com/clawchat/clawchat/internal/bridge/upstream"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// This file is the conversation's queue and the send of a run: a message waits behind the
// conversation's running turn and starts when it ends (next), every message gets its own run;
// and the end of a run (finish, failSend, renew).

// Duplicate reports whether runID is tracked, recently ended or queued in session key: a retry
// of a message that is answered "duplicate" and never runs twice.
func (s *Tracker) Duplicate(runID, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.Duplicate(runID, key)
}

// Submit queues m behind the running turn of session t.Key (run.queued, StatusQueued) or starts
// it as the conversation's run (run.started, then chat.send through Config.Send; StatusStarted,
// or StatusDuplicate when the Gateway already had it). A full queue or too many runs of the user
// refuse it (ErrQueueFull, ErrTooManyRuns, with chat.ErrLimitReached). Once accepted, the send no
// longer depends on ctx's cancellation (sendContext).
func (s *Tracker) Submit(ctx context.Context, t Target, m Message) (string, error) {
	s.mu.Lock()
	r, pos, err := s.table.Submit(t, m, s.cfg.Now(), s.cfg.MaxQueued, s.cfg.MaxConcurrentRuns)
	if r != nil {
		// Published under s.mu so that run.started precedes every event of the run.
		s.announceLocked(r)
	}
	s.mu.Unlock()
	switch {
	case errors.Is(err, ErrQueueFull):
		return "", fmt.Errorf("at most %d queued messages per conversation: %w: %w", s.cfg.MaxQueued, chat.ErrLimitReached, ErrQueueFull)
	case errors.Is(err, ErrTooManyRuns):
		return "", fmt.Errorf("at most %d runs at once: %w: %w", s.cfg.MaxConcurrentRuns, chat.ErrLimitReached, ErrTooManyRuns)
	case r == nil:
		s.cfg.Publisher.Publish(t.UserID, chat.RunQueued{
			Conversation: t.ConvID, MessageID: m.MessageID, RunID: m.RunID, Position: pos, Text: m.Text, Sender: runstate.SenderOf(m.Sender),
		}.Event())
		return StatusQueued, nil
	}
	// Accepted: from here the send does not depend on the caller's connection.
	sctx, cancel := s.sendContext(ctx)
	defer cancel()
	return s.dispatch(sctx, r, m)
}

// Unqueue removes the queued message runID of session key and returns its client message id, or
// reports false.
func (s *Tracker) Unqueue(key, runID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.Unqueue(key, runID)
}

// Active returns the id of session key's active run, or "".
func (s *Tracker) Active(key string) string {
	id, _ := s.RunState(key)
	return id
}

// RunState returns the id of session key's active run ("" when none) and how many messages wait
// behind it.
func (s *Tracker) RunState(key string) (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.Active(key)
}

// ClearQueue drops the messages waiting in session key and returns its active run's id.
func (s *Tracker) ClearQueue(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.ClearQueue(key)
}

// Forget ends session key's active run without telling anyone and forgets the session's state
// (its conversation was deleted).
func (s *Tracker) Forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.announceLocked(s.table.Forget(key, s.cfg.Now()))
}

// announceLocked publishes run.started for r once (nil: nothing), unless r is a Gateway
// session's run whose user is no longer an owner. s.mu held.
func (s *Tracker) announceLocked(r *Run) {
	if r == nil {
		return
	}
	st, first := s.table.Announce(r)
	if !first || !s.deliverable(r) {
		return
	}
	s.cfg.Publisher.Publish(r.UserID(), st.Event())
}

// sendContext is the context of a chat.send once clawchat has accepted the message: it no longer
// depends on the request that carried it (a phone that drops its socket right after Send must
// still get the reply through resume, snapshot or history), only on SendTimeout.
func (s *Tracker) sendContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SendTimeout)
}

// answerLost reports whether a chat.send error leaves its outcome unknown: the request was
// written but its answer never came (the connection dropped, or it timed out).
func answerLost(ctx context.Context, err error) bool {
	return errors.Is(err, gateway.ErrNoAnswer) || ctx.Err() != nil
}

// dispatch sends m, the message of the already-registered run r, to the Gateway. On failure the
// run ends with run.error.
func (s *Tracker) dispatch(ctx context.Context, r *Run, m Message) (string, error) {
	ack, err := s.cfg.Send(ctx, r.Key(), r.ID(), r.UserID(), &m)
	if err != nil && answerLost(ctx, err) {
		// Written, but the answer was lost: the Gateway may have it. The run stays; the
		// reconciliation after the reconnect (or right away, when connected) settles it.
		s.log.Info("chat.send answer lost; reconciling", "run", r.ID(), "err", err)
		s.mu.Lock()
		s.table.SendLost(r)
		connected := s.connected
		s.mu.Unlock()
		if connected {
			s.goBackground(func() { s.reconcileRun(s.base, r.ID()) })
		}
		return StatusStarted, nil
	}
	if err != nil && s.renew(r, err) {
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
	resent := s.table.Sent(r)
	s.mu.Unlock()
	if resent {
		s.log.Info("lost message sent again", "run", r.ID(), "status", ack.Status)
	}
	switch ack.Status {
	case "in_flight", "ok":
		// The Gateway already has this message (a retry after a restart of clawchat).
		if ack.Status == "ok" {
			// It finished already: its reply is in history; resolve the run from there.
			s.goBackground(func() { s.reconcileRun(s.base, r.ID()) })
		}
		return StatusDuplicate, nil
	}
	return StatusStarted, nil
}

// next starts the first queued message of the conversation, if any, in the background.
func (s *Tracker) next(key string) {
	s.mu.Lock()
	r := s.table.Next(key, s.cfg.Now())
	s.announceLocked(r)
	s.mu.Unlock()
	if r != nil {
		s.sendLater(r, slog.LevelWarn, "queued send failed")
	}
}

// sendLater sends r's message in the background; a failure (told to the user as run.error) is
// logged with msg at level.
func (s *Tracker) sendLater(r *Run, level slog.Level, msg string) {
	m := r.Message()
	s.goBackground(func() {
		ctx, cancel := s.sendContext(s.base)
		defer cancel()
		if _, err := s.dispatch(ctx, r, m); err != nil {
			s.log.Log(ctx, level, msg, "err", err)
		}
	})
}

// finish ends r once with the terminal payload p (chat.RunFinal, RunAborted or RunError; its
// conversation and run id are filled in), records the end for EndedSnapshot, adopts a run that
// continues r's session and starts the next queued message. It reports false when r had already
// ended.
func (s *Tracker) finish(r *Run, p chat.Payload) bool { return s.finishRun(r, p, false) }

// finishInferred is finish for an end clawchat inferred from history (no terminal event from the
// Gateway): should the Gateway stream the run after all, it is reopened.
func (s *Tracker) finishInferred(r *Run, p chat.Payload) bool { return s.finishRun(r, p, true) }

func (s *Tracker) finishRun(r *Run, p chat.Payload, inferred bool) bool {
	s.mu.Lock()
	e := s.table.Finish(r, p, inferred, s.cfg.Now())
	s.announceLocked(e.Promoted)
	s.mu.Unlock()
	return s.ended(r, e)
}

// ended publishes the end of r (once the turn promoted in its place is announced) and starts the
// conversation's next queued message; it reports false when r had already ended.
func (s *Tracker) ended(r *Run, e runstate.Ending) bool {
	if !e.Ended {
		return false
	}
	s.publishRun(r, e.Event)
	s.next(r.Key())
	return true
}

// failSend ends r, whose chat.send the Gateway refused or never received, with run.error and
// forgets it, so that a retry with the same client id sends it again.
func (s *Tracker) failSend(r *Run, err error) {
	s.mu.Lock()
	e := s.table.Fail(r, s.cfg.Now())
	s.announceLocked(e.Promoted)
	s.mu.Unlock()
	e.Event = chat.RunError{Conversation: r.ConvID(), RunID: r.ID(), Message: upstream.UserMessage(err), Kind: "not_sent"}.Event()
	s.ended(r, e)
}

// continued announces o, the turn that carries on a run that ended (ContinueIn, Renew), once
// that end is published: it becomes the conversation's run when it has none.
func (s *Tracker) continued(o *Run) {
	s.mu.Lock()
	s.announceLocked(s.table.Promote(o.Key()))
	s.announceLocked(o)
	s.mu.Unlock()
}

// renew handles the Gateway's refusal of m, the message of r that clawchat sent again because
// the Gateway had lost it: OpenClaw 2026.9.6 refuses a pending input that a crash cut ("Pending
// input ownership ended; submit a new turn to continue") under its old idempotency key. The
// message is sent once more as a new turn (renewRun). It reports whether it took over (false:
// not a refusal of a re-sent message, or ended otherwise; true when Dropped renewed it first).
func (s *Tracker) renew(r *Run, err error) bool {
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Code != gateway.CodeUnavailable {
		return false
	}
	if s.renewRun(r, true) {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.Renewed(r) // the Gateway's error event came first (Dropped)
}

// Dropped handles the Gateway's end of r with an error that says it dropped r's message without
// processing it (gateway.InputDropped): the message is sent once more as a new turn, as the
// Gateway asks (renewRun). The Gateway broadcasts that error before it answers the chat.send it
// refuses, so this and renew race; whichever comes first renews, the other finds r ended. It
// reports false when r cannot be renewed (a turn clawchat did not send, already renewed, ended).
func (s *Tracker) Dropped(r *Run) bool { return s.renewRun(r, false) }

// renewRun sends r's message once more as a new turn under the key <runId>-2: r ends with
// run.error (kind interrupted, continuedBy) and the new run is announced with r's message id
// and text (runstate.Table.Renew).
func (s *Tracker) renewRun(r *Run, onlyResent bool) bool {
	s.mu.Lock()
	e, n := s.table.Renew(r, onlyResent, s.cfg.Now())
	s.announceLocked(e.Promoted)
	s.mu.Unlock()
	if n == nil {
		return false
	}
	s.log.Info("message refused or dropped by the Gateway; renewed as a new turn", "run", r.ID(), "new", n.ID())
	s.ended(r, e)
	s.continued(n)
	s.sendLater(n, slog.LevelInfo, "renewed send failed")
	return true
}
