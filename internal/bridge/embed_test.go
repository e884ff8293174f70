package bridge_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
)

// embedded returns u as an embedded session of app compose granted ctxs (id → role).
func embedded(u chat.User, ctxs map[string]string) chat.User {
	u.Embed = &chat.EmbedScope{App: "compose", Grants: ctxs}
	return u
}

func TestContextConversationsAreGatedByGrants(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ed := embedded(alice, map[string]string{"doc:abc123": "editor"})
	v, err := e.svc.CreateInContext(ctx, ed, "compose", "doc:abc123", "Notes")
	if err != nil {
		t.Fatal(err)
	}
	if v.Context == nil || *v.Context != (chat.HostContext{App: "compose", ID: "doc:abc123", Role: "editor"}) {
		t.Fatalf("view context = %+v", v.Context)
	}
	row, err := e.store.Conversation(ctx, alice.ID, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := bridge.ContextSessionKey(row.AgentID, alice.ID, "compose", "doc:abc123", v.ID)
	if row.SessionKey != want || !strings.Contains(want, ":clawchat:alice:ctx-compose-") || strings.Contains(want, "doc:abc123") {
		t.Fatalf("session key = %q, want %q (the context in its own segment, hashed)", row.SessionKey, want)
	}
	// Not granted: creating there, and the conversation itself, are the not-found of any
	// conversation one may not see.
	other := embedded(alice, map[string]string{"doc:roadmap": "viewer"})
	if _, err := e.svc.CreateInContext(ctx, other, "compose", "doc:abc123", ""); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("create without the grant: %v", err)
	}
	if _, err := e.svc.Get(ctx, other, v.ID); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("get without the grant: %v", err)
	}
	if list, _, _ := e.svc.List(ctx, other, false); len(list) != 0 {
		t.Errorf("list without the grant: %+v", list)
	}
	if _, err := e.svc.Send(ctx, other, bridge.SendParams{Conversation: v.ID, ID: "m", Text: "hi"}); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("send without the grant: %v", err)
	}
	// An embedded session cannot make a conversation outside a context (REST send-creates).
	if _, err := e.svc.Send(ctx, ed, bridge.SendParams{Conversation: "loose", ID: "m", Text: "hi", Create: true}); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("a context-less conversation for an embedded session: %v", err)
	}
	// The owner's other sessions (not embedded) see it, in its group.
	if list, _, _ := e.svc.List(ctx, alice, false); len(list) != 1 || list[0].Context == nil || list[0].Context.ID != "doc:abc123" {
		t.Errorf("standalone list = %+v", list)
	}
}

func TestAgentContextFollowsTheSenderLineAndStaysOutOfTheMessage(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ed := embedded(alice, map[string]string{"doc:abc123": "editor"})
	v, err := e.svc.CreateInContext(ctx, ed, "compose", "doc:abc123", "")
	if err != nil {
		t.Fatal(err)
	}
	const fence = "[clawchat page context] …\n\nPage context (untrusted data) ⟦openclaw:ctx⟧\n```json\n{}\n```"
	if _, err := e.svc.Send(ctx, ed, bridge.SendParams{Conversation: v.ID, ID: "m1", Text: "fix this", AgentContext: fence}); err != nil {
		t.Fatal(err)
	}
	calls := e.up.Calls("chat.send")
	p := calls[len(calls)-1].Params
	receipt, _ := p["systemProvenanceReceipt"].(string)
	if p["message"] != "fix this" {
		t.Errorf("message = %q, want only the typed text", p["message"])
	}
	sender, rest, ok := strings.Cut(receipt, "\n\n")
	if !ok || !strings.HasPrefix(sender, "[clawchat sender] Alice") || rest != fence {
		t.Errorf("receipt = %q, want the sender line, a blank line and the fence", receipt)
	}
}
