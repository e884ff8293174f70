package share_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/share"
	"github.com/clawchat/clawchat/internal/store"
	"github.com/clawchat/clawchat/internal/testkit/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(storetest.Main(m)) }

type rec struct {
	mu  sync.Mutex
	evs map[string][]chat.Event
}

func (r *rec) Publish(userID string, ev chat.Event) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs[userID] = append(r.evs[userID], ev)
	return uint64(len(r.evs[userID]))
}

func (r *rec) names(userID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.evs[userID] {
		out = append(out, e.Name)
	}
	return out
}

type fixture struct {
	db   *store.DB
	svc  *share.Service
	pub  *rec
	now  time.Time
	lost map[string][]string
	mu   sync.Mutex
}

var (
	alice = chat.User{ID: "alice", Name: "Alice", Role: chat.RoleMember}
	bob   = chat.User{ID: "bob", Name: "Bob", Role: chat.RoleMember}
	carol = chat.User{ID: "carol", Name: "Carol", Role: chat.RoleOwner}
	eve   = chat.User{ID: "eve", Name: "Eve", Role: chat.RoleMember}
)

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{db: storetest.SQLite(t), pub: &rec{evs: map[string][]chat.Event{}}, now: time.Unix(1_790_000_000, 0), lost: map[string][]string{}}
	ctx := context.Background()
	for _, u := range []chat.User{alice, bob, carol, eve} {
		if err := f.db.CreateAccount(ctx, chat.Account{ID: u.ID, Username: u.ID, DisplayName: u.Name, Role: u.Role}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.db.CreateAccount(ctx, chat.Account{ID: "dis", Username: "dis", Role: chat.RoleMember, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	c := chat.Conversation{UserID: "alice", ID: "trip", AgentID: "main", SessionKey: "agent:main:clawchat:alice:trip", Title: "Trip"}
	if err := f.db.CreateConversation(ctx, c); err != nil {
		t.Fatal(err)
	}
	f.svc = share.New(share.Config{Store: f.db, Publisher: f.pub, Now: func() time.Time {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.now
	}, Changed: func(key string, lost []string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.lost[key] = append(f.lost[key], lost...)
	}})
	return f
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func is(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

func TestAddListRemoveLeave(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	// A non-participant learns nothing: the same not-found for every operation.
	for what, err := range map[string]error{
		"list":   func() error { _, err := f.svc.List(ctx, bob, "trip"); return err }(),
		"add":    func() error { _, err := f.svc.Add(ctx, bob, "trip", "eve", ""); return err }(),
		"remove": f.svc.Remove(ctx, bob, "trip", "alice"),
		"invite": func() error { _, err := f.svc.CreateInvite(ctx, bob, "trip", "", 0); return err }(),
		"mute":   f.svc.SetMuted(ctx, bob, "trip", true),
		"xfer":   f.svc.Transfer(ctx, bob, "trip", "bob"),
	} {
		is(t, err, chat.ErrNotFound, what)
		if err.Error() != "conversation not found: not found" {
			t.Errorf("%s: %q is not the one not-found answer", what, err)
		}
	}
	if _, err := f.svc.Add(ctx, alice, "trip", "nobody", ""); !errors.Is(err, chat.ErrInvalid) {
		t.Fatalf("add unknown: %v", err)
	}
	if _, err := f.svc.Add(ctx, alice, "trip", "dis", ""); !errors.Is(err, chat.ErrInvalid) {
		t.Fatalf("add disabled: %v", err)
	}
	if _, err := f.svc.Add(ctx, alice, "trip", "bob", "owner"); !errors.Is(err, chat.ErrInvalid) {
		t.Fatalf("add as owner: %v", err)
	}
	if _, err := f.svc.Add(ctx, alice, "trip", "BOB", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Add(ctx, alice, "trip", "carol", chat.ShareReadOnly); err != nil {
		t.Fatal(err)
	}
	m, err := f.svc.List(ctx, bob, "trip")
	if err != nil || m.Role != chat.ShareMember || len(m.Members) != 3 {
		t.Fatalf("bob's list %+v %v", m, err)
	}
	if m.Members[0].Name != "Alice" || m.Members[0].Muted != nil || m.Members[1].Muted == nil {
		t.Errorf("members %+v: names, and muted only in the viewer's own entry", m.Members)
	}
	if n := f.pub.names("bob"); !slices.Contains(n, "conversation.created") || !slices.Contains(n, "conversation.members") {
		t.Errorf("bob's events %v", n)
	}
	// A member manages nothing.
	_, err = f.svc.Add(ctx, bob, "trip", "eve", "")
	is(t, err, chat.ErrForbidden, "member adds")
	is(t, f.svc.Remove(ctx, bob, "trip", "carol"), chat.ErrForbidden, "member removes")
	_, err = f.svc.CreateInvite(ctx, bob, "trip", "", 0)
	is(t, err, chat.ErrForbidden, "member invites")
	is(t, f.svc.SetRole(ctx, bob, "trip", "carol", chat.ShareMember), chat.ErrForbidden, "member sets a role")
	// The owner cannot leave; a member can.
	is(t, f.svc.Remove(ctx, alice, "trip", "alice"), chat.ErrConflict, "owner leaves")
	if err := f.svc.Remove(ctx, carol, "trip", "carol"); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.List(ctx, carol, "trip")
	is(t, err, chat.ErrNotFound, "after leaving")
	// Removal by the owner: bob loses access and the hook hears it.
	if err := f.svc.Remove(ctx, alice, "trip", "bob"); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.List(ctx, bob, "trip")
	is(t, err, chat.ErrNotFound, "after removal")
	if got := f.lost["agent:main:clawchat:alice:trip"]; !slices.Equal(got, []string{"carol", "bob"}) {
		t.Errorf("lost %v", got)
	}
	if n := f.pub.names("bob"); n[len(n)-1] != "conversation.deleted" {
		t.Errorf("bob's last event %v", n)
	}
}

func TestTransfer(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	if _, err := f.svc.Add(ctx, alice, "trip", "bob", ""); err != nil {
		t.Fatal(err)
	}
	is(t, f.svc.Transfer(ctx, alice, "trip", "eve"), chat.ErrInvalid, "to a non-member")
	if err := f.svc.Transfer(ctx, alice, "trip", "bob"); err != nil {
		t.Fatal(err)
	}
	m, _ := f.svc.List(ctx, alice, "trip")
	if m.Role != chat.ShareMember {
		t.Fatalf("alice role %q after transfer", m.Role)
	}
	if _, err := f.svc.Add(ctx, bob, "trip", "eve", ""); err != nil {
		t.Fatalf("the new owner adds: %v", err)
	}
	// The creator can leave now, and loses access though the key is in their namespace.
	if err := f.svc.Remove(ctx, alice, "trip", "alice"); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.List(ctx, alice, "trip")
	is(t, err, chat.ErrNotFound, "creator after leaving")
}

// An owner's account deleted (here by `clawchat user del`, which writes the store only): the
// conversation passes to the longest-standing member, and Refresh — which every instance runs for
// each user in the auth change feed — tells each remaining participant's connections the new
// owner (conversation.members, as a transfer does) and names the conversation for its fan-out.
func TestRefreshAfterOwnerDeleted(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for _, p := range []struct {
		name string
		role chat.ShareRole
	}{{"bob", chat.ShareMember}, {"carol", chat.ShareReadOnly}, {"eve", chat.ShareMember}} {
		if _, err := f.svc.Add(ctx, alice, "trip", p.name, p.role); err != nil {
			t.Fatal(err)
		}
		f.advance(time.Second)
	}
	if err := f.svc.Transfer(ctx, alice, "trip", "eve"); err != nil {
		t.Fatal(err)
	}
	_, feed, err := f.db.AuthChangesSince(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.DeleteAccount(ctx, "eve"); err != nil {
		t.Fatal(err)
	}
	users, _, err := f.db.AuthChangesSince(ctx, feed)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(users)
	if want := []string{"alice", "bob", "carol"}; !slices.Equal(users, want) {
		t.Fatalf("feed after the owner's deletion: %v, want %v", users, want)
	}
	local := &rec{evs: map[string][]chat.Event{}}
	want := map[string]string{"alice": "owner", "bob": "member", "carol": "read-only"}
	for _, u := range users {
		keys, err := f.svc.Refresh(ctx, local, u)
		if err != nil || !slices.Equal(keys, []string{"agent:main:clawchat:alice:trip"}) {
			t.Fatalf("Refresh(%s): %v %v", u, keys, err)
		}
		local.mu.Lock()
		evs := local.evs[u]
		local.mu.Unlock()
		if len(evs) != 1 || evs[0].Name != "conversation.members" {
			t.Fatalf("%s got %v, want one conversation.members", u, local.names(u))
		}
		var m chat.ConversationMembers
		if err := json.Unmarshal(evs[0].Payload, &m); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range m.Members {
			got = append(got, v.UserID+"="+v.Role)
		}
		if m.Role != want[u] || !slices.Equal(got, []string{"alice=owner", "bob=member", "carol=read-only"}) {
			t.Errorf("%s told role %q, members %v", u, m.Role, got)
		}
	}
}

// An owner's account deleted with no member left to own the conversation (only read-only
// participants): it is deleted for everyone, and Refresh tells each remaining participant
// (conversation.deleted), unless they see another conversation with that id by then.
func TestRefreshAfterOwnerDeletedWithNoMemberLeft(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for _, name := range []string{"bob", "carol"} {
		if _, err := f.svc.Add(ctx, alice, "trip", name, chat.ShareReadOnly); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.db.DeleteAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	// carol made her own "trip" since; bob did not.
	if err := f.db.CreateConversation(ctx, chat.Conversation{UserID: "carol", ID: "trip", AgentID: "main",
		SessionKey: "agent:main:clawchat:carol:trip"}); err != nil {
		t.Fatal(err)
	}
	local := &rec{evs: map[string][]chat.Event{}}
	for _, u := range []string{"bob", "carol", "eve"} {
		if _, err := f.svc.Refresh(ctx, local, u); err != nil {
			t.Fatal(err)
		}
	}
	if got := local.names("bob"); !slices.Equal(got, []string{"conversation.deleted"}) {
		t.Fatalf("bob got %v, want conversation.deleted", got)
	}
	local.mu.Lock()
	payload := string(local.evs["bob"][0].Payload)
	local.mu.Unlock()
	if !strings.Contains(payload, `"trip"`) {
		t.Errorf("conversation.deleted payload %s", payload)
	}
	if got := local.names("carol"); len(got) != 0 {
		t.Errorf("carol, who has her own trip now, got %v", got)
	}
	if got := local.names("eve"); len(got) != 0 {
		t.Errorf("eve, who never took part, got %v", got)
	}
}

func TestInvites(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	inv, err := f.svc.CreateInvite(ctx, alice, "trip", chat.ShareReadOnly, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Token) != 43 || strings.Contains(inv.ID, inv.Token) {
		t.Fatalf("invite %+v", inv)
	}
	list, err := f.svc.Invites(ctx, alice, "trip")
	if err != nil || len(list) != 1 || list[0].Token != "" {
		t.Fatalf("invites %+v %v: listed without token", list, err)
	}
	// Forged tokens: malformed, well-formed but unknown, and a prefix of the real one.
	for _, tok := range []string{"", "x", strings.Repeat("A", 43), inv.Token[:42], inv.Token + "A", "../" + inv.Token} {
		_, err := f.svc.Redeem(ctx, bob, tok)
		is(t, err, chat.ErrNotFound, "forged "+tok)
	}
	// Signed out (no user) cannot redeem.
	_, err = f.svc.Redeem(ctx, chat.User{}, inv.Token)
	is(t, err, chat.ErrNotFound, "signed out")
	v, err := f.svc.Redeem(ctx, bob, inv.Token)
	if err != nil || v.ID != "trip" || v.Role != "read-only" {
		t.Fatalf("redeem: %+v %v", v, err)
	}
	// Used: nobody else, and not bob again.
	_, err = f.svc.Redeem(ctx, eve, inv.Token)
	is(t, err, chat.ErrNotFound, "used")
	// Expired.
	inv2, _ := f.svc.CreateInvite(ctx, alice, "trip", "", time.Minute)
	f.advance(time.Minute)
	_, err = f.svc.Redeem(ctx, eve, inv2.Token)
	is(t, err, chat.ErrNotFound, "expired")
	// Revoked.
	inv3, _ := f.svc.CreateInvite(ctx, alice, "trip", "", time.Hour)
	is(t, f.svc.RevokeInvite(ctx, bob, "trip", inv3.ID), chat.ErrForbidden, "member revokes")
	if err := f.svc.RevokeInvite(ctx, alice, "trip", inv3.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Redeem(ctx, eve, inv3.Token)
	is(t, err, chat.ErrNotFound, "revoked")
	// Every failure reads the same.
	_, e1 := f.svc.Redeem(ctx, eve, inv.Token)
	_, e2 := f.svc.Redeem(ctx, eve, strings.Repeat("B", 43))
	if e1.Error() != e2.Error() {
		t.Errorf("used %q vs unknown %q: distinguishable", e1, e2)
	}
	if _, err := f.svc.CreateInvite(ctx, alice, "trip", "", 365*24*time.Hour); !errors.Is(err, chat.ErrInvalid) {
		t.Errorf("a year-long invite: %v", err)
	}
}

func TestMaxMembers(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	svc := share.New(share.Config{Store: f.db, Publisher: f.pub, MaxMembers: 2})
	if _, err := svc.Add(ctx, alice, "trip", "bob", ""); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Add(ctx, alice, "trip", "eve", "")
	is(t, err, chat.ErrLimitReached, "third person")
}

// TestGrant: the embedded-mode hook adds people without an owner's request, once.
func TestGrant(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	c, _, err := f.db.Access(ctx, "alice", "trip")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := f.svc.Grant(ctx, c, "bob", chat.ShareMember); err != nil {
			t.Fatal(err)
		}
	}
	m, err := f.svc.List(ctx, bob, "trip")
	if err != nil || len(m.Members) != 2 || m.Role != chat.ShareMember {
		t.Fatalf("after grant: %+v %v", m, err)
	}
	is(t, f.svc.Grant(ctx, c, "eve", chat.ShareOwner), chat.ErrInvalid, "grant ownership")

	// Granted again with another role: the grantor is the authority, the role changes and the
	// participants are told (conversation.members with bob's new role); the owner's never does.
	before := len(f.pub.names("bob"))
	if err := f.svc.Grant(ctx, c, "bob", chat.ShareReadOnly); err != nil {
		t.Fatal(err)
	}
	if m, err := f.svc.List(ctx, bob, "trip"); err != nil || m.Role != chat.ShareReadOnly {
		t.Fatalf("after a read-only grant: %+v %v", m, err)
	}
	names := f.pub.names("bob")[before:]
	if !slices.Contains(names, "conversation.members") {
		t.Fatalf("bob was not told of his new role: %v", names)
	}
	if err := f.svc.Grant(ctx, c, "alice", chat.ShareReadOnly); err != nil {
		t.Fatal(err)
	}
	if m, err := f.svc.List(ctx, alice, "trip"); err != nil || m.Role != chat.ShareOwner {
		t.Fatalf("the owner granted read-only: %+v %v", m, err)
	}
}
