package runstate

import (
	"sort"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/sessionkey"
	"github.com/clawchat/clawchat/internal/chat"
)

// Table is the tracker's state (make one with New). Its owner holds one lock around every call.
// A run id is in at most one of runs and ended, and moves between them only inside one method
// (Finish, Fail, Forget, Route's reopen).
type Table struct {
	convs    map[string]*conv // by session key, conversations with a run or queue
	runs     map[string]*Run  // by runId
	ended    map[string]ended // runs that ended, for duplicate sends and trailing events
	userRuns map[string]int   // active runs per user
}

// conv is the state of one conversation with a run or queue.
type conv struct {
	key    string
	userID string
	convID string
	active *Run
	queue  []Message
}

// New returns an empty Table.
func New() *Table {
	return &Table{convs: map[string]*conv{}, runs: map[string]*Run{}, ended: map[string]ended{}, userRuns: map[string]int{}}
}

// convOf returns the conversation of session key, made for userID and convID when it has none.
func (t *Table) convOf(key, userID, convID string) *conv {
	c := t.convs[key]
	if c == nil {
		c = &conv{key: key, userID: userID, convID: convID}
		t.convs[key] = c
	}
	return c
}

// track registers r as a run of its user.
func (t *Table) track(r *Run) {
	t.runs[r.id] = r
	t.userRuns[r.userID]++
}

// Run returns the tracked run runID, or nil.
func (t *Table) Run(runID string) *Run { return t.runs[runID] }

// Ended reports whether run runID ended recently (Prune forgets it).
func (t *Table) Ended(runID string) bool {
	_, ok := t.ended[runID]
	return ok
}

// Conv returns the user and conversation id of session key when it has a run or a queue.
func (t *Table) Conv(key string) (userID, convID string, ok bool) {
	if c := t.convs[key]; c != nil {
		return c.userID, c.convID, true
	}
	return "", "", false
}

// Submit queues m behind the running turn of session tg.Key and returns its position in the
// queue, or, when the conversation is idle, starts it as the conversation's run and returns it
// (to announce and send). A queue of maxQueued messages refuses it with ErrQueueFull, maxRuns
// runs of the user with ErrTooManyRuns.
func (t *Table) Submit(tg Target, m Message, now time.Time, maxQueued, maxRuns int) (r *Run, position int, err error) {
	c := t.convOf(tg.Key, tg.UserID, tg.ConvID)
	if c.active != nil || len(c.queue) > 0 {
		if len(c.queue) >= maxQueued {
			return nil, 0, ErrQueueFull
		}
		c.queue = append(c.queue, m)
		return nil, len(c.queue), nil
	}
	if t.userRuns[tg.UserID] >= maxRuns {
		return nil, 0, ErrTooManyRuns
	}
	return t.start(c, m, now), 0, nil
}

// Next starts the first queued message of session key as the conversation's run and returns it
// (to announce and send), or nil when the conversation runs a turn or has no queue.
func (t *Table) Next(key string, now time.Time) *Run {
	c := t.convs[key]
	if c == nil || c.active != nil || len(c.queue) == 0 {
		return nil
	}
	m := c.queue[0]
	c.queue = c.queue[1:]
	return t.start(c, m, now)
}

// start registers m as c's active run.
func (t *Table) start(c *conv, m Message, now time.Time) *Run {
	r := &Run{
		id: m.RunID, key: c.key, userID: c.userID, convID: c.convID, messageID: m.MessageID, sender: m.Sender.Name, senderID: m.Sender.ID,
		started: now, lastEvent: now, msg: &m,
	}
	c.active = r
	t.track(r)
	return r
}

// Announce marks r announced and returns its run.started, or false when it was announced
// already. The text is the message r sent (none for a turn the Gateway started, which carries
// the id of the message it continues, if any).
func (t *Table) Announce(r *Run) (chat.RunStarted, bool) {
	if r.announced {
		return chat.RunStarted{}, false
	}
	r.announced = true
	var text *string
	if r.msg != nil {
		text = &r.msg.Text
	}
	st := chat.NewRunStarted(r.convID, r.id, r.messageID, r.started, text)
	if r.msg != nil {
		st.Sender = SenderOf(r.msg.Sender)
	}
	return st, true
}

// Promote makes another tracked run of session key (a turn the Gateway started by itself while
// the conversation's run ran) the conversation's active run when it has none, and returns it to
// announce (nil: no change).
func (t *Table) Promote(key string) *Run {
	c := t.convs[key]
	if c == nil || c.active != nil {
		return nil
	}
	var best *Run
	for _, r := range t.runs {
		if r.key == key && (best == nil || r.started.Before(best.started)) {
			best = r
		}
	}
	c.active = best
	return best
}

