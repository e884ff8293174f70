package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	alice = chat.User{ID: "alice", Name: "Alice", Role: chat.RoleMember}
	bob   = chat.User{ID: "bob", Name: "Bob", Role: chat.RoleMember}
	owner = chat.User{ID: "olga", Name: "Olga", Role: chat.RoleOwner}
)

type env struct {
	svc   *bridge.Service
	up    *bridgetest.Upstream
	store *bridgetest.Store
	rec   *bridgetest.Recorder
}

func newEnv(t *testing.T, mod func(*bridge.Config)) *env {
	t.Helper()
	e := &env{up: bridgetest.NewUpstream(), store: bridgetest.NewStore(), rec: bridgetest.NewRecorder()}
	cfg := bridge.Config{Upstream: e.up, Store: e.store, Publisher: e.rec, SendRate: 1000, SendBurst: 1000}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := bridge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	svc.SetGatewayState(bridge.StateConnected)
	t.Cleanup(svc.Wait)
	return e
}

func (e *env) event(t *testing.T, name string, p map[string]any) {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.HandleGatewayEvent(name, b)
	e.svc.WaitOrdered() // events of a session not seen yet are routed on its worker
}

func (e *env) send(t *testing.T, u chat.User, conv, id, text string) bridge.SendResult {
	t.Helper()
	res, err := e.svc.Send(context.Background(), u, bridge.SendParams{Conversation: conv, ID: id, Text: text, Create: true})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return res
}

