package embed

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/clawchat/clawchat/internal/chat"
)

// sharedFake is the chat core for shared contexts: conversations with their participants, and
// Get answering only participants (as the bridge does).
type sharedFake struct {
	fakeChat
	mu      sync.Mutex
	convs   map[string]chat.Conversation
	members map[string]map[string]chat.ShareRole // conversation → user → role
	grants  int
	// race, when set, makes the first two lookups wait for each other: two instances that both
	// find no conversation and both create one.
	race    chan struct{}
	arrived int
}

func newSharedFake() *sharedFake {
	return &sharedFake{convs: map[string]chat.Conversation{}, members: map[string]map[string]chat.ShareRole{}}
}

func (f *sharedFake) Get(_ context.Context, u chat.User, id string) (chat.ConversationView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.convs[id]
	role, member := f.members[id][u.ID]
	if !ok || !member {
		return chat.ConversationView{}, errNoContext
	}
	return chat.ConversationView{ID: id, Role: string(role), Context: &chat.HostContext{App: c.HostApp, ID: c.ContextID}}, nil
}

func (f *sharedFake) SharedConversation(_ context.Context, app, ctxID, id string) (chat.Conversation, error) {
	f.mu.Lock()
	c, ok := f.convs[id]
	gate := f.race
	if gate != nil {
		if f.arrived++; f.arrived == 2 {
			close(gate)
		}
		if f.arrived > 2 {
			gate = nil
		}
	}
	f.mu.Unlock()
	if gate != nil { // the first two lookups (one per instance) both see what was there before
		select {
		case <-gate:
		case <-time.After(5 * time.Second):
		}
	}
	if !ok || c.HostApp != app || c.ContextID != ctxID {
		return chat.Conversation{}, chat.ErrNotFound
	}
	return c, nil
}

func (f *sharedFake) CreateSharedInContext(_ context.Context, u chat.User, app, ctxID, id, _ string) (chat.Conversation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.convs[id]; ok {
		return chat.Conversation{}, chat.ErrConflict
	}
	c := chat.Conversation{UserID: u.ID, ID: id, HostApp: app, ContextID: ctxID}
	f.convs[id] = c
	f.members[id] = map[string]chat.ShareRole{u.ID: chat.ShareOwner}
	return c, nil
}

func (f *sharedFake) Grant(_ context.Context, c chat.Conversation, userID string, role chat.ShareRole) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grants++
	f.members[c.ID][userID] = role
	return nil
}

func (f *sharedFake) role(id, userID string) chat.ShareRole {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members[id][userID]
}

