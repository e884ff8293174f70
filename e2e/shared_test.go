package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// liveFor opens a WebSocket to base with c's session cookie and subscribes it.
func liveFor(t *testing.T, c *apiClient, base string) *liveWS {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	name, value, _ := strings.Cut(c.cookie, "=")
	u, _ := url.Parse(base)
	jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value}})
	ws := dialLive(t, base, jar)
	if r := ws.call("subscribe", map[string]any{}); r == nil || r["ok"] != true {
		t.Fatalf("subscribe: %v", r)
	}
	return ws
}

func payloadHas(f map[string]any, parts ...string) bool {
	b, _ := json.Marshal(f["payload"])
	for _, p := range parts {
		if !strings.Contains(string(b), p) {
			return false
		}
	}
	return true
}

func eventIs(name string, parts ...string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["event"] == name && payloadHas(f, parts...) }
}

// TestSharedTwoInstancesMembershipAndPresence: two clawchat instances share PostgreSQL. Alice
// (on A) shares a conversation with Bob (on B): Bob's window on B hears of it, both see who is
// viewing and typing across the instances, and when Alice removes Bob on A, B closes Bob's
// stream at once and answers his next request with 404.
func TestSharedTwoInstancesMembershipAndPresence(t *testing.T) {
	a, b := startPair(t)
	alice := signIn(t, a.URL, "alice", alicePass)
	bob := signIn(t, b.URL, "bob", bobPass)
	if st := alice.do("POST", "/api/sessions", map[string]any{"id": "trip", "title": "Trip"}, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	aliceWS, bobWS := liveFor(t, alice, a.URL), liveFor(t, bob, b.URL)
	if st := bob.do("GET", "/api/sessions/trip/members", nil, nil); st != http.StatusNotFound {
		t.Fatalf("bob before being added: %d", st)
	}

	if st := alice.do("POST", "/api/sessions/trip/members", map[string]any{"username": "bob"}, nil); st != http.StatusCreated {
		t.Fatalf("add bob: %d", st)
	}
	// Membership crosses instances: B delivers the new conversation and its members to Bob.
	bobWS.waitFrame("conversation.created on B", eventIs("conversation.created", `"id":"trip"`, `"role":"member"`))
	bobWS.waitFrame("conversation.members on B", eventIs("conversation.members", `"name":"alice"`, `"name":"bob"`))
	var m struct {
		Role    string `json:"role"`
		Members []struct{ Name, Role string }
	}
	if st := bob.do("GET", "/api/sessions/trip/members", nil, &m); st != http.StatusOK || m.Role != "member" || len(m.Members) != 2 {
		t.Fatalf("bob's members on B: %d %+v", st, m)
	}

	// Presence across instances.
	if r := aliceWS.call("presence", map[string]any{"conversation": "trip"}); r["ok"] != true {
		t.Fatalf("alice presence: %v", r)
	}
	bobWS.waitFrame("alice viewing, on B", eventIs("presence", `"name":"alice"`))
	if r := bobWS.call("presence", map[string]any{"conversation": "trip"}); r["ok"] != true {
		t.Fatalf("bob presence: %v", r)
	}
	aliceWS.waitFrame("both viewing, on A", eventIs("presence", `"name":"alice"`, `"name":"bob"`))
	// Typing across instances.
	if r := bobWS.call("typing", map[string]any{"conversation": "trip", "typing": true}); r["ok"] != true {
		t.Fatalf("bob typing: %v", r)
	}
	aliceWS.waitFrame("bob typing, on A", eventIs("typing", `"typing":true`, `"name":"bob"`))

	// Removal on A cuts Bob's stream on B at once, and B answers him 404.
	seen := len(aliceWS.frames())
	if st := alice.do("DELETE", "/api/sessions/trip/members/"+userID(t, bob), nil, nil); st != http.StatusNoContent {
		t.Fatalf("remove bob: %d", st)
	}
	if code := bobWS.waitClosed(10 * time.Second); code != websocket.StatusPolicyViolation {
		t.Fatalf("bob's socket on B: close %d, want 1008", code)
	}
	if st := bob.do("GET", "/api/sessions/trip/members", nil, nil); st != http.StatusNotFound {
		t.Fatalf("bob after removal on B: %d, want 404", st)
	}
	// Alice sees Bob leave the viewers (his connection on B is gone).
	aliceWS.waitFrame("bob gone, on A", after(aliceWS, seen, func(f map[string]any) bool {
		return f["event"] == "presence" && payloadHas(f, `"name":"alice"`) && !payloadHas(f, `"name":"bob"`)
	}))
}

// after matches only frames that w received after its first n.
func after(w *liveWS, n int, match func(map[string]any) bool) func(map[string]any) bool {
	return func(f map[string]any) bool {
		fs := w.frames()
		for i := n; i < len(fs); i++ {
			if match(fs[i]) {
				return true
			}
		}
		return false
	}
}

// TestSharedOwnerDeletedByCLI: two instances on PostgreSQL. Alice created "trip", shared it with
// Bob and gave him ownership. `clawchat user del bob` (another process, writing only the store)
// passes ownership back to Alice, the longest-standing member, in the deletion's transaction; her
// socket on the other instance is told (conversation.members with her new role, as after a
// transfer) through the auth change feed, and she manages the conversation as its owner.
func TestSharedOwnerDeletedByCLI(t *testing.T) {
	a, b := startPair(t)
	alice := signIn(t, a.URL, "alice", alicePass)
	bob := signIn(t, a.URL, "bob", bobPass)
	if st := alice.do("POST", "/api/sessions", map[string]any{"id": "trip", "title": "Trip"}, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	if st := alice.do("POST", "/api/sessions/trip/members", map[string]any{"username": "bob"}, nil); st != http.StatusCreated {
		t.Fatalf("add bob: %d", st)
	}
	if st := alice.do("POST", "/api/sessions/trip/owner", map[string]any{"userId": userID(t, bob)}, nil); st != http.StatusNoContent {
		t.Fatalf("transfer to bob: %d", st)
	}
	aliceB := &apiClient{t: t, base: b.URL, cookie: alice.cookie}
	aliceWS := liveFor(t, aliceB, b.URL)
	seen := len(aliceWS.frames())

	cmd := exec.CommandContext(t.Context(), a.bin, "user", "del", "bob")
	cmd.Env = a.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clawchat user del bob: %v\n%s", err, out)
	}
	aliceWS.waitFrame("conversation.members making alice the owner, on B", after(aliceWS, seen, func(f map[string]any) bool {
		p, _ := f["payload"].(map[string]any)
		return f["event"] == "conversation.members" && p["conversation"] == "trip" && p["role"] == "owner" &&
			!payloadHas(f, `"name":"bob"`)
	}))
	var m struct {
		Role    string `json:"role"`
		Members []struct{ Name, Role string }
	}
	if st := aliceB.do("GET", "/api/sessions/trip/members", nil, &m); st != http.StatusOK || m.Role != "owner" || len(m.Members) != 1 {
		t.Fatalf("alice's members on B: %d %+v", st, m)
	}
	if st := aliceB.do("PATCH", "/api/sessions/trip", map[string]any{"title": "Trip (alice's again)"}, nil); st != http.StatusOK {
		t.Fatalf("rename by the new owner: %d", st)
	}
}
