package e2e

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/fakemodel"
	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// Timeouts. The first run on a fresh Gateway takes about 6 s to its first token (workspace
// preparation) and a new session key about 2.5 s; two busy cores can triple that.
const (
	connectTimeout = 60 * time.Second
	runTimeout     = 90 * time.Second
)

func TestGatewayHandshakeGrantsRequestedScopes(t *testing.T) {
	g := sharedGateway(t)
	c := startClient(t, g.URL, g.Token)
	st := c.waitState(connectTimeout, gateway.StateConnected)
	want := []string{"operator.read", "operator.write", "operator.admin"}
	if !slices.Equal(st.Scopes, want) {
		t.Errorf("scopes %v, want %v", st.Scopes, want)
	}
	if !st.Ready || st.AuthMethod != "token" || st.ServerVersion != ochar.OpenClawVersion {
		t.Errorf("status: ready %v, auth %q, server %q", st.Ready, st.AuthMethod, st.ServerVersion)
	}
	if st.ConnID == "" || st.BootID == "" || st.Policy.MaxPayload <= 0 || st.Policy.TickInterval <= 0 {
		t.Errorf("hello-ok not recorded: %+v", st)
	}
	if strings.Contains(c.logs.String(), g.Token) {
		t.Error("the gateway token appears in the client log")
	}
}

func TestGatewayChatSendStreamsAndHistory(t *testing.T) {
	g := sharedGateway(t)
	c := startClient(t, g.URL, g.Token)
	c.waitState(connectTimeout, gateway.StateConnected)
	key := sessionKey(t)
	msg := "Hello from the e2e suite [delay=30] [words=6]"
	runID := newRunID()
	ack, err := c.ChatSend(ctxT(t, 30*time.Second), gateway.ChatSendParams{SessionKey: key, Message: msg, IdempotencyKey: runID})
	if err != nil {
		t.Fatalf("chat.send: %v", err)
	}
	if ack.Status != "started" || ack.RunID != runID {
		t.Fatalf("ack %+v, want started with runId %s", ack, runID)
	}
	want := fakemodel.Reply(msg)
	evs := c.waitTerminal(runTimeout, runID)
	final := evs[len(evs)-1]
	if final.State != gateway.ChatStateFinal {
		t.Fatalf("run ended %q (%s), want final", final.State, final.ErrorMessage)
	}
	if text, _ := final.MessageText(); text != want {
		t.Errorf("final text %q, want %q", text, want)
	}
	// Streamed: deltas whose increments add up to a prefix of the reply, in order.
	var deltas int
	var acc string
	for _, e := range evs {
		if e.State != gateway.ChatStateDelta {
			continue
		}
		deltas++
		if e.Replace {
			acc = ""
		}
		acc += e.Delta()
		if e.SessionKey != key {
			t.Errorf("delta for session %q, want %q", e.SessionKey, key)
		}
	}
	if deltas < 2 || acc != want {
		t.Errorf("%d deltas adding up to %q, want ≥2 adding up to %q", deltas, acc, want)
	}
	// The agent stream carried the lifecycle.
	c.waitFor(10*time.Second, "agent lifecycle end", func(ev []gateway.Event, _ []gateway.Status) bool {
		for _, a := range agentEvents(ev, runID) {
			if a.Stream == "lifecycle" && a.Phase() == "end" {
				return true
			}
		}
		return false
	})

	rows := c.history(t, key)
	if len(rows) < 2 {
		t.Fatalf("history has %d rows: %+v", len(rows), rows)
	}
	user, reply := rows[len(rows)-2], rows[len(rows)-1]
	if user.Role != "user" || user.Text != msg {
		t.Errorf("history user row %+v, want text %q", user, msg)
	}
	if reply.Role != "assistant" || reply.Text != want {
		t.Errorf("history reply row %+v, want %q", reply, want)
	}
}

