package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
	"github.com/clawchat/clawchat/internal/testkit/gatewaytest"
)

var owner2 = chat.User{ID: "otto", Name: "Otto", Role: chat.RoleOwner}

// auditLog collects Config.Audit entries.
type auditLog struct {
	mu      sync.Mutex
	entries []chat.AuditEntry
}

func (l *auditLog) add(_ context.Context, e chat.AuditEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
}

func (l *auditLog) all() []chat.AuditEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

func approvalEnv(t *testing.T, audit *auditLog, mod func(*bridge.Config)) *env {
	t.Helper()
	e := newEnv(t, func(c *bridge.Config) {
		c.Approvals = true
		c.Owners = func(context.Context) ([]string, error) { return []string{owner.ID, owner2.ID}, nil }
		if audit != nil {
			c.Audit = audit.add
		}
		if mod != nil {
			mod(c)
		}
	})
	e.svc.Wait() // the backfill that connecting started; a late one would drop what tests add
	return e
}

func requested(id, sessionKey string, expiresAtMs int64) map[string]any {
	return map[string]any{
		"id": id, "approvalKind": "exec", "createdAtMs": 1, "expiresAtMs": expiresAtMs,
		"request": map[string]any{
			"command": "rm -rf /tmp/x", "cwd": "/home/claw/work", "host": "gateway", "agentId": "main",
			"sessionKey": sessionKey, "sessionId": "sess-secret-id", "runId": "run-1", "toolCallId": "call-1",
			"env": map[string]any{"TOKEN": "s3cr3t"}, "warningText": "deletes files",
		},
	}
}

func far() int64 { return time.Now().Add(time.Hour).UnixMilli() }

