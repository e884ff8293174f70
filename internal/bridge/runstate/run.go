// Package runstate is the run table of clawchat's run tracker (bridge/runs): every tracked run,
// each conversation's active run and queue, the runs that ended recently, the transitions of the
// run state machine (docs/reliability.md) and what a chat.history verdict means for a run (Judge).
//
// It has no lock, no goroutine and does no I/O: a Table is a value its owner (runs.Tracker)
// guards with its one lock, held around every call. Each transition that must not be seen half
// done is one method, so no Gateway event falls between its steps: Finish ends a run, records it
// as ended and promotes the session's next turn; ContinueIn adopts the turn that carries a cut
// run on (the Gateway's recovery turn) and ends the cut run; Route drops a trailing event of an
// ended run or reopens a run whose end was only inferred. Methods that start, reopen or promote a
// run return it; the caller publishes its run.started (Announce) before it releases its lock, so
// that it precedes every event of the run.
package runstate

import (
	"errors"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/policy"
	"github.com/clawchat/clawchat/internal/bridge/runtext"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Message is one message accepted for sending: what chat.send gets, kept with its run so that it
// can be sent again with the same idempotency key when the Gateway lost it.
type Message struct {
	RunID     string // the Gateway idempotency key (sessionkey.IdempotencyKey)
	MessageID string // the client's message id
	Text      string // exactly as typed: what the Gateway, the transcript and the model get
	// Attachments are sent with the message as they are.
	Attachments []gateway.ChatAttachment
	Sender      chat.User      // who sent it (identity for the agent)
	Suppress    bool           // send with suppressCommandInterpretation (members, unless allowlisted)
	Policy      *policy.Policy // the session policy the send is conditional on (members); nil: none
	// AgentContext is what the agent reads after the sender line (an embedded message's page
	// context, bridge/sending); never in the transcript.
	AgentContext string
}

// Target is the conversation a message goes to.
type Target struct {
	Key    string // Gateway session key
	UserID string // the conversation's owner
	ConvID string // the conversation id as its owner's clients know it
}

// Submit refusals (Table.Submit). runs.Tracker wraps them together with chat.ErrLimitReached in
// an error that states the bound.
var (
	ErrQueueFull   = errors.New("runs: too many queued messages in this conversation")
	ErrTooManyRuns = errors.New("runs: too many runs of this user at once")
)

// Run is one Gateway turn the tracker tracks. Its ids never change; everything else is changed
// only by the Table's methods, under its owner's lock. Its content has its own lock.
type Run struct {
	id, key, userID, convID string
	messageID               string
	sender                  string          // display name of who sent the message (approval cards)
	senderID                string          // account id of who sent it ("" for a turn the Gateway started)
	content                 runtext.Content // text, reasoning and tools (own lock; never copy a run)
	started, lastEvent      time.Time
	sent                    bool     // chat.send acknowledged
	msg                     *Message // what was sent (nil for adopted runs): sent again when the Gateway lost it
	// unknown: chat.send was written but its answer was lost (connection drop, timeout);
	// reconciliation decides whether the Gateway has it.
	unknown bool
	resent  bool // sent a second time after the Gateway lost it
	renewed bool // sent as a new turn after the Gateway refused it under its old key
	// bare: the Gateway ended the run with a final that has no message and no text
	// (merged into or queued behind another turn); reconciliation resolves it.
	bare      bool
	retries   int       // reconciliations that found the Gateway's state unknown
	owedSince time.Time // when the Gateway was first seen to owe the session a recovery turn
	announced bool      // run.started published
}

// ID is the run id (the Gateway's runId).
func (r *Run) ID() string { return r.id }

// Key is the run's Gateway session key.
func (r *Run) Key() string { return r.key }

// UserID is the user the run's events are addressed to (the conversation's owner).
func (r *Run) UserID() string { return r.userID }

// ConvID is the conversation id as the run's user knows it.
func (r *Run) ConvID() string { return r.convID }

// Content is the run's text, reasoning and tools.
func (r *Run) Content() *runtext.Content { return &r.content }

// newRun is a turn the Gateway has (adopted, reopened or continuing another) in session key.
func newRun(id, key, userID, convID string, now time.Time) *Run {
	return &Run{id: id, key: key, userID: userID, convID: convID, started: now, lastEvent: now, sent: true}
}

// ended is a run that ended, kept until Prune: duplicate sends answer with its id, its trailing
// Gateway events are dropped, and a client that resyncs learns how it ended (Ended).
type ended struct {
	at     time.Time
	userID string
	conv   string
	// end is the payload of its terminal event (chat.RunFinal, RunAborted or RunError); nil
	// for a send that never reached the Gateway (a retry sends it again).
	end chat.Payload
	// inferred: the tracker ended the run from history (no terminal event from the Gateway);
	// if the Gateway streams it after all, the run is reopened (Route).
	inferred  bool
	messageID string
}

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

// snapshot is the run.snapshot that tells a resynced client how an ended run ended.
func snapshot(end chat.Payload, conv, runID string) chat.RunSnapshot {
	out := chat.RunSnapshot{Conversation: conv, RunID: runID}
	switch v := end.(type) {
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

// SenderOf is the wire form of a message's sender (nil when unknown).
func SenderOf(u chat.User) *chat.Sender {
	if u.ID == "" {
		return nil
	}
	name := u.Name
	if name == "" {
		name = u.ID
	}
	return &chat.Sender{UserID: u.ID, Name: name}
}

// Message is the message r sent (zero for a turn the Gateway started); it never changes.
func (r *Run) Message() Message {
	if r.msg == nil {
		return Message{}
	}
	return *r.msg
}