func TestGatewayChatAbortKeepsPartialText(t *testing.T) {
	g := sharedGateway(t)
	c := startClient(t, g.URL, g.Token)
	c.waitState(connectTimeout, gateway.StateConnected)
	key := sessionKey(t)
	msg := "Please write a long answer [words=400] [delay=80]"
	runID := newRunID()
	if _, err := c.ChatSend(ctxT(t, 30*time.Second), gateway.ChatSendParams{SessionKey: key, Message: msg, IdempotencyKey: runID}); err != nil {
		t.Fatalf("chat.send: %v", err)
	}
	c.waitDelta(runTimeout, runID)
	res, err := c.ChatAbort(ctxT(t, 30*time.Second), gateway.ChatAbortParams{SessionKey: key, RunID: runID})
	if err != nil {
		t.Fatalf("chat.abort: %v", err)
	}
	if !res.Aborted || !slices.Contains(res.RunIDs, runID) {
		t.Errorf("abort result %+v", res)
	}
	evs := c.waitTerminal(30*time.Second, runID)
	last := evs[len(evs)-1]
	if last.State != gateway.ChatStateAborted {
		t.Fatalf("run ended %q, want aborted", last.State)
	}
	full := fakemodel.Reply(msg)
	partial, _ := last.MessageText()
	if partial == "" || partial == full || !strings.HasPrefix(full, partial) {
		t.Errorf("aborted text %q is not a proper prefix of the reply", partial)
	}

	rows := c.history(t, key)
	if len(rows) == 0 {
		t.Fatal("empty history")
	}
	kept := rows[len(rows)-1]
	if kept.Role != "assistant" || len(kept.OpenclawAbort) == 0 || !strings.Contains(string(kept.OpenclawAbort), runID) {
		t.Fatalf("last history row %+v, want the partial reply marked openclawAbort", kept)
	}
	if kept.Text == "" || !strings.HasPrefix(full, kept.Text) {
		t.Errorf("kept partial %q is not a prefix of %q", kept.Text, full)
	}
}

func TestGatewaySessionsList(t *testing.T) {
	g := sharedGateway(t)
	c := startClient(t, g.URL, g.Token)
	c.waitState(connectTimeout, gateway.StateConnected)
	key := sessionKey(t)
	runID := newRunID()
	if _, err := c.ChatSend(ctxT(t, 30*time.Second), gateway.ChatSendParams{SessionKey: key, Message: "make a session [delay=0]", IdempotencyKey: runID}); err != nil {
		t.Fatalf("chat.send: %v", err)
	}
	c.waitTerminal(runTimeout, runID)
	res, err := c.SessionsList(ctxT(t, 30*time.Second), gateway.SessionsListParams{Search: strings.TrimPrefix(key, "agent:main:")})
	if err != nil {
		t.Fatalf("sessions.list: %v", err)
	}
	i := slices.IndexFunc(res.Sessions, func(r gateway.SessionRow) bool { return r.Key == key })
	if i < 0 {
		t.Fatalf("session %s not listed in %+v", key, res.Sessions)
	}
	if row := res.Sessions[i]; row.HasActiveRun || row.SessionID == "" {
		t.Errorf("row %+v", row)
	}
}

func TestGatewayWrongTokenKeepsRetrying(t *testing.T) {
	g := sharedGateway(t)
	const wrong = "wrong-token-e2e-0123456789abcdef"
	c := startClient(t, g.URL, wrong, func(cfg *gateway.Config) {
		cfg.ReconnectMinDelay = 50 * time.Millisecond
		cfg.ReconnectMaxDelay = 300 * time.Millisecond
	})
	st := c.waitState(connectTimeout, gateway.StateAuthFailed)
	if !strings.Contains(st.Reason, "token") || st.Ready {
		t.Errorf("reason %q does not explain the token failure", st.Reason)
	}
	// At least two refused attempts: the client retries by itself.
	c.waitFor(connectTimeout, "a second refused attempt", func(_ []gateway.Event, sts []gateway.Status) bool {
		n := 0
		for _, s := range sts {
			if s.State == gateway.StateAuthFailed {
				n++
			}
		}
		return n >= 2
	})
	// Requests fail at once while not connected.
	if _, err := c.SessionsList(ctxT(t, 5*time.Second), gateway.SessionsListParams{}); !errors.Is(err, gateway.ErrNotConnected) {
		t.Errorf("request while refused: %v, want ErrNotConnected", err)
	}
	if err := c.stop(); err != nil {
		t.Errorf("Run returned %v after cancel", err)
	}
	if s := c.Status(); s.State != gateway.StateStopped {
		t.Errorf("state after stop %q", s.State)
	}
	for _, s := range []string{c.logs.String(), st.Reason} {
		if strings.Contains(s, wrong) {
			t.Error("the configured token leaks into logs or status")
		}
	}
}

