package runstate_test

import (
	"errors"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/runstate"
	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/chat"
)

const key = "agent:main:clawchat:alice:default"

var (
	t0     = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	target = runstate.Target{Key: key, UserID: "alice", ConvID: "default"}
	alice  = chat.User{ID: "alice", Name: "Alice"}
)

// started returns a table whose conversation runs message runID (sent as text "hi").
func started(t *testing.T, runID string) (*runstate.Table, *runstate.Run) {
	t.Helper()
	tb := runstate.New()
	r, _, err := tb.Submit(target, runstate.Message{RunID: runID, MessageID: "m-" + runID, Text: "hi", Sender: alice}, t0, 10, 3)
	if err != nil || r == nil {
		t.Fatalf("submit = %v %v", r, err)
	}
	if st, first := tb.Announce(r); !first || st.Text == nil || *st.Text != "hi" || st.Sender == nil || st.MessageID != "m-"+runID {
		t.Fatalf("announce = %+v %v", st, first)
	}
	return tb, r
}

func active(tb *runstate.Table) string {
	id, _ := tb.Active(key)
	return id
}

// Finish ends the run and records it as ended in one call: a trailing event is dropped (known,
// no run), never left for Adopt to take as a new turn.
func TestFinishRecordsTheEnd(t *testing.T) {
	tb, r := started(t, "r1")
	e := tb.Finish(r, chat.RunFinal{Text: "Echo: hi"}, false, t0.Add(time.Second))
	if !e.Ended || e.Event.Name != "run.final" || e.Promoted != nil {
		t.Fatalf("ending = %+v", e)
	}
	if f := e.Event.Body.(chat.RunFinal); f.RunID != "r1" || f.Conversation != "default" {
		t.Fatalf("final = %+v", f)
	}
	for _, reopen := range []bool{false, true} {
		if rt := tb.Route("r1", key, reopen, t0); !rt.Known || rt.Run != nil || rt.Reopened {
			t.Fatalf("trailing event (reopen %v) routed to %+v", reopen, rt)
		}
	}
	if active(tb) != "" || tb.Run("r1") != nil || !tb.Ended("r1") || !tb.Duplicate("r1", key) {
		t.Fatal("the ended run is still tracked, or forgotten")
	}
	if again := tb.Finish(r, chat.RunFinal{}, false, t0); again.Ended {
		t.Fatal("a run ended twice")
	}
	// The run's owner is resolved between Route and Adopt, outside the lock: a run that ended
	// in that window is not adopted as a new turn.
	if r, announce := tb.Adopt("r1", key, "alice", "default", t0); r != nil || announce || tb.Run("r1") != nil {
		t.Fatalf("an ended run was adopted: %+v %v", r, announce)
	}
	snaps := tb.EndedRuns("alice", false)
	if len(snaps) != 1 || snaps[0].Snapshot.State != "final" || snaps[0].Snapshot.Text != "Echo: hi" {
		t.Fatalf("ended snapshots = %+v", snaps)
	}
	if len(tb.EndedRuns("bob", false)) != 0 || len(tb.EndedRuns("bob", true)) != 1 {
		t.Fatal("ended snapshots filtered wrongly")
	}
	tb.Prune(t0.Add(11*time.Minute), 10*time.Minute)
	if tb.Ended("r1") {
		t.Fatal("not pruned")
	}
}

