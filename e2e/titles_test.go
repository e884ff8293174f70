package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/fakemodel"
	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// TestConversationTitlesFromTheAgent runs the real Gateway with a utility model (the scripted
// model answers OpenClaw's title request): a member's first message names the conversation,
// the agent's short title replaces that name (conversation.updated and the list), and every
// title reaches the Gateway as the session's label — unique per Gateway, so a second
// conversation with the same title is labelled "<title> · <id>" — and a rename follows. The
// label patches leave the member's session policy alone: the conversation keeps answering.
func TestConversationTitlesFromTheAgent(t *testing.T) {
	g := ownGateway(t, ochar.Options{UtilityModel: true})
	srv := safetyServer(t, g)
	alice := signIn(t, srv.URL, "alice", alicePass)
	ev := alice.events("")

	first := "plan a **weekend** trip to rome in may"
	want := fakemodel.Title(first)
	if want == "plan a weekend trip to rome in may" || want == "" {
		t.Fatalf("fakemodel.Title(%q) = %q: the test needs an agent title unlike the first message", first, want)
	}
	for _, conv := range []string{"trip", "trip2"} {
		if _, end, got := reply(t, alice, ev, conv, first); end != "run.final" {
			t.Fatalf("%s: first message ended %s %q", conv, end, got)
		}
		ev.waitFor(60*time.Second, conv+" titled by the agent", func(evs []sseEvent) bool {
			for _, e := range evs {
				if e.Name == "conversation.updated" && e.Data["id"] == conv && e.Data["title"] == want {
					return true
				}
			}
			return false
		})
	}
	var list struct {
		Sessions []struct{ ID, Title string } `json:"sessions"`
	}
	alice.do("GET", "/api/sessions", nil, &list)
	titles := map[string]string{}
	for _, s := range list.Sessions {
		titles[s.ID] = s.Title
	}
	if titles["trip"] != want || titles["trip2"] != want {
		t.Errorf("listed titles = %v, want both %q", titles, want)
	}

	// The Gateway's own session list (what the Control UI shows) carries the titles as labels.
	watcher := startClient(t, g.URL, g.Token)
	watcher.waitState(60*time.Second, gateway.StateConnected)
	uid := userID(t, alice)
	waitLabels(t, watcher, uid, map[string]string{"trip": want, "trip2": want + " · trip2"})

	if code := alice.do("PATCH", "/api/sessions/trip", map[string]string{"title": "Rome in May"}, nil); code != 200 {
		t.Fatalf("rename: %d", code)
	}
	waitLabels(t, watcher, uid, map[string]string{"trip": "Rome in May", "trip2": want + " · trip2"})

	// The member's conversation still answers under its policy after the label patches.
	if _, end, got := reply(t, alice, ev, "trip", "and the museums [delay=1]"); end != "run.final" || got != fakemodel.Reply("and the museums [delay=1]") {
		t.Errorf("after the labels: %s %q", end, got)
	}
}

// waitLabels waits until the Gateway's sessions of user uid have the wanted labels (by
// conversation id). No event announces a label, so it polls sessions.list.
func waitLabels(t *testing.T, c *client, uid string, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	got := map[string]string{}
	for {
		res, err := c.SessionsList(ctxT(t, 30*time.Second), gateway.SessionsListParams{Limit: 200})
		if err != nil {
			t.Fatalf("sessions.list: %v", err)
		}
		clear(got)
		for _, s := range res.Sessions {
			if i := strings.Index(s.Key, ":clawchat:"+uid+":"); i >= 0 {
				got[s.Key[i+len(":clawchat:"+uid+":"):]] = s.Label
			}
		}
		ok := true
		for id, l := range want {
			ok = ok && got[id] == l
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Gateway labels = %v, want %v", got, want)
		}
		time.Sleep(200 * time.Millisecond) // polling the Gateway: no event announces a label
	}
}