func TestApprovalOwnersOnlyAndResolve(t *testing.T) {
	audit := &auditLog{}
	e := approvalEnv(t, audit, nil)
	ctx := context.Background()
	e.send(t, owner, "work", "m1", "hi")  // olga's own conversation
	e.send(t, alice, "notes", "m1", "hi") // a member's conversation
	exp := far()
	e.event(t, "exec.approval.requested", requested("a1", "agent:main:clawchat:olga:work", exp))
	e.event(t, "exec.approval.requested", requested("a2", "agent:main:clawchat:alice:notes", exp))
	e.event(t, "exec.approval.requested", requested("a3", "agent:main:main", exp))
	e.event(t, "exec.approval.requested", requested("a1", "agent:main:clawchat:olga:work", exp)) // duplicate

	got := find(t, e.rec.Events(owner.ID), "approval.requested")
	if len(got) != 3 {
		t.Fatalf("olga got %d approval.requested: %v", len(got), got)
	}
	want := map[string]any{"id": "a1", "command": "rm -rf /tmp/x", "cwd": "/home/claw/work", "host": "gateway", "agentId": "main",
		"conversation": "work", "expiresAtMs": float64(exp), "warningText": "deletes files",
		"requestedBy": "olga", "conversationTitle": "hi", "createdAtMs": float64(1)}
	if d := cmp.Diff(want, got[0]); d != "" {
		t.Fatalf("approval.requested payload (-want +got):\n%s", d)
	}
	if _, ok := got[1]["conversation"]; ok {
		t.Fatalf("another user's conversation id leaked to the owner: %v", got[1])
	}
	if got[1]["requestedBy"] != "alice" || got[1]["conversationTitle"] != "hi" {
		t.Fatalf("the card does not say who asked, where: %v", got[1])
	}
	// The member learns that their command waits for an owner, then the outcome.
	if w := find(t, e.rec.Events("alice"), "run.approval"); len(w) != 1 || w[0]["state"] != "waiting" || w[0]["conversation"] != "notes" {
		t.Fatalf("member's run.approval = %v", w)
	}
	if got[2]["conversation"] != "gw:agent:main:main" {
		t.Fatalf("gateway session conversation = %v", got[2]["conversation"])
	}
	for _, ev := range e.rec.Events(owner.ID) {
		if s := string(ev.Payload); strings.Contains(s, "s3cr3t") || strings.Contains(s, "sess-secret-id") || strings.Contains(s, "call-1") {
			t.Fatalf("raw request fields leaked: %s", s)
		}
	}
	// The other owner sees a1 without a conversation (it is olga's).
	other := find(t, e.rec.Events(owner2.ID), "approval.requested")
	if len(other) != 3 || other[0]["id"] != "a1" || other[0]["conversation"] != nil {
		t.Fatalf("otto got %v", other)
	}
	// Members never hear of approvals and cannot list or resolve them.
	for _, ev := range e.rec.Events(alice.ID) {
		if strings.HasPrefix(ev.Name, "approval.") {
			t.Fatalf("member got %s", ev.Name)
		}
	}
	if _, err := e.svc.Approvals(ctx, alice); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("member list: %v", err)
	}
	if err := e.svc.ResolveApproval(ctx, alice, "a2", bridge.DecisionAllowOnce); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("member resolve: %v", err)
	}
	if n := len(e.up.Calls("exec.approval.resolve")); n != 0 {
		t.Fatalf("a member's resolve reached the Gateway (%d calls)", n)
	}

	list, err := e.svc.Approvals(ctx, owner)
	if err != nil || len(list) != 3 {
		t.Fatalf("owner list = %v, %v", list, err)
	}
	if err := e.svc.ResolveApproval(ctx, owner, "a1", "allow-forever"); !errors.Is(err, chat.ErrInvalid) {
		t.Fatalf("bad decision: %v", err)
	}
	if err := e.svc.ResolveApproval(ctx, owner, "nope", bridge.DecisionDeny); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if n := len(e.up.Calls("exec.approval.resolve")); n != 0 {
		t.Fatalf("refused resolves reached the Gateway (%d calls)", n)
	}
	if err := e.svc.ResolveApproval(ctx, owner, "a1", bridge.DecisionAllowOnce); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	calls := e.up.Calls("exec.approval.resolve")
	if len(calls) != 1 || calls[0].Params["id"] != "a1" || calls[0].Params["decision"] != "allow-once" {
		t.Fatalf("exec.approval.resolve calls = %+v", calls)
	}
	// The Gateway's own broadcast of the same resolution is not announced twice.
	e.event(t, "exec.approval.resolved", map[string]any{"id": "a1", "decision": "allow-once", "resolvedBy": "device-x", "ts": 5})
	e.event(t, "exec.approval.resolved", map[string]any{"id": "a3", "decision": "deny", "resolvedBy": "device-x"})
	for _, u := range []chat.User{owner, owner2} {
		res := find(t, e.rec.Events(u.ID), "approval.resolved")
		wantRes := []map[string]any{{"id": "a1", "decision": "allow-once"}, {"id": "a3", "decision": "deny"}}
		if d := cmp.Diff(wantRes, res); d != "" {
			t.Fatalf("%s approval.resolved (-want +got):\n%s", u.ID, d)
		}
	}
	list, _ = e.svc.Approvals(ctx, owner)
	if len(list) != 1 || list[0].ID != "a2" {
		t.Fatalf("after resolve list = %+v", list)
	}
	// An id the Gateway no longer knows disappears and answers not found.
	e.up.Handle("exec.approval.resolve", func(map[string]any) (any, error) {
		return nil, &gateway.Error{Code: gateway.CodeApprovalNotFound, Message: "approval expired or not found"}
	})
	if err := e.svc.ResolveApproval(ctx, owner, "a2", bridge.DecisionDeny); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("gone approval: %v", err)
	}
	if list, _ = e.svc.Approvals(ctx, owner); len(list) != 0 {
		t.Fatalf("list = %+v", list)
	}
	// Decisions are audited (no command text).
	var decisions []string
	for _, a := range audit.all() {
		if a.Action == "approval.resolve" {
			decisions = append(decisions, a.Actor+" "+a.Target+" "+a.Detail)
			if strings.Contains(a.Detail, "rm -rf") {
				t.Fatalf("audit detail holds the command: %q", a.Detail)
			}
		}
	}
	if len(decisions) != 2 || !strings.HasPrefix(decisions[0], "olga a1 ") || !strings.Contains(decisions[0], `"decision":"allow-once"`) {
		t.Fatalf("audit = %v", decisions)
	}
}

func TestApprovalsDisabled(t *testing.T) {
	e := newEnv(t, nil)
	e.svc.List(context.Background(), owner, false) //nolint:errcheck // marks olga as a known owner
	e.event(t, "exec.approval.requested", requested("a1", "agent:main:main", far()))
	if got := find(t, e.rec.Events(owner.ID), "approval.requested"); len(got) != 0 {
		t.Fatalf("approvals are off but got %v", got)
	}
	if list, err := e.svc.Approvals(context.Background(), owner); err != nil || len(list) != 0 {
		t.Fatalf("list = %v %v", list, err)
	}
}