func payload(t *testing.T, ev chat.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func find(t *testing.T, evs []chat.Event, name string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range evs {
		if ev.Name == name {
			out = append(out, payload(t, ev))
		}
	}
	return out
}

func TestSendStreamFinal(t *testing.T) {
	e := newEnv(t, nil)
	res := e.send(t, alice, "default", "m1", "hello")
	if res.Status != bridge.StatusStarted || !strings.HasPrefix(res.RunID, "cc-") {
		t.Fatalf("send = %+v", res)
	}
	sends := e.up.Calls("chat.send")
	if len(sends) != 1 || sends[0].Params["sessionKey"] != "agent:main:clawchat:alice:default" || sends[0].Params["idempotencyKey"] != res.RunID {
		t.Fatalf("chat.send = %+v", sends)
	}
	key := "agent:main:clawchat:alice:default"
	msg := func(s string) map[string]any {
		return map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": s}}}
	}
	e.event(t, "chat", map[string]any{"runId": res.RunID, "sessionKey": key, "state": "status", "phase": "starting_model"})
	e.event(t, "chat", map[string]any{"runId": res.RunID, "sessionKey": key, "state": "delta", "deltaText": "Echo:", "message": msg("Echo:")})
	e.event(t, "chat", map[string]any{"runId": res.RunID, "sessionKey": key, "state": "delta", "deltaText": " hi", "message": msg("Echo: hi")})
	// A snapshot that does not extend what was shown resyncs.
	e.event(t, "chat", map[string]any{"runId": res.RunID, "sessionKey": key, "state": "delta", "deltaText": "X", "message": msg("Other X")})
	e.event(t, "chat", map[string]any{"runId": res.RunID, "sessionKey": key, "state": "delta", "deltaText": "", "replace": true})
	e.event(t, "agent", map[string]any{"runId": res.RunID, "sessionKey": key, "stream": "thinking", "data": map[string]any{"text": "hmm", "delta": "hmm"}})
	e.event(t, "agent", map[string]any{"runId": res.RunID, "sessionKey": key, "stream": "tool", "data": map[string]any{"phase": "start", "name": "ls", "toolCallId": "c1", "args": map[string]any{"path": "/srv/secret"}}})
	e.event(t, "agent", map[string]any{"runId": res.RunID, "sessionKey": key, "stream": "tool", "data": map[string]any{"phase": "result", "name": "ls", "toolCallId": "c1", "isError": false, "result": map[string]any{"content": []any{map[string]any{"type": "text", "text": "a.txt"}}, "details": map[string]any{"path": "/srv"}}}})
	e.event(t, "agent", map[string]any{"runId": res.RunID, "sessionKey": key, "stream": "usage", "data": map[string]any{"outputTokens": 8}})
	e.event(t, "chat", map[string]any{"runId": res.RunID, "sessionKey": key, "state": "final", "stopReason": "stop", "message": msg("Echo: hello")})
	e.event(t, "chat", map[string]any{"runId": res.RunID, "sessionKey": key, "state": "final", "message": msg("dup")})

	evs := e.rec.Events("alice")
	// The first message names the conversation (conversation.updated).
	want := []string{"conversation.created", "run.started", "conversation.updated", "run.status", "run.delta", "run.delta", "run.delta", "run.delta", "run.reasoning", "run.tool", "run.tool", "run.usage", "run.final"}
	if got := e.rec.Names("alice"); !slices.Equal(got, want) {
		t.Fatalf("events = %v\nwant %v", got, want)
	}
	deltas := find(t, evs, "run.delta")
	if deltas[0]["text"] != "Echo:" || deltas[1]["text"] != " hi" || deltas[2]["replace"] != true || deltas[2]["text"] != "Other X" || deltas[3]["text"] != "" {
		t.Fatalf("deltas = %v", deltas)
	}
	tools := find(t, evs, "run.tool")
	if tools[1]["phase"] != "end" || tools[1]["result"] != "a.txt" {
		t.Fatalf("tools = %v", tools)
	}
	for _, ev := range evs {
		if strings.Contains(string(ev.Payload), `"/srv"`) || strings.Contains(string(ev.Payload), "sessionKey") {
			t.Fatalf("raw gateway data leaked: %s %s", ev.Name, ev.Payload)
		}
	}
	if f := find(t, evs, "run.final"); f[0]["text"] != "Echo: hello" || f[0]["conversation"] != "default" {
		t.Fatalf("final = %v", f)
	}
	if len(e.rec.Events("bob")) != 0 {
		t.Fatal("bob received alice's events")
	}
}

func TestIdempotentRetry(t *testing.T) {
	e := newEnv(t, nil)
	a := e.send(t, alice, "default", "m1", "hi")
	b := e.send(t, alice, "default", "m1", "hi")
	if b.Status != bridge.StatusDuplicate || b.RunID != a.RunID {
		t.Fatalf("retry = %+v, first %+v", b, a)
	}
	// Finished runs stay duplicates too.
	e.event(t, "chat", map[string]any{"runId": a.RunID, "sessionKey": "agent:main:clawchat:alice:default", "state": "final", "message": map[string]any{"role": "assistant", "content": "ok"}})
	if c := e.send(t, alice, "default", "m1", "hi"); c.Status != bridge.StatusDuplicate || c.RunID != a.RunID {
		t.Fatalf("retry after final = %+v", c)
	}
	if n := len(e.up.Calls("chat.send")); n != 1 {
		t.Fatalf("chat.send called %d times", n)
	}
	// The same client id from another user or conversation is a different run.
	if x := e.send(t, bob, "default", "m1", "hi"); x.RunID == a.RunID {
		t.Fatal("idempotency key does not include the user")
	}
	if x := e.send(t, alice, "other", "m1", "hi"); x.RunID == a.RunID {
		t.Fatal("idempotency key does not include the conversation")
	}
}

func TestBusyConversationQueues(t *testing.T) {
	e := newEnv(t, nil)
	key := "agent:main:clawchat:alice:default"
	r1 := e.send(t, alice, "default", "m1", "first")
	r2 := e.send(t, alice, "default", "m2", "second")
	r3 := e.send(t, alice, "default", "m3", "third")
	if r2.Status != bridge.StatusQueued || r3.Status != bridge.StatusQueued {
		t.Fatalf("busy sends = %+v %+v", r2, r3)
	}
	if n := len(e.up.Calls("chat.send")); n != 1 {
		t.Fatalf("chat.send while busy: %d calls", n)
	}
	// Aborting a queued message removes it.
	if ok, err := e.svc.Abort(context.Background(), alice, "default", r3.RunID); err != nil || !ok {
		t.Fatalf("abort queued = %v %v", ok, err)
	}
	if n := len(e.up.Calls("chat.abort")); n != 0 {
		t.Fatal("aborting a queued message reached the Gateway")
	}
	e.event(t, "chat", map[string]any{"runId": r1.RunID, "sessionKey": key, "state": "final", "message": map[string]any{"role": "assistant", "content": "one"}})
	e.svc.Wait()
	sends := e.up.Calls("chat.send")
	if len(sends) != 2 || sends[1].Params["idempotencyKey"] != r2.RunID || sends[1].Params["message"] != "second" {
		t.Fatalf("after final, sends = %+v", sends)
	}
	e.event(t, "chat", map[string]any{"runId": r2.RunID, "sessionKey": key, "state": "final", "message": map[string]any{"role": "assistant", "content": "two"}})
	e.svc.Wait()
	if n := len(e.up.Calls("chat.send")); n != 2 {
		t.Fatalf("the aborted queued message was sent: %d", n)
	}
	names := e.rec.Names("alice")
	if !slices.Contains(names, "run.queued") || strings.Count(strings.Join(names, ","), "run.started") != 2 {
		t.Fatalf("events = %v", names)
	}
}

func TestQueueBound(t *testing.T) {
	e := newEnv(t, func(c *bridge.Config) { c.MaxQueued = 2 })
	e.send(t, alice, "default", "m0", "x")
	e.send(t, alice, "default", "m1", "x")
	e.send(t, alice, "default", "m2", "x")
	_, err := e.svc.Send(context.Background(), alice, bridge.SendParams{Conversation: "default", ID: "m3", Text: "x"})
	if !errors.Is(err, chat.ErrLimitReached) {
		t.Fatalf("err = %v", err)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t, func(c *bridge.Config) {
		c.MaxTextBytes = 10
		c.MaxConcurrentRuns = 1
		c.MaxConversations = 2
		c.SendRate, c.SendBurst = 0.0001, 2
	})
	ctx := context.Background()
	if _, err := e.svc.Send(ctx, alice, bridge.SendParams{Conversation: "a", ID: "1", Text: strings.Repeat("x", 11), Create: true}); !errors.Is(err, chat.ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	e.send(t, alice, "a", "1", "x")
	if _, err := e.svc.Send(ctx, alice, bridge.SendParams{Conversation: "b", ID: "2", Text: "x", Create: true}); !errors.Is(err, chat.ErrLimitReached) {
		t.Fatalf("concurrent runs: %v", err)
	}
	if _, err := e.svc.Create(ctx, alice, bridge.CreateParams{}); !errors.Is(err, chat.ErrLimitReached) {
		t.Fatalf("conversations: %v", err)
	}
	if _, err := e.svc.Send(ctx, alice, bridge.SendParams{Conversation: "a", ID: "4", Text: "x"}); !errors.Is(err, chat.ErrRateLimited) {
		t.Fatalf("rate: %v", err)
	}
	if len(find(t, e.rec.Events("alice"), "error")) < 3 {
		t.Fatalf("error events missing: %v", e.rec.Names("alice"))
	}
	atts := []bridge.Attachment{{Name: "x.png", MimeType: "image/png", Content: strings.Repeat("QUFB", 3<<20)}}
	e2 := newEnv(t, func(c *bridge.Config) {
		c.GatewayLimits = func() bridge.Limits { return bridge.Limits{MaxImageBytes: 1 << 20, MaxAttachmentBytes: 1 << 20} }
	})
	if _, err := e2.svc.Send(ctx, alice, bridge.SendParams{Conversation: "a", ID: "1", Text: "x", Attachments: atts, Create: true}); !errors.Is(err, chat.ErrTooLarge) {
		t.Fatalf("attachment: %v", err)
	}
	if len(e2.up.Calls("chat.send")) != 0 {
		t.Fatal("oversized attachment reached the Gateway")
	}
}

func TestCrossUserRefused(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.send(t, alice, "secret", "m1", "hi")
	e.svc.Wait() // alice's conversation is named and labelled in the background
	before := len(e.up.Calls(""))
	ids := []string{"secret", "nope", "../secret", "%2e%2e", "SECRET", "agent:main:main", "agent:main:clawchat:alice:secret",
		"gw:agent:main:main", "gw:agent:main:clawchat:alice:secret", "main", "", "a/b", strings.Repeat("a", 65)}
	for _, id := range ids {
		var errs []error
		_, err := e.svc.Get(ctx, bob, id)
		errs = append(errs, err)
		_, err = e.svc.History(ctx, bob, id, 10, "")
		errs = append(errs, err)
		_, err = e.svc.Send(ctx, bob, bridge.SendParams{Conversation: id, ID: "x", Text: "hi"})
		errs = append(errs, err)
		_, err = e.svc.Abort(ctx, bob, id, "")
		errs = append(errs, err)
		_, err = e.svc.Update(ctx, bob, id, bridge.UpdateParams{})
		errs = append(errs, err)
		errs = append(errs, e.svc.Delete(ctx, bob, id))
		for i, err := range errs {
			if !errors.Is(err, chat.ErrNotFound) || err.Error() != "conversation not found: not found" {
				t.Errorf("bob op %d on %q: %v", i, id, err)
			}
		}
	}
	if after := len(e.up.Calls("")); after != before {
		t.Fatalf("refused operations reached the Gateway: %v", e.up.Calls("")[before:])
	}
	list, gw, err := e.svc.List(ctx, bob, false)
	if err != nil || len(list) != 0 || gw != nil {
		t.Fatalf("bob list = %v %v %v", list, gw, err)
	}
	// Events of alice's run never reach bob.
	for _, ev := range e.rec.Events("bob") {
		t.Fatalf("bob got %s", ev.Name)
	}
}

func TestOwnerGatewaySessions(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.up.Handle("sessions.list", func(map[string]any) (any, error) {
		return map[string]any{"path": "/srv/secret.db", "sessions": []any{
			map[string]any{"key": "agent:main:main", "agentId": "main"},
			map[string]any{"key": "agent:main:clawchat:alice:default", "agentId": "main"},
			map[string]any{"key": "agent:main:telegram:direct:42", "label": "Tg"},
		}}, nil
	})
	_, gw, err := e.svc.List(ctx, owner, false)
	if err != nil || len(gw) != 2 || gw[0].ID != "gw:agent:main:main" || gw[1].Title != "Tg" {
		t.Fatalf("gateway list = %+v %v", gw, err)
	}
	res, err := e.svc.Send(ctx, owner, bridge.SendParams{Conversation: "gw:agent:main:main", ID: "m1", Text: "hi"})
	if err != nil || res.Status != bridge.StatusStarted {
		t.Fatalf("owner send = %+v %v", res, err)
	}
	if e.up.Calls("chat.send")[0].Params["sessionKey"] != "agent:main:main" {
		t.Fatal("wrong key")
	}
	// A channel run in the main session reaches the owner who opened it, nobody else.
	e.event(t, "chat", map[string]any{"runId": "chan-1", "sessionKey": "agent:main:main", "state": "delta", "deltaText": "x"})
	e.event(t, "chat", map[string]any{"runId": "chan-2", "sessionKey": "agent:main:discord:x", "state": "delta", "deltaText": "x"})
	if n := len(find(t, e.rec.Events("olga"), "run.delta")); n != 1 {
		t.Fatalf("owner deltas = %d", n)
	}
	// Regression (issue 16, item 6): the Gateway lowercases keys, so an upper-case namespace
	// named the same member conversation.
	for _, id := range []string{"gw:agent:main:clawchat:alice:default", "gw:agent:main:CLAWCHAT:alice:default", "gw:agent:main:ClawChat:ALICE:Default"} {
		if _, err := e.svc.History(ctx, owner, id, 10, ""); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("owner reading a member's conversation through %s: %v", id, err)
		}
		if _, err := e.svc.Send(ctx, owner, bridge.SendParams{Conversation: id, ID: "m-" + id, Text: "hi"}); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("owner sending into a member's conversation through %s: %v", id, err)
		}
	}
	if n := len(e.up.Calls("chat.history")); n != 0 {
		t.Fatalf("chat.history reached the Gateway %d times for refused ids", n)
	}
}