// An end inferred from history without a reply is reopened by an event that carries text, once.
func TestRouteReopensAnInferredEnd(t *testing.T) {
	tb, r := started(t, "r1")
	tb.Finish(r, chat.RunError{Message: "cut", Kind: "interrupted"}, true, t0)
	if rt := tb.Route("r1", key, false, t0); rt.Run != nil {
		t.Fatal("reopened without reopen")
	}
	rt := tb.Route("r1", key, true, t0)
	if !rt.Reopened || rt.Run == nil || active(tb) != "r1" || tb.Ended("r1") {
		t.Fatalf("route = %+v, active %q", rt, active(tb))
	}
	if st, first := tb.Announce(rt.Run); !first || st.MessageID != "m-r1" || st.Text != nil {
		t.Fatalf("reopened run.started = %+v", st)
	}
	if again := tb.Route("r1", key, true, t0); again.Run != rt.Run || again.Reopened {
		t.Fatalf("second event = %+v", again)
	}

	// Not reopened: an inferred final, an end the Gateway sent, a Gateway session's run.
	for _, c := range []struct {
		name     string
		end      chat.Payload
		inferred bool
		key      string
	}{
		{"inferred final", chat.RunFinal{Text: "x"}, true, key},
		{"Gateway's own error", chat.RunError{Message: "x"}, false, key},
		{"Gateway session", chat.RunError{Message: "x"}, true, "agent:main:main"},
	} {
		tb := runstate.New()
		r, _ := tb.Adopt("g1", c.key, "alice", "c", t0)
		tb.Finish(r, c.end, c.inferred, t0)
		if rt := tb.Route("g1", c.key, true, t0); rt.Run != nil || !rt.Known {
			t.Errorf("%s: route = %+v", c.name, rt)
		}
	}
}

// ContinueIn adopts the Gateway's recovery turn and ends the cut run in one call; the recovery
// turn carries the cut message's id and becomes the conversation's run.
func TestContinueInAdoptsTheRecoveryTurn(t *testing.T) {
	tb, r := started(t, "r1")
	r.Content().SetText("Echo:")
	e, o := tb.ContinueIn(r, "rec", t0.Add(time.Second))
	if !e.Ended || o == nil || o.ID() != "rec" {
		t.Fatalf("continue = %+v %v", e, o)
	}
	er := e.Event.Body.(chat.RunError)
	if er.Kind != "interrupted" || er.ContinuedBy != "rec" || er.Text == nil || *er.Text != "Echo:" {
		t.Fatalf("cut run's end = %+v", er)
	}
	if e.Promoted != o || active(tb) != "rec" || tb.Run("rec") != o || !tb.Ended("r1") {
		t.Fatalf("recovery turn not the conversation's run: promoted %v, active %q", e.Promoted, active(tb))
	}
	if rt := tb.Route("rec", key, false, t0); rt.Run != o {
		t.Fatalf("recovery turn's event routed to %+v", rt)
	}
	if st, first := tb.Announce(o); !first || st.MessageID != "m-r1" {
		t.Fatalf("recovery run.started = %+v", st)
	}
	if p := tb.Promote(key); p != nil {
		t.Fatalf("promoted again: %v", p.ID())
	}

	// A bare final: merged. A turn that already ended: interrupted, nothing adopted. Another
	// session's turn: nothing changes.
	tb, r = started(t, "r2")
	tb.Bare(r)
	if e, _ := tb.ContinueIn(r, "other", t0); e.Event.Body.(chat.RunError).Kind != "merged" {
		t.Fatalf("bare final's end = %+v", e.Event.Body)
	}
	tb, r = started(t, "r3")
	done, _ := tb.Adopt("done", key, "alice", "default", t0)
	tb.Finish(done, chat.RunFinal{}, false, t0)
	if e, o := tb.ContinueIn(r, "done", t0); !e.Ended || o != nil || e.Event.Body.(chat.RunError).ContinuedBy != "" {
		t.Fatalf("continued by an ended turn = %+v %v", e, o)
	}
	tb, r = started(t, "r4")
	tb.Adopt("elsewhere", "agent:main:clawchat:alice:other", "alice", "other", t0)
	if e, o := tb.ContinueIn(r, "elsewhere", t0); e.Ended || o != nil || active(tb) != "r4" {
		t.Fatalf("continued by another session's turn = %+v %v", e, o)
	}
}

// A turn the Gateway starts beside the conversation's run is tracked, not announced, and takes
// its place when it ends.
func TestSideRunPromotedAtTheEnd(t *testing.T) {
	tb, r := started(t, "r1")
	side, announce := tb.Adopt("side", key, "alice", "default", t0.Add(time.Second))
	if announce || active(tb) != "r1" {
		t.Fatalf("side run announced %v, active %q", announce, active(tb))
	}
	if again, _ := tb.Adopt("side", key, "alice", "default", t0); again != side {
		t.Fatal("adopted twice")
	}
	if e := tb.Finish(r, chat.RunFinal{}, false, t0); e.Promoted != side || active(tb) != "side" {
		t.Fatalf("promoted %v, active %q", e.Promoted, active(tb))
	}
}