func TestApprovalOwnersSeenWithoutOwnersHook(t *testing.T) {
	e := newEnv(t, func(c *bridge.Config) { c.Approvals = true })
	e.svc.Wait()
	if _, err := e.svc.Approvals(context.Background(), owner); err != nil {
		t.Fatal(err)
	}
	e.event(t, "exec.approval.requested", requested("a1", "agent:main:main", far()))
	if got := find(t, e.rec.Events(owner.ID), "approval.requested"); len(got) != 1 {
		t.Fatalf("owner who listed got %v", got)
	}
	if got := find(t, e.rec.Events(owner2.ID), "approval.requested"); len(got) != 0 {
		t.Fatalf("unknown owner got %v", got)
	}
}

func TestApprovalBackfillReconcile(t *testing.T) {
	e := approvalEnv(t, nil, nil)
	exp := far()
	var mu sync.Mutex
	rows := []any{requested("b1", "agent:main:main", exp), requested("b2", "agent:main:main", exp)}
	var during func() // runs while the Gateway computes the list
	e.up.Handle("exec.approval.list", func(map[string]any) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		if during != nil {
			during()
			during = nil
		}
		return rows, nil
	})
	// newEnv already connected once; disconnect and come back.
	e.svc.SetGatewayState(bridge.StateReconnecting)
	e.svc.SetGatewayState(bridge.StateConnected)
	e.svc.Wait()
	ids := func() []string { // sorted
		list, err := e.svc.Approvals(context.Background(), owner)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range list {
			out = append(out, a.ID)
		}
		slices.Sort(out)
		return out
	}
	if got := ids(); !slices.Equal(got, []string{"b1", "b2"}) {
		t.Fatalf("after backfill = %v", got)
	}
	// While disconnected b1 was resolved and b3 requested; a live b4 arrives while the list is
	// being answered (after the Gateway computed it), so the list does not name it: it stays.
	mu.Lock()
	rows = []any{requested("b2", "agent:main:main", exp), requested("b3", "agent:main:main", exp)}
	during = func() { e.event(t, "exec.approval.requested", requested("b4", "agent:main:main", exp)) }
	mu.Unlock()
	e.svc.SetGatewayState(bridge.StateReconnecting)
	e.svc.SetGatewayState(bridge.StateConnected)
	e.svc.Wait()
	if got := ids(); !slices.Equal(got, []string{"b2", "b3", "b4"}) {
		t.Fatalf("after reconnect = %v", got)
	}
	res := find(t, e.rec.Events(owner.ID), "approval.resolved")
	if len(res) != 1 || res[0]["id"] != "b1" || res[0]["decision"] != bridge.DecisionExpired {
		t.Fatalf("resolved = %v", res)
	}
	// A backfill that still lists an id resolved meanwhile does not bring it back.
	e.event(t, "exec.approval.resolved", map[string]any{"id": "b3", "decision": "deny"})
	mu.Lock()
	rows = []any{requested("b2", "agent:main:main", exp), requested("b3", "agent:main:main", exp), requested("b4", "agent:main:main", exp)}
	mu.Unlock()
	e.svc.EventGap()
	e.svc.Wait()
	if got := ids(); !slices.Equal(got, []string{"b2", "b4"}) {
		t.Fatalf("after gap backfill = %v", got)
	}
	if n := len(find(t, e.rec.Events(owner.ID), "approval.requested")); n != 4 {
		t.Fatalf("approval.requested count = %d, want 4 (b1..b4 once each)", n)
	}
}

func TestApprovalExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := approvalEnv(t, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = e.svc.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done }) // before newEnv's cleanup waits for the service
		now := time.Now()
		e.event(t, "exec.approval.requested", requested("x1", "agent:main:main", now.Add(2*time.Minute).UnixMilli()))
		e.event(t, "exec.approval.requested", requested("x2", "agent:main:main", now.Add(5*time.Minute).UnixMilli()))
		e.event(t, "exec.approval.requested", requested("old", "agent:main:main", now.Add(-time.Second).UnixMilli()))
		synctest.Wait()
		if n := len(find(t, e.rec.Events(owner.ID), "approval.requested")); n != 2 {
			t.Fatalf("requested = %d, want 2 (an expired request is ignored)", n)
		}
		time.Sleep(2*time.Minute + time.Millisecond)
		synctest.Wait()
		res := find(t, e.rec.Events(owner.ID), "approval.resolved")
		if len(res) != 1 || res[0]["id"] != "x1" || res[0]["decision"] != "expired" {
			t.Fatalf("resolved after %v = %v", time.Since(now), res)
		}
		if list, _ := e.svc.Approvals(ctx, owner); len(list) != 1 || list[0].ID != "x2" {
			t.Fatalf("list = %+v", list)
		}
		if err := e.svc.ResolveApproval(ctx, owner, "x1", bridge.DecisionAllowOnce); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("resolve expired: %v", err)
		}
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		if n := len(find(t, e.rec.Events(owner.ID), "approval.resolved")); n != 2 {
			t.Fatalf("resolved after 5m = %d", n)
		}
	})
}

