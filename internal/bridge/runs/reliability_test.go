package runs_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
	"github.com/clawchat/clawchat/internal/testkit/gatewaytest"
)

// gwEnv is the bridge in front of the fake Gateway (gatewaytest) through the real Gateway
// client, with a scriptable chat.history: the causes of issue 17, one test each.
type gwEnv struct {
	t     *testing.T
	srv   *gatewaytest.Server
	svc   *bridge.Service
	rec   *bridgetest.Recorder
	store *bridgetest.Store

	mu      sync.Mutex
	history map[string]any // the chat.history answer
}

func newGWEnv(t *testing.T, send gatewaytest.HandlerFunc, mods ...func(*bridge.Config)) *gwEnv {
	t.Helper()
	e := &gwEnv{t: t, srv: gatewaytest.NewServer(t, gatewaytest.Options{Token: "tok"}), rec: bridgetest.NewRecorder(), store: bridgetest.NewStore()}
	e.setHistory(nil, nil, nil)
	e.srv.Handle("chat.send", send)
	e.srv.Handle("chat.history", func(*gatewaytest.Call) (any, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.history, nil
	})
	var svc *bridge.Service
	handler := gateway.HandlerFuncs{Event: func(ev gateway.Event) { svc.HandleEvent(ev) }, Status: func(st gateway.Status) { svc.HandleStatus(st) }}
	cl, err := gateway.New(gateway.Config{URL: e.srv.URL(), Token: "tok", StateDir: t.TempDir(), Handler: handler,
		ReconnectMinDelay: 10 * time.Millisecond, ReconnectMaxDelay: 50 * time.Millisecond, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bc := bridge.Config{Upstream: cl, Store: e.store, Publisher: e.rec, SendRate: 1000, SendBurst: 1000}
	for _, m := range mods {
		m(&bc)
	}
	svc, err = bridge.New(bc)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = cl.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done; svc.Wait() })
	waitFor(t, func() bool { return svc.GatewayState() == bridge.StateConnected })
	return e
}

// setHistory sets what chat.history answers: transcript rows, activeRunIds (nil: omitted,
// with hasActiveRun true when inFlight is set or active is nil and busy) and inFlightRun.
func (e *gwEnv) setHistory(rows []any, active []string, inFlight map[string]any, busy ...bool) {
	info := map[string]any{"hasActiveRun": len(active) > 0 || inFlight != nil || len(busy) > 0}
	if active != nil {
		info["activeRunIds"] = active
	} else if len(busy) == 0 && inFlight == nil {
		info["activeRunIds"] = []string{}
	}
	h := map[string]any{"messages": rows, "sessionInfo": info}
	if inFlight != nil {
		h["inFlightRun"] = inFlight
	}
	e.mu.Lock()
	e.history = h
	e.mu.Unlock()
}

// acceptSend answers every chat.send "started" under its idempotency key.
func acceptSend(c *gatewaytest.Call) (any, error) {
	var p gateway.ChatSendParams
	_ = c.Decode(&p)
	return map[string]any{"runId": p.IdempotencyKey, "status": "started"}, nil
}

// setSessionInfo adds fields to the sessionInfo of the chat.history answer.
func (e *gwEnv) setSessionInfo(fields map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	info := e.history["sessionInfo"].(map[string]any)
	for k, v := range fields {
		info[k] = v
	}
}

// events returns the payloads of alice's events name of runID, in order.
func (e *gwEnv) events(name, runID string) []map[string]any {
	var out []map[string]any
	for _, ev := range e.rec.Events("alice") {
		var p map[string]any
		_ = json.Unmarshal(ev.Payload, &p)
		if ev.Name == name && p["runId"] == runID {
			out = append(out, p)
		}
	}
	return out
}

// waitEvent waits for alice's event name of runID and returns its payload (the last one).
func (e *gwEnv) waitEvent(name, runID string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if evs := e.events(name, runID); len(evs) > 0 {
			return evs[len(evs)-1]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no %s for %s; events %v", name, runID, e.rec.Names("alice"))
		}
		time.Sleep(5 * time.Millisecond) // the recorder has no change signal
	}
}

