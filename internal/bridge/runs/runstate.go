package runs

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// This file holds the run state machine's transitions that follow the Gateway rather than the
// connection that carried a send (docs/reliability.md):
//
//	accepted ──chat.send answered──▶ running ──final/aborted/error──▶ ended (recent, with its end)
//	   │ answer lost (drop, timeout): unknown ──reconcile──▶ running | sent again | error "lost"
//	   │ refused / not connected ──▶ ended with run.error, forgotten (a retry sends it again)
//	running ──bare final, reconnect, event gap, stale──▶ reconcile with chat.history:
//	   the Gateway runs it              → running
//	   its reply is in the transcript   → run.final / run.aborted with that text
//	   another turn continues it        → run.error kind interrupted|merged (partial text kept,
//	                                      continuedBy), and that turn is adopted as the
//	                                      conversation's run (the Gateway's recovery turn after a
//	                                      crash, or the turn a message was merged into)
//	   the Gateway lost the message     → sent again once with the same idempotency key; when
//	                                      the Gateway refuses that ("pending input ownership
//	                                      ended"), sent once as a new turn under <runId>-2
//	                                      (run.error kind interrupted, continuedBy); then
//	                                      run.error kind lost
//	   the Gateway is idle, no reply    → after a grace of 20 s for a recovery turn, run.error
//	                                      kind interrupted with the partial text
//	   the Gateway's state is unknown   → asked again shortly (not after the stale-run watchdog)
//	   (an "other" run clawchat saw end counts as unknown: the Gateway lists runs as active for a
//	   moment after their final)
//	ended from history without a reply ──the Gateway streams it after all──▶ running again

// runEnd is how a run ended, as its owner was told: its terminal event's payload, a
// chat.RunFinal, chat.RunAborted or chat.RunError.
type runEnd struct {
	payload chat.Payload
}

// event is the terminal event's name: run.final, run.aborted or run.error.
func (e *runEnd) event() string { return e.payload.EventName() }

// terminal stamps a terminal payload (chat.RunFinal, RunAborted or RunError) with its
// conversation and run and returns its event.
func terminal(p chat.Payload, conv, runID string) (chat.Payload, chat.Event) {
	switch v := p.(type) {
	case chat.RunFinal:
		v.Conversation, v.RunID = conv, runID
		return v, v.Event()
	case chat.RunAborted:
		v.Conversation, v.RunID = conv, runID
		return v, v.Event()
	case chat.RunError:
		v.Conversation, v.RunID = conv, runID
		return v, v.Event()
	}
	panic("bridge: not a terminal run event: " + p.EventName())
}

// snapshot is the run.snapshot that tells a resynced client how the run ended.
func (e *runEnd) snapshot(conv, runID string) chat.RunSnapshot {
	out := chat.RunSnapshot{Conversation: conv, RunID: runID}
	switch v := e.payload.(type) {
	case chat.RunFinal:
		out.State, out.Text, out.Usage, out.StopReason = "final", v.Text, v.Usage, v.StopReason
	case chat.RunAborted:
		out.State, out.Text, out.MessageID = "aborted", v.Text, v.MessageID
	case chat.RunError:
		out.State, out.Message, out.Kind, out.ContinuedBy = "error", v.Message, v.Kind, v.ContinuedBy
		if v.Text != nil {
			out.Text = *v.Text
		}
	}
	return out
}

// Reconciliation retries while the Gateway reports a busy session without saying which runs.
// recoveryGrace is the default of Config.RecoveryGrace: how long a cut run waits for the
// Gateway's recovery turn when the Gateway does not say that it owes one; recoveryOwedWait is how long it waits when the Gateway
// says so (gateway.HistorySessionInfo.RecoveryOwed): the Gateway recovers cut sessions one at a
// time, so the last of several can wait minutes.
const (
	unknownRetryEvery = time.Second
	unknownRetries    = 30
	recoveryGrace     = 20 * time.Second
	recoveryOwedWait  = 5 * time.Minute
)

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

// finish ends r once with the terminal payload p (chat.RunFinal, RunAborted or RunError; its
// conversation and run id are filled in), records the end for EndedSnapshot, adopts a run that
// continues r's session and starts the next queued message. It reports false when r had already
// ended.
func (s *Tracker) finish(r *run, p chat.Payload) bool {
	return s.finishRun(r, p, false)
}

// finishInferred is finish for an end clawchat inferred from history (no terminal event from the
// Gateway): should the Gateway stream the run after all, it is reopened.
func (s *Tracker) finishInferred(r *run, p chat.Payload) bool {
	return s.finishRun(r, p, true)
}

func (s *Tracker) finishRun(r *run, p chat.Payload, inferred bool) bool {
	p, ev := terminal(p, r.convID, r.id)
	end := &runEnd{payload: p}
	s.mu.Lock()
	ended := s.endRunLocked(r)
	if ended {
		rr := s.recent[r.id]
		rr.end, rr.inferred, rr.messageID = end, inferred, r.messageID
		s.recent[r.id] = rr
	}
	s.mu.Unlock()
	if !ended {
		return false
	}
	s.publishRun(r, ev)
	s.next(r.key)
	return true
}

// failSend ends r, whose chat.send the Gateway refused or never received, with run.error and
// forgets it, so that a retry with the same client id sends it again.
func (s *Tracker) failSend(r *run, err error) {
	s.mu.Lock()
	ended := s.endRunLocked(r)
	delete(s.recent, r.id)
	s.mu.Unlock()
	if !ended {
		return
	}
	s.publishRun(r, chat.RunError{Conversation: r.convID, RunID: r.id, Message: userMessage(err), Kind: "not_sent"}.Event())
	s.next(r.key)
}

