package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/testkit/storetest"
)

// Several instances: two clawchat processes share one PostgreSQL database (a real server from
// the apt package) and one OpenClaw Gateway, as two replicas behind a load balancer would.

func startPair(t *testing.T) (a, b *server) {
	t.Helper()
	g := sharedGateway(t)
	dsn := storetest.PostgresURL(t)
	a = startServerWith(t, g, g.URL, "CLAWCHAT_DATABASE_URL="+dsn)
	b = startServerWith(t, g, g.URL, "CLAWCHAT_DATABASE_URL="+dsn)
	return a, b
}

func TestScaleStreamSentThroughOtherInstance(t *testing.T) {
	a, b := startPair(t)
	onA := signIn(t, a.URL, "alice", alicePass)
	// Sessions live in the shared database: the same cookie works on B.
	onB := &apiClient{t: t, base: b.URL, cookie: onA.cookie}
	ev := onA.events("")

	r := onB.send("across", "sent through b [delay=20] [words=10]")
	want := echoOf("sent through b", 10)
	evs := ev.waitFor(90*time.Second, "final on instance A", hasEvent("run.final", r.RunID))
	if got := eventText(evs, "run.final", r.RunID); got != want {
		t.Errorf("final on A = %q, want %q", got, want)
	}
	if got := streamedText(evs, r.RunID); got != want {
		t.Errorf("text streamed on A = %q, want %q", got, want)
	}
	// The conversation B created is listed on A.
	var list struct {
		Sessions []struct {
			ID string `json:"id"`
		} `json:"sessions"`
	}
	onA.do("GET", "/api/sessions", nil, &list)
	var found bool
	for _, s := range list.Sessions {
		found = found || s.ID == "across"
	}
	if !found {
		t.Errorf("instance A does not list the conversation created on B: %+v", list)
	}
	// Bob, signed in on A, sees nothing of it.
	bob := signIn(t, a.URL, "bob", bobPass)
	if st := bob.do("GET", "/api/sessions/across/history", nil, nil); st != 404 {
		t.Errorf("bob reads alice's conversation on A: %d, want 404", st)
	}
}

func TestScaleResumeOnOtherInstanceHasNoGap(t *testing.T) {
	a, b := startPair(t)
	onB := signIn(t, b.URL, "alice", alicePass)
	onA := &apiClient{t: t, base: a.URL, cookie: onB.cookie}
	first := onB.events("")
	r := onB.send("move", "move between instances [delay=40] [words=50]")
	evs := first.waitFor(90*time.Second, "some words on B", func(evs []sseEvent) bool {
		return strings.Contains(streamedText(evs, r.RunID), " w3")
	})
	first.close()

	// The load balancer sends the reconnect to A, with B's Last-Event-ID.
	second := onA.events(evs[len(evs)-1].ID)
	rest := second.waitFor(90*time.Second, "final on A", hasEvent("run.final", r.RunID))
	want := echoOf("move between instances", 50)
	all := append(append([]sseEvent(nil), evs...), rest...)
	if got := streamedText(all, r.RunID); got != want {
		t.Errorf("text across the move = %q, want %q", got, want)
	}
}