func TestSharedContextOneConversationForEveryGrantedUser(t *testing.T) {
	s, db, key, h := newService(t, 0)
	f := newSharedFake()
	s.SetChat(f)
	s.SetShared(f)
	exp := time.Now().Add(5 * time.Minute)
	n := 0
	session := func(sub string, grants ...ContextGrant) (string, string) {
		t.Helper()
		n++
		c := claimsFor("compose", "jti-shared-"+sub+string(rune('a'+n)), exp)
		c.Subject, c.Contexts = sub, grants
		code, out := call(t, h, "POST", "/embed/session", "", map[string]string{"token": sign(t, jose.EdDSA, key, "", c)})
		if code != http.StatusOK {
			t.Fatalf("exchange %s: %d %v", sub, code, out)
		}
		return out["session"].(string), out["user"].(map[string]any)["id"].(string)
	}
	list := func(sess string) (int, string) {
		t.Helper()
		code, out := call(t, h, "GET", "/api/embed/conversations?context=doc:abc123", sess, nil)
		if code != http.StatusOK {
			return code, ""
		}
		cs := out["conversations"].([]any)
		if len(cs) != 1 {
			t.Fatalf("a shared context lists %d conversations: %v", len(cs), out)
		}
		return code, cs[0].(map[string]any)["id"].(string)
	}
	want := SharedConversationID("compose", "doc:abc123")

	alice, aliceID := session("alice", ContextGrant{ID: "doc:abc123", Role: "editor", Shared: true})
	if code, id := list(alice); code != http.StatusOK || id != want {
		t.Fatalf("alice opens the shared context: %d %q, want %q", code, id, want)
	}
	if f.convs[want].UserID != aliceID || f.role(want, aliceID) != chat.ShareOwner {
		t.Fatalf("the first user does not own it: %+v", f.convs[want])
	}
	bob, bobID := session("bob", ContextGrant{ID: "doc:abc123", Role: "viewer", Shared: true})
	if code, id := list(bob); code != http.StatusOK || id != want {
		t.Fatalf("bob opens the shared context: %d %q", code, id)
	}
	if r := f.role(want, bobID); r != chat.ShareReadOnly {
		t.Fatalf("bob (viewer) joined as %q, want read-only", r)
	}
	carol, carolID := session("carol", ContextGrant{ID: "doc:abc123", Role: "editor", Shared: true})
	if code, body := call(t, h, "POST", "/api/embed/conversations", carol, map[string]string{"context": "doc:abc123"}); code != http.StatusOK ||
		body["conversation"].(map[string]any)["id"] != want {
		t.Fatalf("carol creates in the shared context: %d %v", code, body)
	}
	if r := f.role(want, carolID); r != chat.ShareMember {
		t.Fatalf("carol (editor) joined as %q, want member", r)
	}
	// Opening again grants nothing new.
	list(bob)
	list(alice)
	if f.grants != 2 {
		t.Fatalf("%d grants, want 2 (bob, carol)", f.grants)
	}

	// No grant of the context: the 404 of today, and no participant row.
	dave, daveID := session("dave", ContextGrant{ID: "doc:roadmap", Role: "editor", Shared: true})
	if code, _ := list(dave); code != http.StatusNotFound {
		t.Fatalf("dave without the grant: %d, want 404", code)
	}
	if code, _ := call(t, h, "POST", "/api/embed/conversations", dave, map[string]string{"context": "doc:abc123"}); code != http.StatusNotFound {
		t.Fatalf("dave creates without the grant: %d, want 404", code)
	}
	if f.role(want, daveID) != "" {
		t.Fatal("dave was made a participant")
	}
	// A grant that is not shared: the user's own conversations, as before.
	erin, erinID := session("erin", ContextGrant{ID: "doc:abc123", Role: "editor"})
	if code, id := list(erin); code != http.StatusOK || id != "c-1" {
		t.Fatalf("erin (not shared): %d %q, want her own c-1", code, id)
	}
	if f.role(want, erinID) != "" {
		t.Fatal("a grant without shared joined the shared conversation")
	}

	// Every grant is audited.
	entries, err := db.Audit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range entries {
		if e.Target == want {
			got[e.Action]++
		}
	}
	if got["embed.shared.create"] != 1 || got["embed.shared.grant"] != 2 {
		t.Fatalf("audit = %v, want one create and two grants", got)
	}
}

func TestSharedContextConcurrentFirstOpensCreateOne(t *testing.T) {
	s, _, key, h := newService(t, 0)
	f := newSharedFake()
	s.SetChat(f)
	s.SetShared(f)
	exp := time.Now().Add(5 * time.Minute)
	var sessions []string
	for _, sub := range []string{"a1", "a2", "a3", "a4"} {
		c := claimsFor("compose", "jti-conc-"+sub+"-0001", exp)
		c.Subject, c.Contexts = sub, []ContextGrant{{ID: "doc:abc123", Role: "editor", Shared: true}}
		code, out := call(t, h, "POST", "/embed/session", "", map[string]string{"token": sign(t, jose.EdDSA, key, "", c)})
		if code != http.StatusOK {
			t.Fatalf("exchange: %d %v", code, out)
		}
		sessions = append(sessions, out["session"].(string))
	}
	var wg sync.WaitGroup
	for _, sess := range sessions {
		wg.Go(func() {
			if code, out := call(t, h, "GET", "/api/embed/conversations?context=doc:abc123", sess, nil); code != http.StatusOK {
				t.Errorf("open: %d %v", code, out)
			}
		})
	}
	wg.Wait()
	id := SharedConversationID("compose", "doc:abc123")
	if len(f.convs) != 1 || len(f.members[id]) != 4 || f.grants != 3 {
		t.Fatalf("%d conversations, %d participants, %d grants; want 1, 4, 3", len(f.convs), len(f.members[id]), f.grants)
	}
}