func TestRunApprovalNotice(t *testing.T) {
	e := newEnv(t, nil)
	res := e.send(t, alice, "default", "m1", "list files")
	key := "agent:main:clawchat:alice:default"
	e.event(t, "agent", map[string]any{"runId": res.RunID, "sessionKey": key, "stream": "approval", "data": map[string]any{
		"phase": "requested", "kind": "exec", "status": "pending", "approvalId": "ap1", "command": "cat /etc/secret", "host": "gw-host"}})
	e.event(t, "agent", map[string]any{"runId": res.RunID, "sessionKey": key, "stream": "approval", "data": map[string]any{
		"phase": "resolved", "kind": "exec", "status": "denied", "approvalId": "ap1", "command": "cat /etc/secret"}})
	tools := find(t, e.rec.Events(alice.ID), "run.tool")
	if len(tools) != 2 || tools[0]["toolCallId"] != "approval:ap1" || tools[0]["phase"] != "start" || tools[1]["phase"] != "end" || tools[1]["error"] != true || tools[1]["result"] != "denied" {
		t.Fatalf("run.tool = %v", tools)
	}
	for _, ev := range e.rec.Events(alice.ID) {
		if strings.Contains(string(ev.Payload), "/etc/secret") || strings.Contains(string(ev.Payload), "gw-host") {
			t.Fatalf("approval notice leaked the command: %s", ev.Payload)
		}
	}
}