func TestAbortActiveRun(t *testing.T) {
	e := newEnv(t, nil)
	r := e.send(t, alice, "default", "m1", "long")
	ok, err := e.svc.Abort(context.Background(), alice, "default", "")
	if err != nil || !ok {
		t.Fatalf("abort = %v %v", ok, err)
	}
	ab := e.up.Calls("chat.abort")
	if len(ab) != 1 || ab[0].Params["runId"] != r.RunID || ab[0].Params["sessionKey"] != "agent:main:clawchat:alice:default" {
		t.Fatalf("chat.abort = %+v", ab)
	}
	e.event(t, "chat", map[string]any{"runId": r.RunID, "sessionKey": "agent:main:clawchat:alice:default", "state": "delta", "deltaText": "partial"})
	e.event(t, "chat", map[string]any{"runId": r.RunID, "sessionKey": "agent:main:clawchat:alice:default", "state": "aborted", "stopReason": "rpc"})
	ab2 := find(t, e.rec.Events("alice"), "run.aborted")
	if len(ab2) != 1 || ab2[0]["text"] != "partial" {
		t.Fatalf("aborted = %v", ab2)
	}
}

func TestReconcileAfterReconnect(t *testing.T) {
	e := newEnv(t, nil)
	r := e.send(t, alice, "default", "m1", "hi")
	e.event(t, "chat", map[string]any{"runId": r.RunID, "sessionKey": "agent:main:clawchat:alice:default", "state": "delta", "deltaText": "Ec"})
	e.svc.SetGatewayState(bridge.StateReconnecting)
	// The final is lost during the drop; history has it.
	e.up.Handle("chat.history", func(map[string]any) (any, error) {
		return map[string]any{
			"messages": []any{
				map[string]any{"role": "user", "content": "hi", "idempotencyKey": r.RunID + ":user"},
				map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": "Echo: hi"}}},
			},
			"sessionInfo": map[string]any{"hasActiveRun": false, "activeRunIds": []any{}},
		}, nil
	})
	e.svc.SetGatewayState(bridge.StateConnected)
	e.svc.Wait()
	f := find(t, e.rec.Events("alice"), "run.final")
	if len(f) != 1 || f[0]["text"] != "Echo: hi" || f[0]["runId"] != r.RunID {
		t.Fatalf("final from history = %v (events %v)", f, e.rec.Names("alice"))
	}
	states := find(t, e.rec.Events("alice"), "gateway.status")
	if len(states) < 2 {
		t.Fatalf("gateway.status events = %v", states)
	}
	// A late final for the resolved run is dropped.
	e.event(t, "chat", map[string]any{"runId": r.RunID, "sessionKey": "agent:main:clawchat:alice:default", "state": "final"})
	if n := len(find(t, e.rec.Events("alice"), "run.final")); n != 1 {
		t.Fatalf("finals = %d", n)
	}
}

