package titles_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/bridge/titles"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/bridgetest"
)

// harness runs a titles.Service whose background work is awaited by wait.
type harness struct {
	svc     *titles.Service
	st      *bridgetest.Store
	up      *bridgetest.Upstream
	wg      sync.WaitGroup
	mu      sync.Mutex
	updated []chat.Conversation
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{st: bridgetest.NewStore(), up: bridgetest.NewUpstream()}
	h.svc = titles.New(titles.Config{
		Gateway: gateway.API{R: h.up}, Store: h.st, Base: t.Context(),
		Go: func(f func()) { h.wg.Go(f) },
		Updated: func(_ context.Context, c chat.Conversation) {
			h.mu.Lock()
			h.updated = append(h.updated, c)
			h.mu.Unlock()
		},
		Logger: slog.New(slog.DiscardHandler), Now: time.Now,
	})
	return h
}

// conv stores and returns alice's conversation id named title.
func (h *harness) conv(t *testing.T, id, title string) chat.Conversation {
	t.Helper()
	c := chat.Conversation{ID: id, UserID: "alice", AgentID: "main", SessionKey: "agent:main:clawchat-alice-" + id, Title: title, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := h.st.CreateConversation(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func (h *harness) title(t *testing.T, id string) string {
	t.Helper()
	c, err := h.st.Conversation(t.Context(), "alice", id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Title
}

// labels returns the labels patched, in order, for key.
func (h *harness) labels(key string) []string {
	var out []string
	for _, c := range h.up.Calls(gateway.MethodSessionsPatch) {
		if c.Params["key"] == key {
			l, _ := c.Params["label"].(string)
			out = append(out, l)
		}
	}
	return out
}

func titleIs(s *string) func(map[string]any) (any, error) {
	return func(map[string]any) (any, error) { return map[string]any{"title": s}, nil }
}

func ptr(s string) *string { return &s }

func TestAgentTitleReplacesFirstName(t *testing.T) {
	h := newHarness(t)
	h.up.Handle(gateway.MethodSessionsTitle, titleIs(ptr("Trip to Lisbon")))
	c := h.conv(t, "c1", "plan a trip to lisbon in may")
	h.svc.Named(c, "plan a trip to lisbon in may please")
	h.wg.Wait()
	if got := h.title(t, "c1"); got != "Trip to Lisbon" {
		t.Errorf("title = %q, want the agent's", got)
	}
	calls := h.up.Calls(gateway.MethodSessionsTitle)
	if len(calls) != 1 || calls[0].Params["agentId"] != "main" || calls[0].Params["message"] != "plan a trip to lisbon in may please" {
		t.Errorf("sessions.title.prepare calls = %+v", calls)
	}
	if len(h.updated) != 1 || h.updated[0].Title != "Trip to Lisbon" {
		t.Errorf("participants told %+v", h.updated)
	}
	if l := h.labels(c.SessionKey); len(l) != 1 || l[0] != "Trip to Lisbon" {
		t.Errorf("labels = %q", l)
	}
}

func TestNoAgentTitleLabelsFirstName(t *testing.T) {
	h := newHarness(t)
	h.up.Handle(gateway.MethodSessionsTitle, titleIs(nil)) // no utility model
	c := h.conv(t, "c1", "hello there")
	h.svc.Named(c, "hello there")
	h.wg.Wait()
	if got := h.title(t, "c1"); got != "hello there" || len(h.updated) != 0 {
		t.Errorf("title = %q, updates %v; want unchanged", got, h.updated)
	}
	if l := h.labels(c.SessionKey); len(l) != 1 || l[0] != "hello there" {
		t.Errorf("labels = %q", l)
	}
}

func TestRenameMeanwhileWins(t *testing.T) {
	h := newHarness(t)
	c := h.conv(t, "c1", "first words")
	// The user renames the conversation while the Gateway makes its title.
	h.up.Handle(gateway.MethodSessionsTitle, func(map[string]any) (any, error) {
		if _, err := h.st.RetitleConversation(context.Background(), "alice", "c1", "first words", "Mine", time.Now()); err != nil {
			t.Error(err)
		}
		return map[string]any{"title": "The agent's"}, nil
	})
	h.svc.Named(c, "first words")
	h.wg.Wait()
	if got := h.title(t, "c1"); got != "Mine" {
		t.Errorf("title = %q, want the rename kept", got)
	}
	if len(h.updated) != 0 || len(h.labels(c.SessionKey)) != 0 {
		t.Errorf("updates %v, labels %q: the rename pushes its own label", h.updated, h.labels(c.SessionKey))
	}
}

func TestDeletedMeanwhileIsQuiet(t *testing.T) {
	h := newHarness(t)
	c := h.conv(t, "c1", "first words")
	h.up.Handle(gateway.MethodSessionsTitle, func(map[string]any) (any, error) {
		if err := h.st.DeleteConversation(context.Background(), "alice", "c1"); err != nil {
			t.Error(err)
		}
		return map[string]any{"title": "Gone"}, nil
	})
	h.svc.Named(c, "first words")
	h.wg.Wait()
	if len(h.updated) != 0 || len(h.up.Calls(gateway.MethodSessionsPatch)) != 0 {
		t.Errorf("a deleted conversation was updated %v or labelled %v", h.updated, h.up.Calls(gateway.MethodSessionsPatch))
	}
}

func TestLabelInUseGetsTheID(t *testing.T) {
	h := newHarness(t)
	h.up.Handle(gateway.MethodSessionsPatch, func(p map[string]any) (any, error) {
		if p["label"] == "Groceries" {
			return nil, &gateway.Error{Method: gateway.MethodSessionsPatch, Code: "INVALID_REQUEST", Message: "label already in use: Groceries"}
		}
		return map[string]any{"ok": true}, nil
	})
	c := h.conv(t, "c2", "Groceries")
	h.svc.Renamed(c)
	h.wg.Wait()
	if l := h.labels(c.SessionKey); len(l) != 2 || l[1] != "Groceries · c2" {
		t.Errorf("labels = %q, want the title then \"Groceries · c2\"", l)
	}
	// Any other refusal is not retried.
	h.up.Handle(gateway.MethodSessionsPatch, func(map[string]any) (any, error) {
		return nil, &gateway.Error{Method: gateway.MethodSessionsPatch, Code: "UNAVAILABLE", Message: "down"}
	})
	c3 := h.conv(t, "c3", "Other")
	h.svc.Renamed(c3)
	h.wg.Wait()
	if l := h.labels(c3.SessionKey); len(l) != 1 {
		t.Errorf("labels after UNAVAILABLE = %q, want one try", l)
	}
}

func TestHostileAgentTitleIsCleaned(t *testing.T) {
	h := newHarness(t)
	h.up.Handle(gateway.MethodSessionsTitle, titleIs(ptr("  <b>Hi</b>\x1b[31m\u202e\n\tthere  ")))
	c := h.conv(t, "c1", "x")
	h.svc.Named(c, "x")
	h.wg.Wait()
	// Markup stays text (clients render titles as text); control and format characters go.
	if got := h.title(t, "c1"); got != "<b>Hi</b> [31m there" {
		t.Errorf("title = %q", got)
	}
}

func TestGatewayConversationsAreLeftAlone(t *testing.T) {
	h := newHarness(t)
	h.svc.Named(chat.Conversation{ID: "gw:agent:main:main", SessionKey: "agent:main:main", Title: "x"}, "x")
	h.svc.Renamed(chat.Conversation{ID: "gw:agent:main:main", SessionKey: "agent:main:main", Title: "x"})
	h.wg.Wait()
	if n := len(h.up.Calls("")); n != 0 {
		t.Errorf("%d Gateway calls for a Gateway session", n)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "",
		"  a \n b  ":                  "a b",
		"zero\u200bwidth":             "zero width",
		"bidi\u202eevil":              "bidi evil",
		strings.Repeat("é", 150):      strings.Repeat("é", 100),
		"ok\xffbad":                   "ok bad",
		"\x00\x01":                    "",
		"Emoji 🙂 kept":                "Emoji 🙂 kept",
		"tab\tand\rcarriage":          "tab and carriage",
		"trailing space at cut " + "": "trailing space at cut",
	} {
		if got := titles.Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}