// Two instances (two Services, each with its own per-instance lock) open a shared context for the
// first time at the same instant: the chat core refuses every creation but one (the store's unique
// context id, migration 00007, as the fake does), and every loser joins the winner's conversation.
func TestSharedContextConcurrentFirstOpensOnTwoInstancesCreateOne(t *testing.T) {
	f := newSharedFake()
	f.race = make(chan struct{})
	type instance struct {
		key ed25519.PrivateKey
		h   http.Handler
	}
	var insts []instance
	for range 2 {
		s, _, key, h := newService(t, 0)
		s.SetChat(f)
		s.SetShared(f)
		insts = append(insts, instance{key, h})
	}
	exp := time.Now().Add(5 * time.Minute)
	type opener struct {
		h    http.Handler
		sess string
	}
	var openers []opener
	for i, sub := range []string{"b1", "b2", "b3", "b4", "b5", "b6"} {
		in := insts[i%2]
		c := claimsFor("compose", "jti-two-"+sub+"-0001", exp)
		c.Subject, c.Contexts = sub, []ContextGrant{{ID: "doc:abc123", Role: "editor", Shared: true}}
		code, out := call(t, in.h, "POST", "/embed/session", "", map[string]string{"token": sign(t, jose.EdDSA, in.key, "", c)})
		if code != http.StatusOK {
			t.Fatalf("exchange: %d %v", code, out)
		}
		openers = append(openers, opener{in.h, out["session"].(string)})
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, o := range openers {
		wg.Go(func() {
			<-start
			if code, out := call(t, o.h, "GET", "/api/embed/conversations?context=doc:abc123", o.sess, nil); code != http.StatusOK {
				t.Errorf("open: %d %v", code, out)
			}
		})
	}
	close(start)
	wg.Wait()
	id := SharedConversationID("compose", "doc:abc123")
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.convs) != 1 || len(f.members[id]) != len(openers) || f.grants != len(openers)-1 {
		t.Fatalf("%d conversations, %d participants, %d grants; want 1, %d, %d", len(f.convs), len(f.members[id]), f.grants,
			len(openers), len(openers)-1)
	}
}

func TestShareRoleFromEmbedRole(t *testing.T) {
	if ShareRole(chat.EmbedRoleViewer) != chat.ShareReadOnly || ShareRole(chat.EmbedRoleEditor) != chat.ShareMember {
		t.Fatal("viewer must be read-only and editor member")
	}
	if a, b := SharedConversationID("compose", "doc:x"), SharedConversationID("wiki", "doc:x"); a == b || !chat.ValidConversationID(a) {
		t.Fatalf("ids %q %q", a, b)
	}
}

// TestSharedContextRoleFollowsTheHostToken: the host is the authority over roles in a shared
// context. A participant's role follows each newer token that opens the context (viewer →
// read-only, editor → member), each change audited embed.shared.role with both roles; the same
// role writes nothing; the owner stays the owner whatever their token says.
func TestSharedContextRoleFollowsTheHostToken(t *testing.T) {
	s, db, key, h := newService(t, 0)
	f := newSharedFake()
	s.SetChat(f)
	s.SetShared(f)
	exp := time.Now().Add(5 * time.Minute)
	n := 0
	open := func(sub, role string) string {
		t.Helper()
		n++
		c := claimsFor("compose", "jti-role-"+sub+"-"+string(rune('a'+n))+"-01", exp)
		c.Subject, c.Contexts = sub, []ContextGrant{{ID: "doc:abc123", Role: role, Shared: true}}
		code, out := call(t, h, "POST", "/embed/session", "", map[string]string{"token": sign(t, jose.EdDSA, key, "", c)})
		if code != http.StatusOK {
			t.Fatalf("exchange %s: %d %v", sub, code, out)
		}
		sess := out["session"].(string)
		code, out = call(t, h, "GET", "/api/embed/conversations?context=doc:abc123", sess, nil)
		if code != http.StatusOK {
			t.Fatalf("%s opens: %d %v", sub, code, out)
		}
		return out["conversations"].([]any)[0].(map[string]any)["role"].(string)
	}
	id := SharedConversationID("compose", "doc:abc123")
	if role := open("alice", "editor"); role != "owner" {
		t.Fatalf("alice opens first: %q, want owner", role)
	}
	for i, step := range []struct{ sub, embedRole, want string }{
		{"bob", "viewer", "read-only"},
		{"bob", "editor", "member"},    // promoted by the host
		{"bob", "editor", "member"},    // the same: nothing changes
		{"bob", "viewer", "read-only"}, // demoted
		{"alice", "viewer", "owner"},   // the owner stays the owner
	} {
		if role := open(step.sub, step.embedRole); role != step.want {
			t.Fatalf("step %d: %s with a %s token is %q, want %q", i, step.sub, step.embedRole, role, step.want)
		}
	}
	if f.grants != 3 {
		t.Fatalf("%d grants, want 3 (bob joins, promoted, demoted)", f.grants)
	}
	entries, err := db.Audit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, e := range entries {
		if e.Action == "embed.shared.role" && e.Target == id {
			_, fromTo, _ := strings.Cut(e.Detail, "context=doc:abc123 ")
			changes = append(changes, fromTo)
		}
	}
	slices.Sort(changes)
	if want := []string{"from=member to=read-only", "from=read-only to=member"}; !slices.Equal(changes, want) {
		t.Fatalf("role changes audited: %q, want %q", changes, want)
	}
}