func TestAuditGatewaySessions(t *testing.T) {
	audit := &auditLog{}
	e := newEnv(t, func(c *bridge.Config) { c.Audit = audit.add })
	ctx := context.Background()
	e.up.Handle("chat.history", func(map[string]any) (any, error) { return map[string]any{"messages": []any{}}, nil })
	// An owner's own conversation is not audited.
	e.send(t, owner, "mine", "m1", "hello")
	if _, err := e.svc.History(ctx, owner, "mine", 0, ""); err != nil {
		t.Fatal(err)
	}
	if n := len(audit.all()); n != 0 {
		t.Fatalf("own conversation audited: %+v", audit.all())
	}
	// A Gateway session is: history, send, abort.
	if _, err := e.svc.History(ctx, owner, "gw:agent:main:main", 0, ""); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Send(ctx, owner, bridge.SendParams{Conversation: "gw:agent:main:main", ID: "g1", Text: "secret text"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Abort(ctx, owner, "gw:agent:main:main", res.RunID); err != nil {
		t.Fatal(err)
	}
	// A member's attempt is not found and not audited.
	if _, err := e.svc.History(ctx, alice, "gw:agent:main:main", 0, ""); !errors.Is(err, chat.ErrNotFound) {
		t.Fatal(err)
	}
	var got []string
	for _, a := range audit.all() {
		got = append(got, a.Actor+" "+a.Action+" "+a.Target)
		if strings.Contains(a.Detail, "secret text") {
			t.Fatalf("audit holds message text: %q", a.Detail)
		}
		if a.At.IsZero() {
			t.Fatal("audit entry without time")
		}
	}
	want := []string{"olga gateway.history gw:agent:main:main", "olga gateway.send gw:agent:main:main", "olga gateway.abort gw:agent:main:main"}
	if !slices.Equal(got, want) {
		t.Fatalf("audit = %v, want %v", got, want)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(audit.all()[1].Detail), &d); err != nil || d["runId"] != res.RunID || d["ok"] != true {
		t.Fatalf("send detail = %q", audit.all()[1].Detail)
	}
}

// TestApprovalsWithGateway runs approvals through the real Gateway client against the fake
// Gateway and the real hub: the client asks for the approvals scope and cap, an owner's
// connection gets the request and resolves it, a member's connection gets nothing, and after
// the connection drops the pending set is backfilled.
func TestApprovalsWithGateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: "tok"})
	var mu sync.Mutex
	pending := map[string]map[string]any{}
	srv.Handle("exec.approval.list", func(*gatewaytest.Call) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		out := []any{}
		for _, p := range pending {
			out = append(out, p)
		}
		return out, nil
	})
	srv.Handle("exec.approval.resolve", func(c *gatewaytest.Call) (any, error) {
		var p gateway.ExecApprovalResolveParams
		if err := c.Decode(&p); err != nil {
			return nil, err
		}
		mu.Lock()
		_, ok := pending[p.ID]
		delete(pending, p.ID)
		mu.Unlock()
		if !ok {
			return nil, &gateway.Error{Code: gateway.CodeApprovalNotFound, Message: "approval expired or not found"}
		}
		c.AfterResponse(func() {
			srv.Broadcast("exec.approval.resolved", map[string]any{"id": p.ID, "decision": p.Decision, "resolvedBy": "conn-1", "ts": 1})
		})
		return map[string]any{"ok": true}, nil
	})
	request := func(id string) {
		p := requested(id, "agent:main:main", far())
		mu.Lock()
		pending[id] = p
		mu.Unlock()
		srv.Broadcast("exec.approval.requested", p)
	}

	h := hub.New(hub.Config{})
	var svc *bridge.Service
	handler := gateway.HandlerFuncs{Event: func(ev gateway.Event) { svc.HandleEvent(ev) }, Status: func(st gateway.Status) { svc.HandleStatus(st) }}
	cl, err := gateway.New(gateway.Config{URL: srv.URL(), Token: "tok", Approvals: true, StateDir: t.TempDir(), Handler: handler,
		ReconnectMinDelay: 10 * time.Millisecond, ReconnectMaxDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc, err = bridge.New(bridge.Config{Upstream: cl, Store: bridgetest.NewStore(), Publisher: h, Approvals: true,
		Owners: func(context.Context) ([]string, error) { return []string{owner.ID}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { defer func() { done <- struct{}{} }(); _ = cl.Run(runCtx) }()
	go func() { defer func() { done <- struct{}{} }(); _ = svc.Run(runCtx) }()
	defer func() { stop(); <-done; <-done; svc.Wait() }()
	if err := srv.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return svc.GatewayState() == bridge.StateConnected })
	cp := srv.Connects()[0].Params
	if !slices.Contains(cp.Scopes, gateway.ScopeApprovals) || !slices.Contains(cp.Caps, "exec-approvals") {
		t.Fatalf("connect scopes %v caps %v", cp.Scopes, cp.Caps)
	}
	waitFor(t, func() bool { return len(srv.Calls("exec.approval.list")) >= 1 })

	ownerSub, _ := h.Subscribe(owner.ID, hub.Cursor{Epoch: h.Epoch()}, func() {})
	defer ownerSub.Close()
	memberSub, _ := h.Subscribe(alice.ID, hub.Cursor{Epoch: h.Epoch()}, func() {})
	defer memberSub.Close()
	var ownerEvents []chat.Event
	take := func() {
		fs, err := ownerSub.Take(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			ownerEvents = append(ownerEvents, f.Event)
		}
	}
	seen := func(name, id string) bool {
		take()
		for _, ev := range ownerEvents {
			if ev.Name == name && payload(t, ev)["id"] == id {
				return true
			}
		}
		return false
	}

	request("g1")
	waitFor(t, func() bool { return seen("approval.requested", "g1") })
	if err := svc.ResolveApproval(ctx, owner, "g1", bridge.DecisionDeny); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return seen("approval.resolved", "g1") })

	// Requested while the connection is down: only the backfill can tell.
	calls := len(srv.Calls("exec.approval.list"))
	srv.DropAll()
	mu.Lock()
	pending["g2"] = requested("g2", "agent:main:main", far())
	mu.Unlock()
	waitFor(t, func() bool { return len(srv.Calls("exec.approval.list")) > calls })
	waitFor(t, func() bool { return seen("approval.requested", "g2") })
	list, err := svc.Approvals(ctx, owner)
	if err != nil || len(list) != 1 || list[0].ID != "g2" {
		t.Fatalf("list = %+v %v", list, err)
	}
	n := 0
	for _, ev := range ownerEvents {
		if ev.Name == "approval.resolved" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("approval.resolved delivered %d times", n)
	}
	fs, _ := memberSub.Take(nil)
	for _, f := range fs {
		if strings.HasPrefix(f.Event.Name, "approval.") {
			t.Fatalf("member got %s", f.Event.Name)
		}
	}
}
