package runstate

import (
	"slices"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/chat"
)

// This file holds what a chat.history verdict means for a run: the state machine's transitions
// that follow the Gateway rather than the connection that carried a send (docs/reliability.md):
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

// Reconciliation asks again every RetryEvery while the Gateway reports a busy session without
// saying which runs, up to retries times. DefaultRecoveryGrace is how long a cut run waits for the
// Gateway's recovery turn when the Gateway does not say that it owes one; recoveryOwedWait is how
// long it waits when the Gateway says so (gateway.HistorySessionInfo.RecoveryOwed): the Gateway
// recovers cut sessions one at a time, so the last of several can wait minutes.
const (
	RetryEvery           = time.Second
	retries              = 30
	DefaultRecoveryGrace = 20 * time.Second
	recoveryOwedWait     = 5 * time.Minute
)

// Action is what reconciliation does with a run after Judge.
type Action int

const (
	Wait     Action = iota // leave the run as it is: publish Step.Event if set, ask again if Step.Again
	End                    // end the run with Step.End, inferred from history (Finish with inferred)
	Continue               // end the run as continued by Step.Other, adopting that turn (ContinueIn)
	Resend                 // send Step.Resend again with the same idempotency key
)

// Step is what Judge decided about one run.
type Step struct {
	Do     Action
	Event  *chat.Event  // Wait: a run event to publish (the text history has, or "recovering")
	Again  bool         // Wait: ask chat.history again after RetryEvery
	End    chat.Payload // End: chat.RunFinal, RunAborted or RunError
	Other  string       // Continue: the turn that carries the run on
	Resend Message      // Resend: the run's message
	Note   string       // what to log about it (Info), or ""
	Others int          // how many other turns the Gateway runs in the session (for Note)
}

// Judge decides what chat.history's verdict v means for run r and records it in r (sent,
// retries, the wait for a recovery turn) in the same call; the caller carries out the Step
// (publishing, Finish, ContinueIn, sending) afterwards. grace is how long a cut run waits for a
// recovery turn the Gateway does not say it owes.
func (t *Table) Judge(r *Run, v transcript.Verdict, now time.Time, grace time.Duration) Step {
	// Runs that ended here are not "another turn": the Gateway lists a run as active for a
	// moment after its final. Such stale information is asked again.
	stale := false
	v.Others = slices.DeleteFunc(v.Others, func(id string) bool {
		ended := t.Ended(id)
		stale = stale || ended
		return ended
	})
	switch {
	case v.Running:
		r.sent, r.unknown, r.bare = true, false, false
		changed := v.InFlight != nil && t.runs[r.id] == r
		var rev uint64
		if changed {
			rev, changed = r.content.Replace(*v.InFlight)
		}
		r.lastEvent = now
		if changed {
			ev := chat.RunDelta{Conversation: r.convID, RunID: r.id, Text: *v.InFlight, Replace: true, Rev: rev}.Event()
			return Step{Event: &ev}
		}
		return Step{}
	case v.Replied:
		if v.Aborted {
			return Step{Do: End, End: chat.RunAborted{Text: v.Reply}}
		}
		return Step{Do: End, End: chat.RunFinal{Text: v.Reply}}
	case len(v.Others) > 0 && (v.UserRow || r.bare):
		// Another turn carries this message on: the Gateway's recovery turn after a crash, or
		// the turn a message sent to a busy session was merged into.
		return Step{Do: Continue, Other: v.Others[0]}
	case stale && !v.Replied:
		return t.retry(r, now)
	case !v.UserRow && len(v.Others) > 0:
		// Parked behind another turn: the Gateway either takes it into that turn or ends it
		// with an error event ("pending input ownership ended").
		return t.retry(r, now)
	case v.Unknown:
		return t.retry(r, now)
	case !v.UserRow:
		resend := r.msg != nil && !r.resent
		r.resent = true
		if resend {
			// The Gateway never kept it (lost with a crash, or the answer to chat.send was lost
			// before it arrived): send it again with the same idempotency key.
			return Step{Do: Resend, Resend: *r.msg}
		}
		partial := r.content.Text()
		return Step{Do: End, End: chat.RunError{Message: "the assistant lost this message; send it again", Kind: "lost", Text: &partial},
			Note: "message lost by the Gateway", Others: len(v.Others)}
	default:
		// Its message is in the transcript, nothing runs and no reply follows: the turn was cut.
		// After a crash the Gateway resumes cut sessions with a recovery turn, one session at a
		// time; while it says it owes this session one, wait for it (the run stays, so new
		// messages queue behind it), else wait a little before saying the turn was cut.
		if v.Owed {
			first := r.owedSince.IsZero()
			if first {
				r.owedSince = now
			}
			if now.Sub(r.owedSince) < recoveryOwedWait {
				r.lastEvent = now
				if first {
					ev := chat.RunStatus{Conversation: r.convID, RunID: r.id, Phase: "recovering"}.Event()
					return Step{Event: &ev, Again: true, Note: "waiting for the Gateway's recovery turn"}
				}
				return Step{Again: true}
			}
		}
		if r.retries < int(grace/RetryEvery) {
			return t.retry(r, now)
		}
		partial := r.content.Text()
		return Step{Do: End, End: chat.RunError{Message: "the assistant stopped before it could reply", Kind: "interrupted", Text: &partial}}
	}
}

// retry counts one more reconciliation that could not tell r's state and reports whether to ask
// again (bounded).
func (t *Table) retry(r *Run, now time.Time) Step {
	r.retries++
	r.lastEvent = now
	return Step{Again: r.retries <= retries}
}