// The queue: a message waits behind the running turn, in order, within its bounds; a refused
// send is forgotten so that a retry sends it again.
func TestQueue(t *testing.T) {
	tb, r := started(t, "r1")
	for i, id := range []string{"q1", "q2"} {
		if _, pos, err := tb.Submit(target, runstate.Message{RunID: id, MessageID: "m-" + id, Sender: alice}, t0, 2, 3); err != nil || pos != i+1 {
			t.Fatalf("queue %s: pos %d %v", id, pos, err)
		}
	}
	if _, _, err := tb.Submit(target, runstate.Message{RunID: "q3"}, t0, 2, 3); !errors.Is(err, runstate.ErrQueueFull) {
		t.Fatalf("full queue: %v", err)
	}
	if id, n := tb.Active(key); id != "r1" || n != 2 {
		t.Fatalf("active = %q, %d", id, n)
	}
	if s, ok := tb.SenderOf(key, "q2"); !ok || s != "alice" || tb.RunSender("r1", key) != "Alice" {
		t.Fatalf("sender of a queued message = %q %v", s, ok)
	}
	if tb.Next(key, t0) != nil {
		t.Fatal("next started while a turn runs")
	}
	tb.Finish(r, chat.RunFinal{}, false, t0)
	if n := tb.Next(key, t0); n == nil || n.ID() != "q1" || n.Message().MessageID != "m-q1" {
		t.Fatalf("next = %v", n)
	}
	if m, ok := tb.Unqueue(key, "q2"); !ok || m != "m-q2" {
		t.Fatalf("unqueue = %q %v", m, ok)
	}
	f := tb.Fail(tb.Run("q1"), t0)
	if !f.Ended || tb.Duplicate("q1", key) || len(tb.EndedRuns("alice", false)) != 1 {
		t.Fatalf("refused send remembered: %+v", f)
	}

	busy := runstate.New()
	for i := range 2 {
		tg := runstate.Target{Key: key + string(rune('a'+i)), UserID: "alice", ConvID: "c"}
		if _, _, err := busy.Submit(tg, runstate.Message{RunID: tg.Key}, t0, 2, 2); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := busy.Submit(runstate.Target{Key: key, UserID: "alice"}, runstate.Message{RunID: "x"}, t0, 2, 2); !errors.Is(err, runstate.ErrTooManyRuns) {
		t.Fatalf("third run: %v", err)
	}
}

// A message the Gateway lost and refused under its old key becomes a new turn <runId>-2, once.
func TestRenew(t *testing.T) {
	tb, r := started(t, "r1")
	if e, n := tb.Renew(r, true, t0); e.Ended || n != nil {
		t.Fatal("renewed a message that was not sent again")
	}
	if st := tb.Judge(r, transcript.Verdict{}, t0, time.Second); st.Do != runstate.Resend {
		t.Fatalf("lost message: %+v", st)
	}
	e, n := tb.Renew(r, true, t0)
	if !e.Ended || n == nil || n.ID() != "r1-2" || n.Message().RunID != "r1-2" || n.Message().Text != "hi" {
		t.Fatalf("renew = %+v %v", e, n)
	}
	if er := e.Event.Body.(chat.RunError); er.ContinuedBy != "r1-2" || er.Kind != "interrupted" {
		t.Fatalf("old run's end = %+v", er)
	}
	if st := tb.Judge(n, transcript.Verdict{}, t0, time.Second); st.Do != runstate.End {
		t.Fatalf("renewed run lost again: %+v", st)
	}
	if e, n2 := tb.Renew(n, true, t0); e.Ended || n2 != nil {
		t.Fatal("renewed twice")
	}
}

// A message the Gateway dropped without processing it ("pending input ownership ended") is
// renewed even when it was sent only once; a later refusal of its send (Fail) leaves the
// recorded end alone, so a duplicate send still answers with the old run.
func TestRenewDropped(t *testing.T) {
	tb, r := started(t, "r1")
	e, n := tb.Renew(r, false, t0)
	if !e.Ended || n == nil || n.ID() != "r1-2" {
		t.Fatalf("renew = %+v %v", e, n)
	}
	if e := tb.Fail(r, t0); e.Ended {
		t.Fatal("Fail ended a renewed run again")
	}
	if !tb.Ended("r1") {
		t.Fatal("Fail forgot the renewed run's end")
	}
	if e, n2 := tb.Renew(n, false, t0); e.Ended || n2 != nil {
		t.Fatal("renewed twice")
	}
}

// What a chat.history verdict means for a run.
func TestJudge(t *testing.T) {
	text := "so far"
	cases := []struct {
		name  string
		v     transcript.Verdict
		want  runstate.Action
		again bool
		event string
		end   string // the end's event name, or its RunError kind
	}{
		{name: "running", v: transcript.Verdict{Running: true}},
		{name: "running with text", v: transcript.Verdict{Running: true, InFlight: &text}, event: "run.delta"},
		{name: "replied", v: transcript.Verdict{UserRow: true, Replied: true, Reply: "x"}, want: runstate.End, end: "run.final"},
		{name: "aborted", v: transcript.Verdict{UserRow: true, Replied: true, Aborted: true}, want: runstate.End, end: "run.aborted"},
		{name: "continued", v: transcript.Verdict{UserRow: true, Others: []string{"rec"}}, want: runstate.Continue},
		{name: "stale other", v: transcript.Verdict{UserRow: true, Others: []string{"old"}}, again: true},
		{name: "parked", v: transcript.Verdict{Others: []string{"rec"}}, again: true},
		{name: "unknown", v: transcript.Verdict{UserRow: true, Unknown: true}, again: true},
		{name: "lost", v: transcript.Verdict{}, want: runstate.Resend},
		{name: "cut, in grace", v: transcript.Verdict{UserRow: true}, again: true},
		{name: "recovery owed", v: transcript.Verdict{UserRow: true, Owed: true}, again: true, event: "run.status"},
	}
	for _, c := range cases {
		tb, r := started(t, "r1")
		old, _ := tb.Adopt("old", "agent:main:clawchat:alice:x", "alice", "x", t0)
		tb.Finish(old, chat.RunFinal{}, false, t0)
		st := tb.Judge(r, c.v, t0, time.Minute)
		if st.Do != c.want || st.Again != c.again || (st.Event != nil) != (c.event != "") {
			t.Errorf("%s: step %+v", c.name, st)
			continue
		}
		if c.event != "" && st.Event.Name != c.event {
			t.Errorf("%s: event %s", c.name, st.Event.Name)
		}
		if c.end != "" && st.End.EventName() != c.end {
			t.Errorf("%s: end %s", c.name, st.End.EventName())
		}
		if c.want == runstate.Continue && st.Other != "rec" {
			t.Errorf("%s: other %q", c.name, st.Other)
		}
	}
}

// Retries are bounded; past the grace a cut run ends interrupted with its partial text, and
// while the Gateway owes a recovery turn it waits (announced once).
func TestJudgeBounds(t *testing.T) {
	tb, r := started(t, "r1")
	r.Content().SetText("part")
	n := 0
	for tb.Judge(r, transcript.Verdict{UserRow: true, Unknown: true}, t0, 0).Again {
		n++
	}
	if n != 30 {
		t.Fatalf("retries = %d, want 30", n)
	}
	st := tb.Judge(r, transcript.Verdict{UserRow: true}, t0, 5*time.Second)
	if er, ok := st.End.(chat.RunError); st.Do != runstate.End || !ok || er.Kind != "interrupted" || *er.Text != "part" {
		t.Fatalf("past the grace: %+v", st)
	}

	tb, r = started(t, "r2")
	owed := transcript.Verdict{UserRow: true, Owed: true}
	if st := tb.Judge(r, owed, t0, 0); st.Event == nil || !st.Again {
		t.Fatalf("first owed: %+v", st)
	}
	if st := tb.Judge(r, owed, t0.Add(4*time.Minute), 0); st.Event != nil || !st.Again {
		t.Fatalf("still owed: %+v", st)
	}
	if st := tb.Judge(r, owed, t0.Add(6*time.Minute), 0); st.Do != runstate.End {
		t.Fatalf("owed for too long: %+v", st)
	}
}