func TestGatewayCrashAndRestartMidRun(t *testing.T) {
	needGateway(t)
	t.Parallel() // own gateway: overlaps with the other own-gateway tests
	g := ownGateway(t, ochar.Options{})
	c := startClient(t, g.URL, g.Token)
	first := c.waitState(connectTimeout, gateway.StateConnected)
	key := sessionKey(t)
	msg := "A run the gateway will not survive [words=300] [delay=100]"
	runID := newRunID()
	if _, err := c.ChatSend(ctxT(t, 30*time.Second), gateway.ChatSendParams{SessionKey: key, Message: msg, IdempotencyKey: runID}); err != nil {
		t.Fatalf("chat.send: %v", err)
	}
	c.waitDelta(runTimeout, runID)

	mark := c.statusMark()
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	c.waitStateSince(30*time.Second, mark, "disconnected after SIGKILL", func(s gateway.Status) bool {
		return s.State == gateway.StateDisconnected
	})
	if err := g.Restart(ctxT(t, 3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The client reconnects by itself, to the new process.
	st := c.waitStateSince(connectTimeout, mark, "reconnected", func(s gateway.Status) bool {
		return s.State == gateway.StateConnected
	})
	if st.BootID == first.BootID {
		t.Errorf("reconnected to the same boot %s", st.BootID)
	}
	// History shows the run's end state: the user's message is kept and nothing is
	// running any more; no reply is completed after the crash.
	rows := c.history(t, key)
	ui := slices.IndexFunc(rows, func(r historyRow) bool { return r.Role == "user" && r.Text == msg })
	if ui < 0 {
		t.Fatalf("user message missing from history after restart: %+v", rows)
	}
	full := fakemodel.Reply(msg)
	for _, r := range rows[ui+1:] {
		if r.Role == "assistant" && r.Text == full {
			t.Errorf("the run completed despite the crash: %+v", r)
		}
	}
	t.Logf("history after crash: %+v", rows)
	res, err := c.SessionsList(ctxT(t, 30*time.Second), gateway.SessionsListParams{Search: strings.TrimPrefix(key, "agent:main:")})
	if err != nil {
		t.Fatalf("sessions.list: %v", err)
	}
	// Observed with OpenClaw 2026.9.6: the row keeps status "running" and hasActiveRun
	// true after a SIGKILL, but activeRunIds is empty. activeRunIds is the truth.
	for _, r := range res.Sessions {
		if r.Key == key && slices.Contains(r.ActiveRunIDs, runID) {
			t.Errorf("the crashed run is still listed as active: %+v", r)
		}
	}
	// And the session works again.
	run2 := newRunID()
	if _, err := c.ChatSend(ctxT(t, 30*time.Second), gateway.ChatSendParams{SessionKey: key, Message: "after the crash [delay=0]", IdempotencyKey: run2}); err != nil {
		t.Fatalf("chat.send after restart: %v", err)
	}
	if evs := c.waitTerminal(runTimeout, run2); evs[len(evs)-1].State != gateway.ChatStateFinal {
		t.Errorf("run after restart ended %q", evs[len(evs)-1].State)
	}
}
