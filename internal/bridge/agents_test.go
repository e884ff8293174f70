package bridge_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
)

// TestAgentPolicy: members talk only to their allowed agents (by default the Gateway's default
// agent), owners to every agent; a refused agent looks exactly like one that does not exist.
func TestAgentPolicy(t *testing.T) {
	e := newEnv(t, func(c *bridge.Config) {
		c.GatewayDefaultAgent = func() string { return "main" }
		c.OwnerAgents = []string{"*"}
	})
	e.up.Handle("agents.list", func(map[string]any) (any, error) {
		return map[string]any{"defaultId": "main", "agents": []map[string]any{{"id": "main"}, {"id": "ops"}, {"id": "research"}}}, nil
	})
	ctx := t.Context()

	c, err := e.svc.Create(ctx, alice, bridge.CreateParams{})
	if err != nil || c.AgentID != "main" {
		t.Fatalf("member default conversation: %+v %v", c, err)
	}
	_, errOps := e.svc.Create(ctx, alice, bridge.CreateParams{AgentID: "ops"})
	_, errNone := e.svc.Create(ctx, alice, bridge.CreateParams{AgentID: "nosuchagent"})
	if !errors.Is(errOps, chat.ErrInvalid) || !errors.Is(errNone, chat.ErrInvalid) {
		t.Fatalf("member with agent ops: %v; with a missing agent: %v; want ErrInvalid for both", errOps, errNone)
	}
	if _, err := e.svc.Create(ctx, owner, bridge.CreateParams{AgentID: "ops"}); err != nil {
		t.Fatalf("owner with agent ops: %v", err)
	}

	ids := func(u chat.User) []string {
		l, err := e.svc.AgentsFor(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range l.Agents {
			out = append(out, a.ID)
		}
		return out
	}
	if got := ids(alice); !slices.Equal(got, []string{"main"}) {
		t.Errorf("member sees agents %v, want [main]", got)
	}
	if got := ids(owner); !slices.Equal(got, []string{"main", "ops", "research"}) {
		t.Errorf("owner sees agents %v", got)
	}

	// An explicit member list.
	e2 := newEnv(t, func(c *bridge.Config) { c.MemberAgents = []string{"main", "research"} })
	if _, err := e2.svc.Create(ctx, bob, bridge.CreateParams{AgentID: "research"}); err != nil {
		t.Errorf("member with an allowed agent: %v", err)
	}
	if _, err := e2.svc.Create(ctx, bob, bridge.CreateParams{AgentID: "ops"}); !errors.Is(err, chat.ErrInvalid) {
		t.Errorf("member with a disallowed agent: %v", err)
	}
}