// end forgets r and records it as ended (without its end); it reports false when r had already
// ended. When r was its conversation's run, the session's oldest other turn takes its place
// (promoted, to announce).
func (t *Table) end(r *Run, now time.Time) (ok bool, promoted *Run) {
	if t.runs[r.id] != r {
		return false, nil
	}
	delete(t.runs, r.id)
	t.ended[r.id] = ended{at: now, userID: r.userID, conv: r.convID}
	if t.userRuns[r.userID]--; t.userRuns[r.userID] <= 0 {
		delete(t.userRuns, r.userID)
	}
	if c := t.convs[r.key]; c != nil && c.active == r {
		c.active = nil
		promoted = t.Promote(r.key)
		if c.active == nil && len(c.queue) == 0 {
			delete(t.convs, r.key)
		}
	}
	return true, promoted
}

// Ending is what ending a run asks of the table's owner: announce Promoted (the session's turn
// that became the conversation's run, if any) at once, publish Event (the run's terminal event)
// when Ended (false: it had ended already), then start the next queued message (Next).
type Ending struct {
	Ended    bool
	Event    chat.Event
	Promoted *Run
}

// Finish ends r with the terminal payload p (chat.RunFinal, RunAborted or RunError; its
// conversation and run id are filled in) and records how it ended, for Ended snapshots and
// trailing events. With inferred (an end read from history, no terminal event from the
// Gateway), Route reopens r should the Gateway stream it after all.
func (t *Table) Finish(r *Run, p chat.Payload, inferred bool, now time.Time) Ending {
	p, ev := terminal(p, r.convID, r.id)
	ok, promoted := t.end(r, now)
	if !ok {
		return Ending{}
	}
	e := t.ended[r.id]
	e.end, e.inferred, e.messageID = p, inferred, r.messageID
	t.ended[r.id] = e
	return Ending{Ended: true, Event: ev, Promoted: promoted}
}

// Fail ends r, whose chat.send the Gateway refused or never received, and forgets it, so that a
// retry with the same client id sends it again. The caller publishes run.error when Ended.
func (t *Table) Fail(r *Run, now time.Time) Ending {
	ok, promoted := t.end(r, now)
	if ok { // an end recorded before (Finish, Renew) stays
		delete(t.ended, r.id)
	}
	return Ending{Ended: ok, Promoted: promoted}
}

// ContinueIn ends r, whose reply the Gateway produces in its turn otherID (its recovery turn
// after a crash, or the turn r's message was merged into), with run.error (kind interrupted, or
// merged after a bare final; the partial text kept; continuedBy) and adopts otherID in the same
// call, tracked with r's message id. It returns the adopted turn, to promote and announce once
// r's end is published (nil: none). A turn of another session is refused (nothing changes); a
// turn that already ended leaves r ended as interrupted.
func (t *Table) ContinueIn(r *Run, otherID string, now time.Time) (Ending, *Run) {
	o := t.runs[otherID]
	if o == nil {
		if t.Ended(otherID) {
			text := r.content.Text()
			return t.Finish(r, chat.RunError{Message: "the assistant stopped before it could reply", Kind: "interrupted", Text: &text}, true, now), nil
		}
		o = newRun(otherID, r.key, r.userID, r.convID, now)
		t.track(o)
	} else if o.key != r.key {
		return Ending{}, nil
	}
	if o.messageID == "" {
		o.messageID = r.messageID
	}
	kind := "interrupted"
	if r.bare {
		kind = "merged"
	}
	text := r.content.Text()
	return t.Finish(r, chat.RunError{Message: "the assistant continues this message in its next turn", Kind: kind, Text: &text, ContinuedBy: otherID}, true, now), o
}

// Renew handles the Gateway's refusal of r's message, which it never processed: sent again
// after the Gateway had lost it (onlyResent), or dropped by the Gateway ("pending input
// ownership ended"). The message is registered as a new turn under <runId>-2 and r ends in the
// same call with run.error (kind interrupted, continuedBy). It returns the new run (to promote,
// announce and send once r's end is published), or nil when r has no message of clawchat's,
// was not sent again although onlyResent, was renewed once already, or has ended.
func (t *Table) Renew(r *Run, onlyResent bool, now time.Time) (Ending, *Run) {
	if r.msg == nil || (onlyResent && !r.resent) || r.renewed || t.runs[r.id] != r {
		return Ending{}, nil
	}
	r.renewed = true
	m := *r.msg
	m.RunID = r.id + "-2"
	n := &Run{id: m.RunID, key: r.key, userID: r.userID, convID: r.convID, messageID: r.messageID,
		started: now, lastEvent: now, msg: &m, resent: true, renewed: true}
	t.track(n)
	text := r.content.Text()
	return t.Finish(r, chat.RunError{Message: "the assistant lost this message; it is sent again", Kind: "interrupted", Text: &text, ContinuedBy: n.id}, false, now), n
}

// Renewed reports whether r ended because its message was sent again as a new turn (Renew).
func (t *Table) Renewed(r *Run) bool { return r.renewed && t.runs[r.id] != r }

// Routed is what Route found for an event: its Run (nil: drop the event), unless !Known (neither
// tracked nor recently ended: the caller resolves the session's owner and calls Adopt).
// Reopened: Run was ended by inference and is tracked again; announce it.
type Routed struct {
	Run             *Run
	Known, Reopened bool
}