func TestRunStartedElsewhereIsRouted(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.svc.Create(ctx, alice, bridge.CreateParams{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	e.event(t, "chat", map[string]any{"runId": "other-instance", "sessionKey": "agent:main:clawchat:alice:x", "state": "delta", "deltaText": "hey"})
	e.event(t, "chat", map[string]any{"runId": "forged", "sessionKey": "agent:main:clawchat:bob:x", "state": "delta", "deltaText": "no"})
	if n := len(find(t, e.rec.Events("alice"), "run.delta")); n != 1 {
		t.Fatalf("alice deltas = %d", n)
	}
	if len(e.rec.Events("bob")) != 0 {
		t.Fatal("event of a session nobody owns was delivered")
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.send(t, alice, "default", "m1", "hi")
	e.svc.Wait() // background naming and labelling of the conversations above
	if err := e.svc.Delete(ctx, alice, "default"); err != nil {
		t.Fatal(err)
	}
	p := patchesWithout(e.up.Calls("sessions.patch"), "label") // the member policy at creation, then archived
	d := e.up.Calls("sessions.delete")
	if len(p) != 2 || p[1].Params["archived"] != true || len(d) != 1 || d[0].Params["archivedOnly"] != true {
		t.Fatalf("patch %v delete %v", p, d)
	}
	if _, err := e.svc.Get(ctx, alice, "default"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatal("still there")
	}
}

func TestHistoryConversion(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.svc.Create(ctx, alice, bridge.CreateParams{ID: "h"}); err != nil {
		t.Fatal(err)
	}
	e.up.Handle("chat.history", func(p map[string]any) (any, error) {
		if p["offset"] != float64(4) || p["limit"] != float64(2) {
			return nil, fmt.Errorf("params %v", p)
		}
		return map[string]any{"hasMore": true, "nextOffset": 6, "messages": []any{
			map[string]any{"role": "assistant", "__openclaw": map[string]any{"id": "e1", "runId": "r1"}, "timestamp": 1795275302834,
				"content": []any{map[string]any{"type": "thinking", "thinking": "plan"}, map[string]any{"type": "toolCall", "id": "call_1", "name": "ls", "arguments": map[string]any{"path": "."}}}},
			map[string]any{"role": "toolResult", "toolCallId": "call_1", "toolName": "ls", "content": []any{map[string]any{"type": "text", "text": "a.txt"}}},
			map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": "partial"}}, "usage": map[string]any{"input": 12, "output": 8, "cost": map[string]any{"total": 0.5}},
				"openclawAbort": map[string]any{"aborted": true, "runId": "r2"}},
			map[string]any{"role": "system", "__openclaw": map[string]any{"kind": "compaction"}},
		}}, nil
	})
	page, err := e.svc.History(ctx, alice, "h", 2, "4")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 3 || !page.HasMore || page.Cursor != "6" {
		t.Fatalf("page = %+v", page)
	}
	m0, m1, m2 := page.Messages[0], page.Messages[1], page.Messages[2]
	if m0.ID != "e1" || m0.Reasoning != "plan" || len(m0.Tools) != 1 || m0.Tools[0].Result != "a.txt" || m0.Tools[0].Args != `{"path":"."}` || m0.RunID != "r1" {
		t.Fatalf("m0 = %+v", m0)
	}
	if !m1.Aborted || m1.RunID != "r2" || m1.Usage == nil || m1.Usage.Cost == nil || *m1.Usage.Cost != 0.5 {
		t.Fatalf("m1 = %+v", m1)
	}
	if m2.Kind != "compaction" {
		t.Fatalf("m2 = %+v", m2)
	}
	if _, err := e.svc.History(ctx, alice, "h", 2, "x"); !errors.Is(err, chat.ErrInvalid) {
		t.Fatal("bad cursor accepted")
	}
}

func TestManyUsersConcurrent(t *testing.T) {
	e := newEnv(t, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		u := chat.User{ID: fmt.Sprint("u", i), Role: chat.RoleMember}
		wg.Go(func() {
			for j := range 5 {
				res, err := e.svc.Send(context.Background(), u, bridge.SendParams{Conversation: "default", ID: fmt.Sprint("m", j), Text: "hi", Create: true})
				if err != nil {
					t.Error(err)
					return
				}
				if res.Status == bridge.StatusStarted {
					b, _ := json.Marshal(map[string]any{"runId": res.RunID, "sessionKey": "agent:main:clawchat:" + u.ID + ":default", "state": "final", "message": map[string]any{"role": "assistant", "content": "ok"}})
					e.svc.HandleGatewayEvent("chat", b)
				}
			}
		})
	}
	wg.Wait()
	e.svc.Wait()
	for i := range 20 {
		uid := fmt.Sprint("u", i)
		for _, ev := range e.rec.Events(uid) {
			if c, ok := payload(t, ev)["conversation"]; ok && c != "default" {
				t.Fatalf("%s got %v", uid, c)
			}
		}
	}
}

func TestFirstMessageNamesConversation(t *testing.T) {
	e := newEnv(t, nil)
	e.send(t, alice, "default", "m1", "\n  Plan   the trip to Lisbon\nwith details")
	ups := find(t, e.rec.Events("alice"), "conversation.updated")
	if len(ups) != 1 || ups[0]["title"] != "Plan the trip to Lisbon" {
		t.Fatalf("conversation.updated = %v", ups)
	}
	c, err := e.store.Conversation(t.Context(), "alice", "default")
	if err != nil || c.Title != "Plan the trip to Lisbon" {
		t.Fatalf("stored title %q %v", c.Title, err)
	}
	// Later messages keep the title.
	e.send(t, alice, "default", "m2", "something else entirely")
	if n := len(find(t, e.rec.Events("alice"), "conversation.updated")); n != 1 {
		t.Fatalf("%d conversation.updated events after a second message, want 1", n)
	}
}

// Regression (issue 16, item 3): the watch list of Gateway sessions was never pruned and events
// were delivered without checking the current role, so an owner demoted to member kept receiving
// the run events (text included) of a Gateway session they had opened while owner.
func TestDemotedOwnerStopsReceivingGatewayEvents(t *testing.T) {
	var mu sync.Mutex
	owners := map[string]bool{"olga": true}
	now := time.Unix(1_800_000_000, 0)
	e := newEnv(t, func(c *bridge.Config) {
		c.Owners = func(context.Context) ([]string, error) {
			mu.Lock()
			defer mu.Unlock()
			var ids []string
			for id, ok := range owners {
				if ok {
					ids = append(ids, id)
				}
			}
			return ids, nil
		}
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	ctx := context.Background()
	owner := chat.User{ID: "olga", Name: "Olga", Role: chat.RoleOwner}
	if _, err := e.svc.History(ctx, owner, "gw:agent:main:main", 10, ""); err != nil {
		t.Fatal(err)
	}
	deltas := func() int { return len(find(t, e.rec.Events("olga"), "run.delta")) }
	// A change that leaves olga an owner (a sign-in, another device signing out) keeps her watch.
	e.svc.UserChanged("olga")
	e.event(t, "chat", map[string]any{"runId": "chan-1", "sessionKey": "agent:main:main", "state": "delta", "deltaText": "secret 1"})
	if deltas() != 1 {
		t.Fatalf("owner did not receive the Gateway session's run")
	}
	// Demoted while a run goes on, without the service being told: the next delivery after the
	// cache's few seconds checks the role again.
	mu.Lock()
	owners["olga"] = false
	now = now.Add(5 * time.Second)
	mu.Unlock()
	e.event(t, "chat", map[string]any{"runId": "chan-1", "sessionKey": "agent:main:main", "state": "delta", "deltaText": "secret 2"})
	if n := deltas(); n != 1 {
		t.Fatalf("demoted owner got %d deltas of a running Gateway run, want no more than the 1 before", n)
	}
	// Told at once (the composition root calls UserChanged): the watch list forgets them, and a
	// new run in that session is not routed to them.
	e.svc.UserChanged("olga")
	e.event(t, "chat", map[string]any{"runId": "chan-2", "sessionKey": "agent:main:main", "state": "delta", "deltaText": "secret 3"})
	for _, ev := range e.rec.Events("olga") {
		if strings.Contains(string(ev.Payload), "secret 2") || strings.Contains(string(ev.Payload), "secret 3") || strings.Contains(string(ev.Payload), "chan-2") {
			t.Fatalf("demoted owner received %s %s", ev.Name, ev.Payload)
		}
	}
	// Promoted again and reopening the session: events flow again.
	mu.Lock()
	owners["olga"] = true
	mu.Unlock()
	e.svc.UserChanged("olga")
	if _, err := e.svc.History(ctx, owner, "gw:agent:main:main", 10, ""); err != nil {
		t.Fatal(err)
	}
	e.event(t, "chat", map[string]any{"runId": "chan-3", "sessionKey": "agent:main:main", "state": "delta", "deltaText": "hello again"})
	if n := deltas(); n != 2 {
		t.Fatalf("re-promoted owner deltas = %d, want 2", n)
	}
	// An owner created after the owners were last read (nobody told the service) still gets the
	// events of a Gateway session they open: a "no" is read again.
	mu.Lock()
	owners["oscar"] = true
	now = now.Add(300 * time.Millisecond)
	mu.Unlock()
	oscar := chat.User{ID: "oscar", Name: "Oscar", Role: chat.RoleOwner}
	if _, err := e.svc.History(ctx, oscar, "gw:agent:main:other", 10, ""); err != nil {
		t.Fatal(err)
	}
	e.event(t, "chat", map[string]any{"runId": "chan-4", "sessionKey": "agent:main:other", "state": "delta", "deltaText": "for oscar"})
	if n := len(find(t, e.rec.Events("oscar"), "run.delta")); n != 1 {
		t.Fatalf("new owner deltas = %d, want 1", n)
	}
}

// patchesWithout returns the sessions.patch calls that do not set field (the titles' label
// patches are checked in bridge/titles).
func patchesWithout(calls []bridgetest.Call, field string) []bridgetest.Call {
	var out []bridgetest.Call
	for _, c := range calls {
		if _, ok := c.Params[field]; !ok {
			out = append(out, c)
		}
	}
	return out
}
