package bridge_test

import (
	"context"
	"errors"
	"testing"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/share"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
	"github.com/clawchat/clawchat/internal/testkit/storetest"
)

// sharedEnv is newEnv on a real (SQLite) store with the share service, its fan-out as the
// bridge's publisher, as the app wires them.
type sharedEnv struct {
	*env
	share *share.Service
	fan   *share.Fanout
}

func newSharedEnv(t *testing.T) *sharedEnv {
	t.Helper()
	db := storetest.SQLite(t)
	ctx := context.Background()
	for _, u := range []chat.User{alice, bob, owner, {ID: "eve", Name: "Eve", Role: chat.RoleMember}} {
		if err := db.CreateAccount(ctx, chat.Account{ID: u.ID, Username: u.ID, DisplayName: u.Name, Role: u.Role}); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{up: bridgetest.NewUpstream(), rec: bridgetest.NewRecorder()}
	se := &sharedEnv{env: e}
	se.share = share.New(share.Config{Store: db, Publisher: e.rec, Changed: func(key string, _ []string) { se.fan.Invalidate(key) }})
	se.fan = se.share.NewFanout(e.rec)
	svc, err := bridge.New(bridge.Config{Upstream: e.up, Store: db, Publisher: se.fan, Participants: se.fan.Participants,
		SendRate: 1000, SendBurst: 1000, MaxConcurrentRuns: 100})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	svc.SetGatewayState(bridge.StateConnected)
	t.Cleanup(svc.Wait)
	return se
}

// TestSharedCrossUserRefused is TestCrossUserRefused for a shared conversation: a non-participant
// and a removed participant get the one not-found on every operation, nothing of it reaches the
// Gateway, and none of its run events reach them; a read-only participant cannot send; a member
// cannot stop someone else's turn, rename or delete.
func TestSharedCrossUserRefused(t *testing.T) {
	e := newSharedEnv(t)
	ctx := context.Background()
	eve := chat.User{ID: "eve", Name: "Eve", Role: chat.RoleMember}
	e.send(t, owner, "trip", "o1", "hi")
	e.svc.Wait() // background naming and labelling of the conversations above
	if _, err := e.share.Add(ctx, owner, "trip", "alice", chat.ShareMember); err != nil {
		t.Fatal(err)
	}
	if _, err := e.share.Add(ctx, owner, "trip", "bob", chat.ShareReadOnly); err != nil {
		t.Fatal(err)
	}
	refused := func(u chat.User) {
		t.Helper()
		before := len(e.up.Calls(""))
		var errs []error
		_, err := e.svc.Get(ctx, u, "trip")
		errs = append(errs, err)
		_, err = e.svc.History(ctx, u, "trip", 10, "")
		errs = append(errs, err)
		_, err = e.svc.Send(ctx, u, bridge.SendParams{Conversation: "trip", ID: "x", Text: "hi"})
		errs = append(errs, err)
		_, err = e.svc.Abort(ctx, u, "trip", "")
		errs = append(errs, err)
		_, err = e.svc.Update(ctx, u, "trip", bridge.UpdateParams{})
		errs = append(errs, err)
		errs = append(errs, e.svc.Delete(ctx, u, "trip"))
		for i, err := range errs {
			if !errors.Is(err, chat.ErrNotFound) || err.Error() != "conversation not found: not found" {
				t.Errorf("%s op %d: %v", u.ID, i, err)
			}
		}
		if after := len(e.up.Calls("")); after != before {
			t.Errorf("%s's refused operations reached the Gateway: %v", u.ID, e.up.Calls("")[before:])
		}
		if list, _, err := e.svc.List(ctx, u, false); err != nil || len(list) != 0 {
			t.Errorf("%s lists %v %v", u.ID, list, err)
		}
	}
	refused(eve)

	// The read-only participant reads but cannot send.
	if _, err := e.svc.History(ctx, bob, "trip", 10, ""); err != nil {
		t.Fatalf("read-only history: %v", err)
	}
	before := len(e.up.Calls("chat.send"))
	if _, err := e.svc.Send(ctx, bob, bridge.SendParams{Conversation: "trip", ID: "b1", Text: "hi"}); !errors.Is(err, chat.ErrForbidden) {
		t.Errorf("read-only send: %v", err)
	}
	if len(e.up.Calls("chat.send")) != before {
		t.Error("a read-only send reached the Gateway")
	}
	// The member sends (queued behind olga's run), cannot stop olga's turn, rename or delete, and
	// can take back their own queued message.
	res := e.send(t, alice, "trip", "a1", "me too")
	if res.Status != bridge.StatusQueued {
		t.Fatalf("alice's send: %+v", res)
	}
	if _, err := e.svc.Abort(ctx, alice, "trip", ""); !errors.Is(err, chat.ErrForbidden) {
		t.Errorf("member stops the owner's turn: %v", err)
	}
	if _, err := e.svc.Update(ctx, alice, "trip", bridge.UpdateParams{}); !errors.Is(err, chat.ErrForbidden) {
		t.Errorf("member renames: %v", err)
	}
	if err := e.svc.Delete(ctx, alice, "trip"); !errors.Is(err, chat.ErrForbidden) {
		t.Errorf("member deletes: %v", err)
	}
	if ok, err := e.svc.Abort(ctx, alice, "trip", res.RunID); err != nil || !ok {
		t.Errorf("member takes back their queued message: %v %v", ok, err)
	}
	// A member in the conversation: the owner's sends run under the member policy too.
	runA := e.up.Calls("chat.send")[0].Params["idempotencyKey"].(string)
	e.event(t, "chat", map[string]any{"runId": runA, "sessionKey": "agent:main:clawchat:olga:trip", "state": "final",
		"message": map[string]any{"role": "assistant", "content": "done"}})
	e.send(t, owner, "trip", "o2", "and now?")
	// Every participant got olga's run.started with her as sender; eve got nothing.
	for _, u := range []string{"alice", "bob", "olga"} {
		st := find(t, e.rec.Events(u), "run.started")
		if len(st) == 0 || st[len(st)-1]["sender"].(map[string]any)["userId"] != "olga" || st[len(st)-1]["text"] != "and now?" {
			t.Errorf("%s's run.started: %v", u, st)
		}
	}
	if evs := e.rec.Events("eve"); len(evs) != 0 {
		t.Errorf("eve got %v", e.rec.Names("eve"))
	}
	calls := e.up.Calls("chat.send")
	if first, last := calls[0].Params, calls[len(calls)-1].Params; first["expectedPermissionMode"] != nil || last["expectedPermissionMode"] == nil {
		t.Errorf("owner's sends: before sharing %v, with a member %v (want the member policy only then)",
			first["expectedPermissionMode"], last["expectedPermissionMode"])
	}
	// Removed: alice gets the one not-found, and nothing more of the conversation.
	if err := e.share.Remove(ctx, owner, "trip", "alice"); err != nil {
		t.Fatal(err)
	}
	n := len(e.rec.Events("alice"))
	refused(alice)
	runO := calls[len(calls)-1].Params["idempotencyKey"].(string)
	e.event(t, "chat", map[string]any{"runId": runO, "sessionKey": "agent:main:clawchat:olga:trip", "state": "final",
		"message": map[string]any{"role": "assistant", "content": "after"}})
	if evs := e.rec.Events("alice"); len(evs) != n {
		t.Errorf("removed alice got %v", e.rec.Names("alice")[n:])
	}
	if evs := find(t, e.rec.Events("bob"), "run.final"); len(evs) != 2 {
		t.Errorf("bob's finals %v", evs)
	}
	for _, ev := range e.svc.Snapshot(alice) {
		t.Errorf("removed alice's snapshot: %s", ev.Payload)
	}
}