func (e *gwEnv) has(name, runID string) bool { return len(e.events(name, runID)) > 0 }

// send sends text with client id id in alice's conversation "default" (made on first use) and
// returns the result; an error fails the test.
func (e *gwEnv) send(id, text string) bridge.SendResult {
	e.t.Helper()
	res, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: id, Text: text, Create: true})
	if err != nil {
		e.t.Fatalf("send %s: %v", id, err)
	}
	return res
}

// sendWant is send, failing the test unless the result has status want.
func (e *gwEnv) sendWant(id, text, want string) bridge.SendResult {
	e.t.Helper()
	res := e.send(id, text)
	if res.Status != want {
		e.t.Fatalf("send %s = %+v, want %s", id, res, want)
	}
	return res
}

// startRun is a bridge whose Gateway accepts every send, and alice's first message "hi" (m1).
func startRun(t *testing.T, mods ...func(*bridge.Config)) (*gwEnv, bridge.SendResult) {
	t.Helper()
	e := newGWEnv(t, acceptSend, mods...)
	return e, e.send("m1", "hi")
}

// chatEvent broadcasts a chat event of alice's session: state delta (text so far) or final
// (text: the reply; "" a bare final, with seq 1).
func (e *gwEnv) chatEvent(runID, state, text string) {
	p := map[string]any{"runId": runID, "sessionKey": aliceKey, "state": state}
	switch {
	case state == "delta":
		p["deltaText"], p["message"] = text, map[string]any{"role": "assistant", "content": text}
	case text != "":
		p["message"] = map[string]any{"role": "assistant", "content": text}
	default:
		p["seq"] = 1
	}
	e.srv.Broadcast("chat", p)
}

// wantText waits for alice's event name of runID and fails unless its text is want.
func (e *gwEnv) wantText(name, runID, want string) {
	e.t.Helper()
	if p := e.waitEvent(name, runID); p["text"] != want {
		e.t.Fatalf("%s of %s = %v, want text %q", name, runID, p, want)
	}
}

// recovered sets chat.history to the Gateway's recovery turn after a restart: runID's message,
// the Gateway's "[System] … interrupted" prompt and the reply "Echo: recovered", nothing running.
func (e *gwEnv) recovered(runID string) {
	system := map[string]any{"role": "user", "content": "[System] Your previous turn was interrupted by a gateway restart …",
		"idempotencyKey": "rec:user", "provenance": map[string]any{"kind": "internal_system", "sourceTool": "main_session_restart_recovery"}}
	e.setHistory([]any{userRow(runID, "hi"), system, assistantRow("rec", "Echo: recovered")}, []string{}, nil)
}

func userRow(runID, text string) map[string]any {
	return map[string]any{"role": "user", "content": text, "idempotencyKey": runID + ":user"}
}

func assistantRow(runID, text string) map[string]any {
	return map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": text}}, "__openclaw": map[string]any{"runId": runID}}
}

const aliceKey = "agent:main:clawchat:alice:default"

