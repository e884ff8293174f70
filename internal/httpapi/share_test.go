package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/httpapi"
	"github.com/clawchat/clawchat/internal/hub"
	"github.com/clawchat/clawchat/internal/reactions"
	"github.com/clawchat/clawchat/internal/share"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
	"github.com/clawchat/clawchat/internal/testkit/storetest"
)

var shareUsers = map[string]chat.User{
	"alice": {ID: "alice", Name: "Alice", Role: chat.RoleMember},
	"bob":   {ID: "bob", Name: "Bob", Role: chat.RoleMember},
	"carol": {ID: "carol", Name: "Carol", Role: chat.RoleMember},
	"olga":  {ID: "olga", Name: "Olga", Role: chat.RoleOwner},
	"eve":   {ID: "eve", Name: "Eve", Role: chat.RoleMember},
}

// newShareEnv is newEnv on a real (SQLite) store, with the share service wired as the app wires
// it: a removal resets the removed person's hub log and tells the bridge.
func newShareEnv(t *testing.T) *env {
	t.Helper()
	db := storetest.SQLite(t)
	ctx := context.Background()
	for _, u := range shareUsers {
		if err := db.CreateAccount(ctx, chat.Account{ID: u.ID, Username: u.ID, DisplayName: u.Name, Role: u.Role}); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{up: bridgetest.NewUpstream(), hub: hub.New(hub.Config{})}
	var svc *bridge.Service
	var fan *share.Fanout
	sh := share.New(share.Config{Store: db, Publisher: e.hub, Changed: func(key string, lost []string) {
		fan.Invalidate(key)
		for _, u := range lost {
			e.hub.Reset(u)
		}
	}})
	fan = sh.NewFanout(e.hub)
	svc, err := bridge.New(bridge.Config{Upstream: e.up, Store: db, Publisher: fan, SendRate: 1000, SendBurst: 1000, MaxConcurrentRuns: 100,
		Participants: fan.Participants})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	svc.SetGatewayState(bridge.StateConnected)
	e.share, e.db = sh, db
	// Reactions are wired as internal/app wires them: the bridge's membership-aware Get, the store.
	rx, err := reactions.New(reactions.Config{
		CanSee: func(ctx context.Context, u chat.User, id string) error {
			_, err := svc.Get(ctx, u, id)
			return err
		},
		Store: db, Publisher: e.hub,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.serve(t, shareUsers, httpapi.Deps{Share: sh, Presence: sh.NewPresence(db, e.hub, e.hub.Epoch()), Reactions: rx})
	return e
}

// shareRoutes are every route of shared conversations on conversation id, with a body that
// would succeed for the owner.
func shareRoutes(id string) [][3]string {
	p := "/api/sessions/" + id
	return [][3]string{
		{"GET", p + "/members", ""},
		{"POST", p + "/members", `{"username":"eve"}`},
		{"PATCH", p + "/members/bob", `{"role":"read-only"}`},
		{"DELETE", p + "/members/bob", ""},
		{"POST", p + "/owner", `{"userId":"bob"}`},
		{"PUT", p + "/mute", `{"muted":true}`},
		{"GET", p + "/invites", ""},
		{"POST", p + "/invites", `{}`},
		{"DELETE", p + "/invites/inv-x", ""},
	}
}

func TestSharedRoutesIsolation(t *testing.T) {
	e := newShareEnv(t)
	if code, body := e.do(t, "alice", "POST", "/api/sessions", `{"id":"trip","title":"Trip"}`); code != 201 {
		t.Fatalf("create %d %s", code, body)
	}
	// A non-participant: the same not-found as for a conversation that does not exist, on
	// every route, before and after it is shared; malformed ids too.
	check := func(who string) {
		t.Helper()
		for _, id := range []string{"trip", "nope", "TRIP", "..%2ftrip"} {
			for _, r := range shareRoutes(id) {
				code, body := e.do(t, who, r[0], r[1], r[2])
				if code != 404 || (id != "..%2ftrip" && body != notFoundBody) {
					t.Errorf("%s %s %s: %d %s", who, r[0], r[1], code, body)
				}
			}
		}
	}
	check("bob")
	if code, body := e.do(t, "alice", "POST", "/api/sessions/trip/members", `{"username":"bob"}`); code != 201 || !strings.Contains(body, `"role":"member"`) {
		t.Fatalf("add bob %d %s", code, body)
	}
	if code, body := e.do(t, "alice", "POST", "/api/sessions/trip/members", `{"username":"carol","role":"read-only"}`); code != 201 {
		t.Fatalf("add carol %d %s", code, body)
	}
	check("eve")
	// Participants who are not the owner: 403 on everything that manages, 200 on reading the list.
	for _, who := range []string{"bob", "carol"} {
		if code, body := e.do(t, who, "GET", "/api/sessions/trip/members", ""); code != 200 || !strings.Contains(body, `"name":"Alice"`) {
			t.Errorf("%s lists %d %s", who, code, body)
		}
		for _, r := range shareRoutes("trip")[1:] {
			if r[1] == "/api/sessions/trip/mute" || (r[0] == "DELETE" && strings.HasSuffix(r[1], "/members/"+who)) {
				continue
			}
			if code, body := e.do(t, who, r[0], r[1], r[2]); code != 403 {
				t.Errorf("%s %s %s: %d %s, want 403", who, r[0], r[1], code, body)
			}
		}
	}
	// Unauthenticated: 401 everywhere, including redeeming.
	for _, r := range append(shareRoutes("trip"), [3]string{"POST", "/api/invites/redeem", `{"token":"x"}`}) {
		if code, _ := e.do(t, "", r[0], r[1], r[2]); code != 401 {
			t.Errorf("signed out %s %s: %d", r[0], r[1], code)
		}
	}
}

func TestSharedInviteTokens(t *testing.T) {
	e := newShareEnv(t)
	e.do(t, "alice", "POST", "/api/sessions", `{"id":"trip"}`)
	code, body := e.do(t, "alice", "POST", "/api/sessions/trip/invites", `{"role":"read-only","ttlSeconds":3600}`)
	if code != 201 {
		t.Fatalf("invite %d %s", code, body)
	}
	var inv struct {
		Invite struct{ ID, Token string }
		Link   string
	}
	if err := json.Unmarshal([]byte(body), &inv); err != nil || inv.Invite.Token == "" || inv.Link != "/#join="+inv.Invite.Token {
		t.Fatalf("invite answer %s", body)
	}
	if _, list := e.do(t, "alice", "GET", "/api/sessions/trip/invites", ""); strings.Contains(list, inv.Invite.Token) {
		t.Fatalf("the token is listed again: %s", list)
	}
	bad := notFoundBody // every not-found reads the same
	for _, tok := range []string{"", "x", strings.Repeat("A", 43), inv.Invite.Token[:42] + "B", inv.Invite.ID} {
		if code, body := e.do(t, "bob", "POST", "/api/invites/redeem", `{"token":"`+tok+`"}`); code != 404 || body != bad {
			t.Errorf("forged %q: %d %s", tok, code, body)
		}
	}
	code, body = e.do(t, "bob", "POST", "/api/invites/redeem", `{"token":"`+inv.Invite.Token+`"}`)
	if code != 200 || !strings.Contains(body, `"role":"read-only"`) || !strings.Contains(body, `"id":"trip"`) {
		t.Fatalf("redeem %d %s", code, body)
	}
	if code, body := e.do(t, "carol", "POST", "/api/invites/redeem", `{"token":"`+inv.Invite.Token+`"}`); code != 404 || body != bad {
		t.Errorf("replayed token: %d %s", code, body)
	}
	// Revoked.
	_, body = e.do(t, "alice", "POST", "/api/sessions/trip/invites", `{}`)
	_ = json.Unmarshal([]byte(body), &inv)
	if code, _ := e.do(t, "alice", "DELETE", "/api/sessions/trip/invites/"+inv.Invite.ID, ""); code != 204 {
		t.Fatalf("revoke %d", code)
	}
	if code, body := e.do(t, "carol", "POST", "/api/invites/redeem", `{"token":"`+inv.Invite.Token+`"}`); code != 404 || body != bad {
		t.Errorf("revoked token: %d %s", code, body)
	}
	if code, _ := e.do(t, "alice", "POST", "/api/sessions/trip/invites", `{"ttlSeconds":99999999}`); code != 400 {
		t.Errorf("huge ttl: %d", code)
	}
}

// TestSharedRemovalCutsStream: a member's open WebSocket is closed the moment they are removed,
// their replay log holds nothing of the conversation any more, and their next request is 404.
func TestSharedRemovalCutsStream(t *testing.T) {
	e := newShareEnv(t)
	e.do(t, "alice", "POST", "/api/sessions", `{"id":"trip"}`)
	e.do(t, "alice", "POST", "/api/sessions/trip/members", `{"username":"bob"}`)
	b := e.dial(t, "bob")
	sub := b.call("subscribe", map[string]any{})
	var cur struct {
		Epoch string
		Seq   uint64
	}
	_ = json.Unmarshal(sub.Payload, &cur)
	if code, _ := e.do(t, "alice", "DELETE", "/api/sessions/trip/members/bob", ""); code != 204 {
		t.Fatalf("remove %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := b.c.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st != websocket.StatusPolicyViolation {
				t.Fatalf("bob's stream ended with %v (%v), want 1008", st, err)
			}
			break
		}
	}
	// Resuming from before the removal replays nothing: a resync.
	b2 := e.dial(t, "bob")
	r := b2.call("subscribe", map[string]any{"epoch": cur.Epoch, "since": 0})
	if !strings.Contains(string(r.Payload), `"resync":true`) || !strings.Contains(string(r.Payload), `"replayed":0`) {
		t.Errorf("resume after removal: %s", r.Payload)
	}
	if code, body := e.do(t, "bob", "GET", "/api/sessions/trip/members", ""); code != 404 || body != notFoundBody {
		t.Errorf("removed member: %d %s", code, body)
	}
}

func TestSharedTypingAndPresenceWS(t *testing.T) {
	e := newShareEnv(t)
	e.do(t, "alice", "POST", "/api/sessions", `{"id":"trip"}`)
	e.do(t, "alice", "POST", "/api/sessions/trip/members", `{"username":"bob"}`)
	e.do(t, "alice", "POST", "/api/sessions/trip/members", `{"username":"carol","role":"read-only"}`)
	a, b, c := e.dial(t, "alice"), e.dial(t, "bob"), e.dial(t, "carol")
	for _, w := range []*wsClient{a, b, c} {
		w.call("subscribe", map[string]any{})
	}
	if r := b.call("presence", map[string]any{"conversation": "trip"}); !r.OK || !strings.Contains(string(r.Payload), `"name":"Bob"`) {
		t.Fatalf("presence %+v %s", r.Error, r.Payload)
	}
	if r := b.call("typing", map[string]any{"conversation": "trip", "typing": true}); !r.OK {
		t.Fatalf("typing %+v", r.Error)
	}
	if r := c.call("typing", map[string]any{"conversation": "trip", "typing": true}); r.OK || r.Error.Code != "forbidden" {
		t.Fatalf("read-only typing %+v", r)
	}
	ev := e.dial(t, "eve")
	for _, m := range []string{"typing", "presence"} {
		if r := ev.call(m, map[string]any{"conversation": "trip"}); r.OK || r.Error.Code != "not_found" || r.Error.Message != "conversation not found" {
			t.Errorf("eve %s: %+v", m, r.Error)
		}
	}
	seen := map[string]bool{}
	for !seen["typing"] || !seen["presence"] {
		f := a.read()
		if f.Event == "typing" && strings.Contains(string(f.Payload), `"userId":"bob"`) {
			seen["typing"] = true
		}
		if f.Event == "presence" && strings.Contains(string(f.Payload), `"name":"Bob"`) {
			seen["presence"] = true
		}
	}
	// Bob closes his window: alice sees him go.
	b.c.Close(websocket.StatusNormalClosure, "")
	for {
		f := a.read()
		if f.Event == "presence" && strings.Contains(string(f.Payload), `"viewers":[]`) {
			break
		}
	}
}

// TestSharedChatIsolation: the chat routes and methods with participants of every kind. A member
// reads, sends and sees everyone's runs; a read-only participant reads but cannot send; a
// non-participant and a removed member get the one not-found on every route and method, and see
// nothing of the conversation's runs.
func TestSharedChatIsolation(t *testing.T) {
	e := newShareEnv(t)
	a := e.dial(t, "alice")
	a.call("subscribe", map[string]any{})
	if r := a.call("conversations.create", map[string]any{"id": "trip"}); !r.OK {
		t.Fatalf("create %+v", r.Error)
	}
	e.do(t, "alice", "POST", "/api/sessions/trip/members", `{"username":"bob"}`)
	e.do(t, "alice", "POST", "/api/sessions/trip/members", `{"username":"carol","role":"read-only"}`)
	b, c, v := e.dial(t, "bob"), e.dial(t, "carol"), e.dial(t, "eve")
	for _, w := range []*wsClient{b, c, v} {
		w.call("subscribe", map[string]any{})
	}
	if r := a.call("send", map[string]any{"conversation": "trip", "id": "a1", "text": "where to?"}); !r.OK {
		t.Fatalf("alice send %+v", r.Error)
	}
	runA := e.up.Calls("chat.send")[0].Params["idempotencyKey"]

	// bob (member) lists, reads and sends; his message queues behind alice's run.
	l := b.call("conversations.list", map[string]any{})
	if !strings.Contains(string(l.Payload), `"id":"trip"`) || !strings.Contains(string(l.Payload), `"role":"member"`) {
		t.Fatalf("bob's list %s", l.Payload)
	}
	if r := b.call("history", map[string]any{"conversation": "trip"}); !r.OK {
		t.Fatalf("bob history %+v", r.Error)
	}
	r := b.call("send", map[string]any{"conversation": "trip", "id": "b1", "text": "Lisbon!"})
	if !r.OK || !strings.Contains(string(r.Payload), `"status":"queued"`) {
		t.Fatalf("bob send %+v %s", r.Error, r.Payload)
	}
	// bob may not abort alice's turn, rename or delete; alice (owner) may abort any turn.
	if r := b.call("abort", map[string]any{"conversation": "trip"}); r.OK || r.Error.Code != "forbidden" {
		t.Errorf("bob aborts alice's turn: %+v", r)
	}
	for _, m := range []struct {
		method string
		params map[string]any
	}{
		{"conversations.update", map[string]any{"id": "trip", "title": "mine now"}},
		{"conversations.delete", map[string]any{"id": "trip"}},
	} {
		if r := b.call(m.method, m.params); r.OK || r.Error.Code != "forbidden" {
			t.Errorf("bob %s: %+v", m.method, r.Error)
		}
	}
	// carol (read-only) reads but cannot send.
	if r := c.call("history", map[string]any{"conversation": "trip"}); !r.OK {
		t.Fatalf("carol history %+v", r.Error)
	}
	if r := c.call("send", map[string]any{"conversation": "trip", "id": "c1", "text": "me too"}); r.OK || r.Error.Code != "forbidden" {
		t.Errorf("read-only send: %+v", r)
	}
	if code, _ := e.do(t, "carol", "POST", "/api/sessions/trip/send", `{"message":"me too"}`); code != 403 {
		t.Errorf("read-only REST send: %d", code)
	}
	// eve (no part) gets the one not-found everywhere.
	nf := func(w *wsClient, who string) {
		t.Helper()
		for _, m := range []struct {
			method string
			params map[string]any
		}{
			{"history", map[string]any{"conversation": "trip"}},
			{"send", map[string]any{"conversation": "trip", "id": "x", "text": "hi"}},
			{"abort", map[string]any{"conversation": "trip"}},
			{"conversations.update", map[string]any{"id": "trip", "title": "x"}},
			{"conversations.delete", map[string]any{"id": "trip"}},
			{"typing", map[string]any{"conversation": "trip", "typing": true}},
			{"presence", map[string]any{"conversation": "trip"}},
		} {
			r := w.call(m.method, m.params)
			if r.OK || r.Error == nil || r.Error.Code != "not_found" || r.Error.Message != "conversation not found" {
				t.Errorf("%s %s: %+v", who, m.method, r.Error)
			}
		}
		for _, rt := range [][3]string{
			{"GET", "/api/sessions/trip/history", ""},
			{"POST", "/api/sessions/trip/abort", `{}`}, {"PATCH", "/api/sessions/trip", `{"title":"x"}`},
			{"DELETE", "/api/sessions/trip", ""}, {"GET", "/api/reactions/trip", ""},
			{"POST", "/api/messages/a1/reactions", `{"session":"trip","emoji":"👍"}`},
		} {
			if code, body := e.do(t, who, rt[0], rt[1], rt[2]); code != 404 || body != notFoundBody {
				t.Errorf("%s %s %s: %d %s", who, rt[0], rt[1], code, body)
			}
		}
		if l := w.call("conversations.list", map[string]any{}); strings.Contains(string(l.Payload), `"trip"`) {
			t.Errorf("%s lists trip: %s", who, l.Payload)
		}
	}
	// REST send creates the sender's own conversation of that id when they have none (miso-chat
	// semantics): a new, separate session in their namespace, never alice's.
	ownTrip := func(who string) {
		t.Helper()
		before := len(e.up.Calls("chat.send"))
		if code, body := e.do(t, who, "POST", "/api/sessions/trip/send", `{"message":"hi"}`); code != 202 {
			t.Fatalf("%s REST send: %d %s", who, code, body)
		}
		calls := e.up.Calls("chat.send")
		if len(calls) != before+1 || calls[before].Params["sessionKey"] != "agent:main:clawchat:"+who+":trip" {
			t.Errorf("%s's REST send went to %v", who, calls[before:])
		}
		if code, _ := e.do(t, who, "DELETE", "/api/sessions/trip", ""); code != 204 {
			t.Errorf("%s deletes their own trip: %d", who, code)
		}
	}
	nf(v, "eve")
	ownTrip("eve")

	// alice's run streams to bob and carol, with her as the sender; eve gets nothing.
	ev, _ := json.Marshal(map[string]any{"runId": runA, "sessionKey": "agent:main:clawchat:alice:trip", "state": "delta",
		"deltaText": "Lis", "message": map[string]any{"role": "assistant", "content": "Lis"}})
	e.svc.HandleGatewayEvent("chat", ev)
	for name, w := range map[string]*wsClient{"bob": b, "carol": c} {
		var started, delta bool
		for _, f := range w.evts { // seen while waiting for answers
			started = started || (f.Event == "run.started" && strings.Contains(string(f.Payload), `"sender":{"name":"Alice","userId":"alice"}`))
		}
		for !delta {
			f := w.read()
			started = started || (f.Event == "run.started" && strings.Contains(string(f.Payload), `"sender":{"name":"Alice","userId":"alice"}`))
			delta = f.Event == "run.delta" && strings.Contains(string(f.Payload), `"text":"Lis"`)
		}
		if !started {
			t.Errorf("%s did not see alice's message with its sender", name)
		}
	}
	// A fresh subscription of bob gets the running reply as a snapshot.
	b2 := e.dial(t, "bob")
	b2.call("subscribe", map[string]any{})
	if r := b2.call("ping", map[string]any{}); !r.OK {
		t.Fatal("ping")
	}
	var snap bool
	for _, f := range b2.evts {
		snap = snap || (f.Event == "run.snapshot" && strings.Contains(string(f.Payload), `"text":"Lis"`))
	}
	if !snap {
		t.Errorf("bob's new subscription got no snapshot of the running reply: %+v", b2.evts)
	}

	// bob is removed: the same not-found as eve, no snapshot, no more events.
	if code, _ := e.do(t, "alice", "DELETE", "/api/sessions/trip/members/bob", ""); code != 204 {
		t.Fatalf("remove bob: %d", code)
	}
	b3 := e.dial(t, "bob")
	b3.call("subscribe", map[string]any{})
	nf(b3, "bob")
	ownTrip("bob")
	ev, _ = json.Marshal(map[string]any{"runId": runA, "sessionKey": "agent:main:clawchat:alice:trip", "state": "delta",
		"deltaText": "bon", "message": map[string]any{"role": "assistant", "content": "Lisbon"}})
	e.svc.HandleGatewayEvent("chat", ev)
	for {
		f := c.read()
		if f.Event == "run.delta" && strings.Contains(string(f.Payload), `"text":"bon"`) {
			break
		}
	}
	if r := b3.call("ping", map[string]any{}); !r.OK {
		t.Fatal("ping")
	}
	for _, f := range b3.evts {
		if strings.HasPrefix(f.Event, "run.") {
			t.Errorf("removed bob got %s %s", f.Event, f.Payload)
		}
	}
	// The owner aborts the running turn, whoever sent it.
	if r := a.call("abort", map[string]any{"conversation": "trip"}); !r.OK {
		t.Errorf("owner abort: %+v", r.Error)
	}
}

// TestSharedReactions (issue 13): a participant reacts in a shared conversation like its creator;
// each sees only their own reactions; a non-participant gets the same not-found as for a
// conversation that does not exist; a removed participant loses access and their reactions.
func TestSharedReactions(t *testing.T) {
	e := newShareEnv(t)
	if code, body := e.do(t, "alice", "POST", "/api/sessions", `{"id":"trip","title":"Trip"}`); code != 201 {
		t.Fatalf("create %d %s", code, body)
	}
	// carol is read-only: reacting is not sending, so she may react too.
	for who, role := range map[string]string{"bob": "member", "carol": "read-only"} {
		if code, body := e.do(t, "alice", "POST", "/api/sessions/trip/members", `{"username":"`+who+`","role":"`+role+`"}`); code != 201 {
			t.Fatalf("add %s %d %s", who, code, body)
		}
	}
	react := func(who, msg, emoji string) (int, string) {
		t.Helper()
		return e.do(t, who, "POST", "/api/messages/"+msg+"/reactions", `{"session":"trip","emoji":"`+emoji+`"}`)
	}
	if code, body := react("alice", "a1", "👍"); code != 200 || !strings.Contains(body, `"action":"added"`) {
		t.Fatalf("alice reacts: %d %s", code, body)
	}
	if code, body := react("bob", "a1", "🎉"); code != 200 || !strings.Contains(body, `"action":"added"`) ||
		!strings.Contains(body, `"reactions":{"🎉":["Bob"]}`) {
		t.Fatalf("bob reacts: %d %s", code, body)
	}
	if code, body := react("carol", "a1", "❤️"); code != 200 {
		t.Fatalf("carol reacts: %d %s", code, body)
	}
	for who, want := range map[string]string{
		"alice": `"reactions":{"a1":{"👍":["Alice"]}}`,
		"bob":   `"reactions":{"a1":{"🎉":["Bob"]}}`,
		"carol": `"reactions":{"a1":{"❤️":["Carol"]}}`,
	} {
		if code, body := e.do(t, who, "GET", "/api/reactions/trip", ""); code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s's reactions: %d %s, want %s", who, code, body, want)
		}
	}
	if code, body := e.do(t, "bob", "GET", "/api/messages/a1/reactions?session=trip", ""); code != 200 ||
		!strings.Contains(body, `"reactions":{"🎉":["Bob"]}`) {
		t.Errorf("bob's message reactions: %d %s", code, body)
	}
	if code, body := react("bob", "a1", "🎉"); code != 200 || !strings.Contains(body, `"action":"removed"`) {
		t.Errorf("bob toggles off: %d %s", code, body)
	}
	routes := [][3]string{
		{"GET", "/api/reactions/trip", ""},
		{"GET", "/api/messages/a1/reactions?session=trip", ""},
		{"POST", "/api/messages/a1/reactions", `{"session":"trip","emoji":"👍"}`},
	}
	for _, rt := range routes {
		if code, body := e.do(t, "eve", rt[0], rt[1], rt[2]); code != 404 || body != notFoundBody {
			t.Errorf("non-participant %s %s: %d %s", rt[0], rt[1], code, body)
		}
	}
	// carol is removed: the same not-found, and back again she finds no reactions of hers.
	if code, body := e.do(t, "alice", "DELETE", "/api/sessions/trip/members/carol", ""); code != 204 {
		t.Fatalf("remove carol %d %s", code, body)
	}
	for _, rt := range routes {
		if code, body := e.do(t, "carol", rt[0], rt[1], rt[2]); code != 404 || body != notFoundBody {
			t.Errorf("removed participant %s %s: %d %s", rt[0], rt[1], code, body)
		}
	}
	if code, body := e.do(t, "alice", "POST", "/api/sessions/trip/members", `{"username":"carol"}`); code != 201 {
		t.Fatalf("re-add carol %d %s", code, body)
	}
	if code, body := e.do(t, "carol", "GET", "/api/reactions/trip", ""); code != 200 || !strings.Contains(body, `"reactions":{}`) {
		t.Errorf("carol's reactions after removal: %d %s", code, body)
	}
	if code, body := e.do(t, "alice", "GET", "/api/reactions/trip", ""); code != 200 || !strings.Contains(body, `"reactions":{"a1":{"👍":["Alice"]}}`) {
		t.Errorf("alice's reactions after carol's removal: %d %s", code, body)
	}
}
