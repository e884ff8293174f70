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

// waitEvent waits for alice's event name of runID and returns its payload.
func (e *gwEnv) waitEvent(name, runID string) map[string]any {
	e.t.Helper()
	var out map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for out == nil {
		for _, ev := range e.rec.Events("alice") {
			var p map[string]any
			_ = json.Unmarshal(ev.Payload, &p)
			if ev.Name == name && p["runId"] == runID {
				out = p
			}
		}
		if out == nil {
			if time.Now().After(deadline) {
				e.t.Fatalf("no %s for %s; events %v", name, runID, e.rec.Names("alice"))
			}
			time.Sleep(5 * time.Millisecond) // the recorder has no change signal
		}
	}
	return out
}

func (e *gwEnv) has(name, runID string) bool {
	for _, ev := range e.rec.Events("alice") {
		var p map[string]any
		_ = json.Unmarshal(ev.Payload, &p)
		if ev.Name == name && p["runId"] == runID {
			return true
		}
	}
	return false
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
	f := e.waitEvent("run.final", r.res.RunID)
	if f["text"] != "Echo: hi" {
		t.Fatalf("final = %v", f)
	}
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
	res, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
	if err != nil || res.Status != bridge.StatusStarted {
		t.Fatalf("send = %+v %v", res, err)
	}
	waitFor(t, func() bool { return len(e.srv.Calls("chat.history")) > 0 })
	waitFor(t, func() bool { return e.svc.GatewayState() == bridge.StateConnected })
	e.srv.StreamReply(gatewaytest.Reply{RunID: res.RunID, SessionKey: aliceKey, Chunks: []string{"Echo:", " hi"}})
	if f := e.waitEvent("run.final", res.RunID); f["text"] != "Echo: hi" {
		t.Fatalf("final = %v", f)
	}
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
	e := newGWEnv(t, acceptSend)
	r1, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Broadcast("chat", map[string]any{"runId": r1.RunID, "sessionKey": aliceKey, "state": "delta", "deltaText": "Echo:", "message": map[string]any{"role": "assistant", "content": "Echo:"}})
	e.waitEvent("run.delta", r1.RunID)
	r2, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi"})
	if err != nil || r2.RunID != r1.RunID || r2.Status != bridge.StatusDuplicate {
		t.Fatalf("retry = %+v %v", r2, err)
	}
	e.srv.Broadcast("chat", map[string]any{"runId": r1.RunID, "sessionKey": aliceKey, "state": "final", "message": map[string]any{"role": "assistant", "content": "Echo: hi"}})
	if f := e.waitEvent("run.final", r1.RunID); f["text"] != "Echo: hi" {
		t.Fatalf("final = %v", f)
	}
	if n := len(e.srv.Calls("chat.send")); n != 1 {
		t.Fatalf("chat.send calls = %d", n)
	}
	// After the end, a retry still names the run, and a resync tells how it ended.
	r3, _ := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi"})
	if r3.RunID != r1.RunID || r3.Status != bridge.StatusDuplicate {
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
	e := newGWEnv(t, acceptSend)
	r1, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Broadcast("chat", map[string]any{"runId": r1.RunID, "sessionKey": aliceKey, "state": "delta", "deltaText": "Echo:", "message": map[string]any{"role": "assistant", "content": "Echo:"}})
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
	r2, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m2", Text: "next"})
	if err != nil || r2.Status != bridge.StatusQueued {
		t.Fatalf("send during the recovery turn = %+v %v", r2, err)
	}
	e.srv.StreamReply(gatewaytest.Reply{RunID: recovery, SessionKey: aliceKey, Chunks: []string{"Echo:", " recovered"}})
	if f := e.waitEvent("run.final", recovery); f["text"] != "Echo: recovered" {
		t.Fatalf("recovery final = %v", f)
	}
	e.waitEvent("run.started", r2.RunID) // the queued message goes once the recovery turn ended
}

// On reconnect the Gateway reports hasActiveRun with no activeRunIds and an inFlightRun that is
// its recovery turn: the cut run is resolved at once, not by the 3-minute stale-run watchdog.
func TestInFlightRunWithoutActiveRunIDs(t *testing.T) {
	e := newGWEnv(t, acceptSend)
	r1, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
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
		if n == 1 {
			return map[string]any{"runId": p.IdempotencyKey, "status": "started"}, nil
		}
		if p.Message == "refused" { // as OpenClaw 2026.9.6 answers a parked input after a restart
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
	r1, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "again", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	// The crash: nothing of the message is in the transcript, and nothing runs.
	e.setHistory(nil, []string{}, nil)
	e.srv.DropAll()
	if f := e.waitEvent("run.final", r1.RunID); f["text"] != "Echo: again" {
		t.Fatalf("resent message final = %v", f)
	}

	r2, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m2", Text: "refused"})
	if err != nil {
		t.Fatal(err)
	}
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
	// The Gateway's own error event for a parked input reaches the sender too.
	r3, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m3", Text: "third"})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Broadcast("chat", map[string]any{"runId": r3.RunID, "sessionKey": aliceKey, "seq": 1, "state": "error", "errorMessage": "Error: Pending input ownership ended; submit a new turn to continue"})
	e.waitEvent("run.error", r3.RunID)
}

// A bare final (no message, no text: merged into or parked behind another turn) is not relayed
// as the complete reply.
func TestBareFinalIsNotTheReply(t *testing.T) {
	e := newGWEnv(t, acceptSend)
	r1, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	e.setHistory([]any{userRow("other", "earlier"), userRow(r1.RunID, "hi")}, []string{"other"}, nil)
	e.srv.Broadcast("chat", map[string]any{"runId": r1.RunID, "sessionKey": aliceKey, "seq": 1, "state": "final"})
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
	e := newGWEnv(t, acceptSend)
	r1, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	e.setHistory([]any{userRow(r1.RunID, "hi")}, []string{}, nil) // idle: no recovery turn yet
	e.srv.DropAll()
	waitFor(t, func() bool { return len(e.srv.Calls("chat.history")) > 0 })
	r2, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m2", Text: "next"})
	if err != nil || r2.Status != bridge.StatusQueued {
		t.Fatalf("send while the cut run waits = %+v %v", r2, err)
	}
	system := map[string]any{"role": "user", "content": "[System] Your previous turn was interrupted by a gateway restart …",
		"idempotencyKey": "rec:user", "provenance": map[string]any{"kind": "internal_system", "sourceTool": "main_session_restart_recovery"}}
	e.setHistory([]any{userRow(r1.RunID, "hi"), system, assistantRow("rec", "Echo: recovered")}, []string{}, nil)
	if f := e.waitEvent("run.final", r1.RunID); f["text"] != "Echo: recovered" {
		t.Fatalf("cut run final = %v", f)
	}
	e.waitEvent("run.started", r2.RunID)
}

// After a restart OpenClaw resumes cut sessions one at a time (observed: the last of four
// sessions got its recovery turn 80 s after the Gateway was back). While chat.history says the
// session is still "running" with abortedLastRun and nothing runs, the cut run waits for it past
// the grace, instead of being reported interrupted and then answered anyway.
func TestRecoveryOwedWaitsPastGrace(t *testing.T) {
	e := newGWEnv(t, acceptSend, func(c *bridge.Config) { c.RecoveryGrace = time.Second })
	r1, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
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
	system := map[string]any{"role": "user", "content": "[System] Your previous turn was interrupted by a gateway restart …",
		"idempotencyKey": "rec:user", "provenance": map[string]any{"kind": "internal_system", "sourceTool": "main_session_restart_recovery"}}
	e.setHistory([]any{userRow(r1.RunID, "hi"), system, assistantRow("rec", "Echo: recovered")}, []string{}, nil)
	e.setSessionInfo(map[string]any{"status": "done"})
	if f := e.waitEvent("run.final", r1.RunID); f["text"] != "Echo: recovered" {
		t.Fatalf("cut run final = %v", f)
	}
}

// Once the Gateway no longer owes a recovery turn (status done, or it gave up: tombstoned), a cut
// run without a reply is reported interrupted after the grace.
func TestRecoveryNotOwedEndsAfterGrace(t *testing.T) {
	e := newGWEnv(t, acceptSend, func(c *bridge.Config) { c.RecoveryGrace = time.Second })
	r1, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
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
	r1, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "one", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Broadcast("chat", map[string]any{"runId": r1.RunID, "sessionKey": aliceKey, "state": "final", "message": map[string]any{"role": "assistant", "content": "Echo: one"}})
	e.waitEvent("run.final", r1.RunID)
	r2, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m2", Text: "two"})
	if err != nil || r2.Status != bridge.StatusStarted {
		t.Fatalf("second send = %+v %v", r2, err)
	}
	e.setHistory([]any{userRow(r1.RunID, "one"), assistantRow(r1.RunID, "Echo: one"), userRow(r2.RunID, "two")}, []string{r1.RunID}, nil)
	e.srv.Broadcast("chat", map[string]any{"runId": r2.RunID, "sessionKey": aliceKey, "seq": 1, "state": "final"})
	waitFor(t, func() bool { return len(e.srv.Calls("chat.history")) > 0 })
	e.srv.StreamReply(gatewaytest.Reply{RunID: r2.RunID, SessionKey: aliceKey, Chunks: []string{"Echo:", " two"}})
	if f := e.waitEvent("run.final", r2.RunID); f["text"] != "Echo: two" {
		t.Fatalf("final = %v", f)
	}
	if e.has("run.error", r2.RunID) {
		t.Fatalf("the parked message was ended: %v", e.rec.Names("alice"))
	}
}

// A run clawchat ended from history without a reply is reopened when the Gateway streams it
// after all, so the reply reaches the user.
func TestInferredEndReopened(t *testing.T) {
	e := newGWEnv(t, acceptSend)
	r1, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	e.setHistory([]any{userRow(r1.RunID, "hi")}, []string{"other"}, nil)
	e.srv.DropAll() // reconcile: continued by "other"
	e.waitEvent("run.error", r1.RunID)
	e.srv.StreamReply(gatewaytest.Reply{RunID: r1.RunID, SessionKey: aliceKey, Chunks: []string{"Echo:", " hi"}})
	if f := e.waitEvent("run.final", r1.RunID); f["text"] != "Echo: hi" {
		t.Fatalf("final = %v", f)
	}
	starts := 0
	for _, ev := range e.rec.Events("alice") {
		var p map[string]any
		_ = json.Unmarshal(ev.Payload, &p)
		if ev.Name == "run.started" && p["runId"] == r1.RunID {
			starts++
			if p["messageId"] != "m1" {
				t.Fatalf("reopened run.started = %v", p)
			}
		}
	}
	if starts != 2 {
		t.Fatalf("run.started for the run: %d, want 2 (start, reopen)", starts)
	}
}

// A turn the Gateway starts by itself while ours runs (a follow-up) is announced with
// run.started when it becomes the conversation's run.
func TestSideRunAnnouncedWhenPromoted(t *testing.T) {
	e := newGWEnv(t, acceptSend)
	r1, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m1", Text: "hi", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Broadcast("chat", map[string]any{"runId": "follow-up", "sessionKey": aliceKey, "state": "delta", "deltaText": "More", "message": map[string]any{"role": "assistant", "content": "More"}})
	e.waitEvent("run.delta", "follow-up")
	if e.has("run.started", "follow-up") {
		t.Fatal("a side run was announced while ours runs")
	}
	e.srv.Broadcast("chat", map[string]any{"runId": r1.RunID, "sessionKey": aliceKey, "state": "final", "message": map[string]any{"role": "assistant", "content": "Echo: hi"}})
	e.waitEvent("run.final", r1.RunID)
	if st := e.waitEvent("run.started", "follow-up"); st["text"] != nil {
		t.Fatalf("run.started of a Gateway turn = %v", st)
	}
	r2, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m2", Text: "next"})
	if err != nil || r2.Status != bridge.StatusQueued {
		t.Fatalf("send while the follow-up runs = %+v %v", r2, err)
	}
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