// The client's connection closes while chat.send waits for the Gateway's answer: the send is
// not failed (it reached the Gateway), and the reply reaches the user.
func TestSendOutlivesTheClientConnection(t *testing.T) {
	accepted := make(chan struct{})
	release := make(chan struct{})
	var e *gwEnv
	e = newGWEnv(t, func(c *gatewaytest.Call) (any, error) {
		var p gateway.ChatSendParams
		_ = c.Decode(&p)
		close(accepted)
		<-release
		c.AfterResponse(func() {
			e.srv.StreamReply(gatewaytest.Reply{RunID: p.IdempotencyKey, SessionKey: aliceKey, Chunks: []string{"Echo:", " hi"}})
		})
		return map[string]any{"runId": p.IdempotencyKey, "status": "started"}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		res bridge.SendResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := e.svc.Send(ctx, alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
		done <- result{res, err}
	}()
	<-accepted
	cancel() // the WebSocket closes: its requests' context ends
	close(release)
	r := <-done
	if r.err != nil || r.res.Status != bridge.StatusStarted {
		t.Fatalf("send = %+v %v", r.res, r.err)
	}
	e.wantText("run.final", r.res.RunID, "Echo: hi")
	if e.has("run.error", r.res.RunID) {
		t.Fatalf("the accepted send was failed: %v", e.rec.Names("alice"))
	}
}

// The Gateway connection drops between the Gateway's accept and its answer: the run stays, and
// after the reconnect history says it runs; its reply is delivered.
func TestDropBetweenAcceptAndAck(t *testing.T) {
	var e *gwEnv
	e = newGWEnv(t, func(c *gatewaytest.Call) (any, error) {
		var p gateway.ChatSendParams
		_ = c.Decode(&p)
		e.setHistory([]any{userRow(p.IdempotencyKey, p.Message)}, []string{p.IdempotencyKey}, nil)
		e.srv.DropAll() // the answer never arrives
		return nil, errors.New("dropped")
	})
	res := e.sendWant("m1", "hi", bridge.StatusStarted)
	waitFor(t, func() bool { return len(e.srv.Calls("chat.history")) > 0 })
	waitFor(t, func() bool { return e.svc.GatewayState() == bridge.StateConnected })
	e.srv.StreamReply(gatewaytest.Reply{RunID: res.RunID, SessionKey: aliceKey, Chunks: []string{"Echo:", " hi"}})
	e.wantText("run.final", res.RunID, "Echo: hi")
	if e.has("run.error", res.RunID) {
		t.Fatalf("events %v", e.rec.Names("alice"))
	}
	if n := len(e.srv.Calls("chat.send")); n != 1 {
		t.Fatalf("chat.send calls = %d, want 1 (history showed the Gateway had it)", n)
	}
}

// A retry with the same client id while the turn runs attaches to it: one chat.send, the same
// runId, and the reply reaches the user.
func TestDuplicateRetryDuringRunningTurn(t *testing.T) {
	e, r1 := startRun(t)
	e.chatEvent(r1.RunID, "delta", "Echo:")
	e.waitEvent("run.delta", r1.RunID)
	if r2 := e.sendWant("m1", "hi", bridge.StatusDuplicate); r2.RunID != r1.RunID {
		t.Fatalf("retry = %+v", r2)
	}
	e.chatEvent(r1.RunID, "final", "Echo: hi")
	e.wantText("run.final", r1.RunID, "Echo: hi")
	if n := len(e.srv.Calls("chat.send")); n != 1 {
		t.Fatalf("chat.send calls = %d", n)
	}
	// After the end, a retry still names the run, and a resync tells how it ended.
	if r3 := e.sendWant("m1", "hi", bridge.StatusDuplicate); r3.RunID != r1.RunID {
		t.Fatalf("retry after the end = %+v", r3)
	}
	snaps := e.svc.EndedSnapshot(alice)
	if len(snaps) != 1 {
		t.Fatalf("ended snapshots = %d", len(snaps))
	}
	var p map[string]any
	_ = json.Unmarshal(snaps[0].Payload, &p)
	if p["state"] != "final" || p["text"] != "Echo: hi" || p["runId"] != r1.RunID {
		t.Fatalf("ended snapshot = %v", p)
	}
	if len(e.svc.EndedSnapshot(bob)) != 0 {
		t.Fatal("bob sees alice's runs")
	}
}

// The Gateway crashes mid-run and resumes the interrupted turn under a new runId: the cut run
// ends as an error with its partial text (never an empty final), the recovery turn is adopted as
// the conversation's run with the message's id, and a new message waits for it.
func TestRecoveryTurnUnderNewRunID(t *testing.T) {
	e, r1 := startRun(t)
	e.chatEvent(r1.RunID, "delta", "Echo:")
	e.waitEvent("run.delta", r1.RunID)
	const recovery = "0f06558c-1bd0-4d7f-80b0-2a172353519f"
	e.setHistory([]any{userRow(r1.RunID, "hi")}, []string{recovery}, nil)
	e.srv.Restart(0)
	er := e.waitEvent("run.error", r1.RunID)
	if er["kind"] != "interrupted" || er["text"] != "Echo:" || er["continuedBy"] != recovery {
		t.Fatalf("cut run ended with %v", er)
	}
	if e.has("run.final", r1.RunID) {
		t.Fatal("the cut run got a final")
	}
	st := e.waitEvent("run.started", recovery)
	if st["messageId"] != "m1" {
		t.Fatalf("recovery run.started = %v", st)
	}
	r2 := e.sendWant("m2", "next", bridge.StatusQueued) // waits for the recovery turn
	e.srv.StreamReply(gatewaytest.Reply{RunID: recovery, SessionKey: aliceKey, Chunks: []string{"Echo:", " recovered"}})
	e.wantText("run.final", recovery, "Echo: recovered")
	e.waitEvent("run.started", r2.RunID) // the queued message goes once the recovery turn ended
}

// On reconnect the Gateway reports hasActiveRun with no activeRunIds and an inFlightRun that is
// its recovery turn: the cut run is resolved at once, not by the 3-minute stale-run watchdog.
func TestInFlightRunWithoutActiveRunIDs(t *testing.T) {
	e, r1 := startRun(t)
	const recovery = "rec-1"
	e.setHistory([]any{userRow(r1.RunID, "hi")}, nil, map[string]any{"runId": recovery, "text": "Echo: [System]"})
	start := time.Now()
	e.srv.DropAll()
	er := e.waitEvent("run.error", r1.RunID)
	if er["continuedBy"] != recovery {
		t.Fatalf("cut run = %v", er)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("resolved after %s", d)
	}
	e.waitEvent("run.started", recovery)
}

// Messages the Gateway held when it crashed are either delivered (sent again with the same
// idempotency key) or reported failed to their sender, never silently dropped.
func TestParkedInputsLostAtCrash(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	var e *gwEnv
	e = newGWEnv(t, func(c *gatewaytest.Call) (any, error) {
		var p gateway.ChatSendParams
		_ = c.Decode(&p)
		mu.Lock()
		calls[p.IdempotencyKey]++
		n := calls[p.IdempotencyKey]
		mu.Unlock()
		if p.Message == "refused" && strings.HasSuffix(p.IdempotencyKey, "-2") {
			return nil, &gateway.Error{Code: gateway.CodeUnavailable, Message: "chat.send unavailable during gateway restart"}
		}
		if n == 1 && !strings.HasSuffix(p.IdempotencyKey, "-2") {
			return map[string]any{"runId": p.IdempotencyKey, "status": "started"}, nil
		}
		if p.Message == "refused" { // as OpenClaw 2026.9.6 answers a parked input after a restart:
			// its chat error event first, then the refusal (whichever clawchat handles first).
			e.srv.Broadcast("chat", map[string]any{"runId": p.IdempotencyKey, "sessionKey": aliceKey, "seq": 1, "state": "error", "errorMessage": "Error: Pending input ownership ended; submit a new turn to continue"})
			return nil, &gateway.Error{Code: gateway.CodeUnavailable, Message: "Error: Pending input ownership ended; submit a new turn to continue"}
		}
		c.AfterResponse(func() {
			e.srv.StreamReply(gatewaytest.Reply{RunID: p.IdempotencyKey, SessionKey: aliceKey, Chunks: []string{"Echo:", " again"}})
		})
		return map[string]any{"runId": p.IdempotencyKey, "status": "started"}, nil
	})
	if _, err := e.store.Conversation(context.Background(), "alice", "x"); err == nil {
		t.Fatal("unexpected conversation")
	}
	r1 := e.send("m1", "again")
	// The crash: nothing of the message is in the transcript, and nothing runs.
	e.setHistory(nil, []string{}, nil)
	e.srv.DropAll()
	e.wantText("run.final", r1.RunID, "Echo: again") // sent again

	r2 := e.send("m2", "refused")
	e.srv.DropAll()
	// Refused under its old key, it is sent once as a new turn; refused again, the sender is told.
	er := e.waitEvent("run.error", r2.RunID)
	if er["continuedBy"] != r2.RunID+"-2" {
		t.Fatalf("refused resend ended with %v", er)
	}
	if st := e.waitEvent("run.started", r2.RunID+"-2"); st["messageId"] != "m2" || st["text"] != "refused" {
		t.Fatalf("renewed run.started = %v", st)
	}
	if er := e.waitEvent("run.error", r2.RunID+"-2"); er["kind"] != "not_sent" {
		t.Fatalf("renewed send refused: %v", er)
	}
	if n := len(e.events("run.error", r2.RunID)); n != 1 {
		t.Fatalf("%d run.error events for the refused resend, want 1", n)
	}
	// The Gateway's own error event for a parked input it dropped: the message is sent once more
	// as a new turn, which answers.
	r3 := e.send("m3", "third")
	e.srv.Broadcast("chat", map[string]any{"runId": r3.RunID, "sessionKey": aliceKey, "seq": 1, "state": "error", "errorMessage": "Error: Pending input ownership ended; submit a new turn to continue"})
	if er := e.waitEvent("run.error", r3.RunID); er["continuedBy"] != r3.RunID+"-2" || er["kind"] != "interrupted" {
		t.Fatalf("dropped input ended with %v", er)
	}
	e.wantText("run.final", r3.RunID+"-2", "Echo: again")
}

// A bare final (no message, no text: merged into or parked behind another turn) is not relayed
// as the complete reply.
func TestBareFinalIsNotTheReply(t *testing.T) {
	e, r1 := startRun(t)
	e.setHistory([]any{userRow("other", "earlier"), userRow(r1.RunID, "hi")}, []string{"other"}, nil)
	e.chatEvent(r1.RunID, "final", "")
	er := e.waitEvent("run.error", r1.RunID)
	if er["kind"] != "merged" || er["continuedBy"] != "other" {
		t.Fatalf("bare final ended as %v", er)
	}
	if e.has("run.final", r1.RunID) {
		t.Fatal("a bare final was relayed as the reply")
	}
}

// Right after a restart the Gateway may not have started its recovery turn yet: the cut run
// waits for it (new messages queue behind it), and a recovery turn that already ended gives the
// cut message its reply (the Gateway's "[System] … interrupted" prompt does not end the reply).
func TestRecoveryTurnStartsLate(t *testing.T) {
	e, r1 := startRun(t)
	e.setHistory([]any{userRow(r1.RunID, "hi")}, []string{}, nil) // idle: no recovery turn yet
	e.srv.DropAll()
	waitFor(t, func() bool { return len(e.srv.Calls("chat.history")) > 0 })
	r2 := e.sendWant("m2", "next", bridge.StatusQueued) // waits behind the cut run
	e.recovered(r1.RunID)
	e.wantText("run.final", r1.RunID, "Echo: recovered")
	e.waitEvent("run.started", r2.RunID)
}

// After a restart OpenClaw resumes cut sessions one at a time (observed: the last of four
// sessions got its recovery turn 80 s after the Gateway was back). While chat.history says the
// session is still "running" with abortedLastRun and nothing runs, the cut run waits for it past
// the grace, instead of being reported interrupted and then answered anyway.
func TestRecoveryOwedWaitsPastGrace(t *testing.T) {
	e, r1 := startRun(t, func(c *bridge.Config) { c.RecoveryGrace = time.Second })
	e.setHistory([]any{userRow(r1.RunID, "hi")}, []string{}, nil)
	e.setSessionInfo(map[string]any{"status": "running", "abortedLastRun": true})
	e.srv.DropAll()
	if st := e.waitEvent("run.status", r1.RunID); st["phase"] != "recovering" {
		t.Fatalf("run.status = %v", st)
	}
	// Well past the 1 s grace, the run still waits.
	waitFor(t, func() bool { return len(e.srv.Calls("chat.history")) >= 5 })
	if e.has("run.error", r1.RunID) {
		t.Fatal("the cut run was reported interrupted although the Gateway owes it a recovery turn")
	}
	e.recovered(r1.RunID)
	e.setSessionInfo(map[string]any{"status": "done"})
	e.wantText("run.final", r1.RunID, "Echo: recovered")
}

// Once the Gateway no longer owes a recovery turn (status done, or it gave up: tombstoned), a cut
// run without a reply is reported interrupted after the grace.
func TestRecoveryNotOwedEndsAfterGrace(t *testing.T) {
	e, r1 := startRun(t, func(c *bridge.Config) { c.RecoveryGrace = time.Second })
	e.setHistory([]any{userRow(r1.RunID, "hi")}, []string{}, nil)
	e.setSessionInfo(map[string]any{"status": "running", "abortedLastRun": true, "restartRecoveryStatus": "tombstoned"})
	e.srv.DropAll()
	if er := e.waitEvent("run.error", r1.RunID); er["kind"] != "interrupted" {
		t.Fatalf("cut run = %v", er)
	}
}

// A message sent right after a turn ended gets a bare final while the Gateway still lists that
// turn as active, and then runs under its own runId: it is not "continued" by the ended turn, and
// its reply reaches the user.
func TestBareFinalWithStaleActiveRun(t *testing.T) {
	e := newGWEnv(t, acceptSend)
	r1 := e.send("m1", "one")
	e.chatEvent(r1.RunID, "final", "Echo: one")
	e.waitEvent("run.final", r1.RunID)
	r2 := e.sendWant("m2", "two", bridge.StatusStarted)
	e.setHistory([]any{userRow(r1.RunID, "one"), assistantRow(r1.RunID, "Echo: one"), userRow(r2.RunID, "two")}, []string{r1.RunID}, nil)
	e.chatEvent(r2.RunID, "final", "") // bare
	waitFor(t, func() bool { return len(e.srv.Calls("chat.history")) > 0 })
	e.srv.StreamReply(gatewaytest.Reply{RunID: r2.RunID, SessionKey: aliceKey, Chunks: []string{"Echo:", " two"}})
	e.wantText("run.final", r2.RunID, "Echo: two")
	if e.has("run.error", r2.RunID) {
		t.Fatalf("the parked message was ended: %v", e.rec.Names("alice"))
	}
}

// A run clawchat ended from history without a reply is reopened when the Gateway streams it
// after all, so the reply reaches the user.
func TestInferredEndReopened(t *testing.T) {
	e, r1 := startRun(t)
	e.setHistory([]any{userRow(r1.RunID, "hi")}, []string{"other"}, nil)
	e.srv.DropAll() // reconcile: continued by "other"
	e.waitEvent("run.error", r1.RunID)
	e.srv.StreamReply(gatewaytest.Reply{RunID: r1.RunID, SessionKey: aliceKey, Chunks: []string{"Echo:", " hi"}})
	e.wantText("run.final", r1.RunID, "Echo: hi")
	starts := e.events("run.started", r1.RunID)
	if len(starts) != 2 {
		t.Fatalf("run.started for the run: %d, want 2 (start, reopen)", len(starts))
	}
	for _, p := range starts {
		if p["messageId"] != "m1" {
			t.Fatalf("reopened run.started = %v", p)
		}
	}
}

// A turn the Gateway starts by itself while ours runs (a follow-up) is announced with
// run.started when it becomes the conversation's run.
func TestSideRunAnnouncedWhenPromoted(t *testing.T) {
	e, r1 := startRun(t)
	e.chatEvent("follow-up", "delta", "More")
	e.waitEvent("run.delta", "follow-up")
	if e.has("run.started", "follow-up") {
		t.Fatal("a side run was announced while ours runs")
	}
	e.chatEvent(r1.RunID, "final", "Echo: hi")
	e.waitEvent("run.final", r1.RunID)
	if st := e.waitEvent("run.started", "follow-up"); st["text"] != nil {
		t.Fatalf("run.started of a Gateway turn = %v", st)
	}
	e.sendWant("m2", "next", bridge.StatusQueued) // the follow-up is the conversation's run
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	alice = chat.User{ID: "alice", Name: "Alice", Role: chat.RoleMember}
	bob   = chat.User{ID: "bob", Name: "Bob", Role: chat.RoleMember}
)

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