// Route returns the run of a Gateway event of runID in session key. A run id never moves
// between sessions: an event of a tracked run under another key is dropped. Trailing events of
// an ended run are dropped, except that with reopen (a chat delta, or a final with its message)
// a run of clawchat's own sessions ended by inference without a reply is brought back: tracked
// again, its conversation's run if it has none.
func (t *Table) Route(runID, key string, reopen bool, now time.Time) Routed {
	if r := t.runs[runID]; r != nil {
		if r.key != key {
			return Routed{Known: true}
		}
		r.lastEvent = now
		return Routed{Run: r, Known: true}
	}
	e, ok := t.ended[runID]
	if !ok {
		return Routed{}
	}
	if !reopen || !e.inferred || e.end == nil || e.end.EventName() == "run.final" || !sessionkey.IsOwnNamespace(key) {
		return Routed{Known: true} // trailing events after final/aborted/error
	}
	c := t.convOf(key, e.userID, e.conv)
	if c.userID != e.userID || c.convID != e.conv {
		return Routed{Known: true}
	}
	delete(t.ended, runID)
	r := newRun(runID, key, e.userID, e.conv, now)
	r.messageID = e.messageID
	t.track(r)
	if c.active == nil {
		c.active = r
	}
	return Routed{Run: r, Known: true, Reopened: true}
}

// Adopt tracks run runID of session key, started elsewhere (another clawchat instance, a
// channel, a follow-up turn), for userID, whom conversation convID is shown to (the session's
// owner, resolved by the caller after Route). It becomes the conversation's run unless another
// runs (then it is tracked beside it); announce reports whether it must be announced. A run
// that ended since the caller's Route (its owner is resolved outside the lock) is not adopted
// again: r is nil.
func (t *Table) Adopt(runID, key, userID, convID string, now time.Time) (r *Run, announce bool) {
	if r := t.runs[runID]; r != nil {
		return r, false
	}
	if _, ended := t.ended[runID]; ended {
		return nil, false
	}
	c := t.convOf(key, userID, convID)
	r = newRun(runID, key, c.userID, c.convID, now)
	t.track(r)
	if c.active != nil {
		return r, false
	}
	c.active = r
	return r, true
}

// Forget ends session key's active run without an end and forgets the session's state (its
// conversation was deleted). It returns a turn promoted meanwhile, to announce.
func (t *Table) Forget(key string, now time.Time) *Run {
	c := t.convs[key]
	if c == nil {
		return nil
	}
	var promoted *Run
	if c.active != nil {
		_, promoted = t.end(c.active, now)
	}
	delete(t.convs, key)
	return promoted
}

// Prune forgets runs that ended more than age before now.
func (t *Table) Prune(now time.Time, age time.Duration) {
	for id, e := range t.ended {
		if now.Sub(e.at) > age {
			delete(t.ended, id)
		}
	}
}

// SendLost records that r's chat.send was written but its answer was lost.
func (t *Table) SendLost(r *Run) { r.unknown = true }

// Sent records that the Gateway acknowledged r's chat.send; it reports whether r was a message
// sent again.
func (t *Table) Sent(r *Run) (resent bool) {
	r.sent, r.unknown = true, false
	return r.resent
}

// Bare records that the Gateway ended r with a final that has no message and no text.
func (t *Table) Bare(r *Run) { r.bare = true }

// Owned is a run.snapshot with the user its run is addressed to.
type Owned struct {
	UserID   string
	Snapshot chat.RunSnapshot
	at       time.Time // when it ended
}

// Running returns a snapshot of every run addressed to userID (all: of every run).
func (t *Table) Running(userID string, all bool) []Owned {
	var out []Owned
	for _, r := range t.runs {
		if all || r.userID == userID {
			text, rev, reasoning, tools := r.content.View()
			out = append(out, Owned{UserID: r.userID, Snapshot: chat.RunSnapshot{Conversation: r.convID, RunID: r.id,
				Text: text, Rev: &rev, Reasoning: &reasoning, Tools: tools, State: "running"}})
		}
	}
	return out
}

// EndedRuns returns, oldest first, a snapshot of how each ended run addressed to userID (all: of
// every run) ended: state final, aborted or error, its text, and for errors the message and kind.
// Sends that never reached the Gateway are left out.
func (t *Table) EndedRuns(userID string, all bool) []Owned {
	var out []Owned
	for id, e := range t.ended {
		if e.end != nil && (all || e.userID == userID) {
			out = append(out, Owned{UserID: e.userID, Snapshot: snapshot(e.end, e.conv, id), at: e.at})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// Reconcilable returns the runs to compare with chat.history: every run whose chat.send was
// answered or whose answer was lost (a send still waiting for its answer is its sender's to
// settle); with onlyStale, only those without events for staleAfter.
func (t *Table) Reconcilable(onlyStale bool, now time.Time, staleAfter time.Duration) []string {
	var ids []string
	for id, r := range t.runs {
		if !r.sent && !r.unknown {
			continue
		}
		if onlyStale && now.Sub(r.lastEvent) < staleAfter {
			continue
		}
		ids = append(ids, id)
	}
	return ids
}