// promoteLocked makes another tracked run of key (a turn the Gateway started by itself while
// ours ran) the conversation's active run when it has none, announced with run.started if it was
// not yet. s.mu held.
func (s *Tracker) promoteLocked(key string) {
	cs := s.convs[key]
	if cs == nil || cs.active != nil {
		return
	}
	var best *run
	for _, r := range s.runs {
		if r.key == key && (best == nil || r.started.Before(best.started)) {
			best = r
		}
	}
	cs.active = best
	if best != nil {
		s.announceLocked(best, nil) // an adopted run always comes with run.started
	}
}

// announceLocked publishes run.started for r once, with text (else the text of the message r
// sent). A turn the Gateway started by itself carries the id of the message it continues (or
// none) and no text. s.mu held.
func (s *Tracker) announceLocked(r *run, text *string) {
	if r.announced {
		return
	}
	r.announced = true
	if !s.deliverable(r) { // a Gateway session's run, and its user is no longer an owner
		return
	}
	if text == nil && r.msg != nil {
		text = &r.msg.text
	}
	s.cfg.Publisher.Publish(r.userID, chat.NewRunStarted(r.convID, r.id, r.messageID, r.started, text).Event())
}

// EndedSnapshot returns one run.snapshot per run of u that ended in the last 10 minutes, oldest
// first, with how it ended: state final, aborted or error, its text, and for errors the message
// and kind. A client that resynced learns from it the end of every run it may have missed.
func (s *Tracker) EndedSnapshot(u chat.User) []chat.Event {
	type item struct {
		at time.Time
		ev chat.Event
	}
	var items []item
	s.mu.Lock()
	for id, rr := range s.recent {
		if rr.userID != u.ID || rr.end == nil {
			continue
		}
		items = append(items, item{rr.at, rr.end.snapshot(rr.conv, id).Event()})
	}
	s.mu.Unlock()
	sort.SliceStable(items, func(i, j int) bool { return items[i].at.Before(items[j].at) })
	out := make([]chat.Event, len(items))
	for i, it := range items {
		out[i] = it.ev
	}
	return out
}

// verdict is what chat.history says about one run (bridge/transcript).
type verdict = transcript.Verdict

func judge(raw *rawHistory, runID string) verdict { return transcript.Judge(raw, runID) }

// renew handles the Gateway's refusal of a message clawchat sent again because the Gateway had
// lost it (r.resent): OpenClaw 2026.9.6 refuses a pending input that a crash cut ("Pending input
// ownership ended; submit a new turn to continue") under its old idempotency key. The message is
// sent once more as a new turn under the key <runId>-2; r ends with run.error (kind interrupted,
// continuedBy) and the new run is announced with r's message id and text. It reports whether it
// took over (false: not a refusal of a re-sent message, or already renewed once).
func (s *Tracker) renew(ctx context.Context, r *run, q queued, err error) bool {
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Code != gateway.CodeUnavailable {
		return false
	}
	s.mu.Lock()
	if !r.resent || r.renewed || s.runs[r.id] != r {
		s.mu.Unlock()
		return false
	}
	r.renewed = true
	nq := q
	nq.runID = r.id + "-2"
	now := s.cfg.Now()
	n := &run{id: nq.runID, key: r.key, userID: r.userID, convID: r.convID, messageID: r.messageID,
		started: now, lastEvent: now, msg: &nq, resent: true, renewed: true}
	s.runs[n.id] = n
	s.userRuns[n.userID]++
	text := r.content.Text()
	s.mu.Unlock()
	s.log.Info("lost message refused under its old key; sending it as a new turn", "run", r.id, "new", n.id)
	s.finish(r, chat.RunError{Message: "the assistant lost this message; it is sent again", Kind: "interrupted", Text: &text, ContinuedBy: n.id})
	s.mu.Lock()
	s.promoteLocked(n.key)
	s.announceLocked(n, &nq.text)
	s.mu.Unlock()
	s.goBackground(func() {
		sctx, cancel := s.sendContext(s.base)
		defer cancel()
		if _, err := s.dispatch(sctx, n, nq); err != nil {
			s.log.Info("renewed send failed", "err", err)
		}
	})
	return true
}

// reopenLocked brings back a run that clawchat ended by inference when the Gateway streams it
// after all (a parked message the Gateway ran later under its own runId): the run is tracked
// again and announced anew with run.started, so its reply reaches the user. s.mu held; it
// returns nil when runID was not such a run.
func (s *Tracker) reopenLocked(runID, key string) *run {
	rr, ok := s.recent[runID]
	if !ok || !rr.inferred {
		return nil
	}
	cs := s.convs[key]
	if cs == nil {
		cs = &convState{key: key, userID: rr.userID, convID: rr.conv}
		s.convs[key] = cs
	}
	if cs.userID != rr.userID || cs.convID != rr.conv {
		return nil
	}
	delete(s.recent, runID)
	now := s.cfg.Now()
	r := &run{id: runID, key: key, userID: rr.userID, convID: rr.conv, messageID: rr.messageID,
		started: now, lastEvent: now, sent: true}
	s.runs[runID] = r
	s.userRuns[r.userID]++
	if cs.active == nil {
		cs.active = r
	}
	s.log.Info("run reopened: the Gateway streams it after all", "run", runID)
	s.announceLocked(r, nil)
	return r
}
