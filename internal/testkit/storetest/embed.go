package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/clawchat/clawchat/internal/chat"
)

// testEmbed: host-context conversations, embed sessions and message contexts (issue 12).
func testEmbed(t *testing.T, c *contract) {
	ctx := ctxT(t)
	cv := conv("u1", "c1", 1)
	cv.HostApp, cv.ContextID = "compose", "doc:abc123"
	cv.SessionKey = "agent:main:clawchat:u1:ctx-compose-x:c1"
	must(t, c.db.CreateConversation(ctx, cv))
	got, err := c.db.Conversation(ctx, "u1", "c1")
	must(t, err)
	if got.HostApp != "compose" || got.ContextID != "doc:abc123" {
		t.Fatalf("context not stored: %+v", got)
	}
	plain := conv("u1", "c2", 2)
	must(t, c.db.CreateConversation(ctx, plain))
	if got, _ := c.db.Conversation(ctx, "u1", "c2"); got.HostApp != "" || got.ContextID != "" {
		t.Fatalf("plain conversation has a context: %+v", got)
	}

	s := chat.EmbedSession{ID: "h1", UserID: "u1", App: "compose", Grants: map[string]string{"doc:abc123": "editor", "doc:x": "viewer"}, CreatedAt: at(0), ExpiresAt: at(60)}
	must(t, c.db.CreateEmbedSession(ctx, s))
	wantErr(t, c.db.CreateEmbedSession(ctx, s), chat.ErrConflict, "duplicate embed session")
	gs, err := c.db.EmbedSession(ctx, "h1")
	must(t, err)
	if d := cmp.Diff(s, gs); d != "" {
		t.Fatalf("embed session (-want +got):\n%s", d)
	}
	// A context granted shared (docs/embed.md "Shared contexts") keeps its flag.
	sh := chat.EmbedSession{ID: "h2", UserID: "u1", App: "compose", Grants: map[string]string{"doc:abc123": "viewer", "doc:x": "editor"},
		Shared: map[string]bool{"doc:abc123": true}, CreatedAt: at(0), ExpiresAt: at(60)}
	must(t, c.db.CreateEmbedSession(ctx, sh))
	gs, err = c.db.EmbedSession(ctx, "h2")
	must(t, err)
	if d := cmp.Diff(sh, gs); d != "" {
		t.Fatalf("shared embed session (-want +got):\n%s", d)
	}
	// The shared conversation of a context is found by its id, whoever created it.
	sc := conv("u2", "ctx-shared", 3)
	sc.HostApp, sc.ContextID = "compose", "doc:abc123"
	sc.SessionKey = "agent:main:clawchat:u2:ctx-compose-x:ctx-shared"
	must(t, c.db.CreateConversation(ctx, sc))
	found, err := c.db.ContextConversationByID(ctx, "compose", "doc:abc123", "ctx-shared")
	must(t, err)
	if found.UserID != "u2" || found.ID != "ctx-shared" {
		t.Fatalf("context conversation by id = %+v", found)
	}
	_, err = c.db.ContextConversationByID(ctx, "wiki", "doc:abc123", "ctx-shared")
	wantErr(t, err, chat.ErrNotFound, "another app's context")
	_, err = c.db.ContextConversationByID(ctx, "", "", "c2")
	wantErr(t, err, chat.ErrNotFound, "a conversation without a context")

	_, err = c.db.EmbedSession(ctx, "nope")
	wantErr(t, err, chat.ErrNotFound, "unknown embed session")
	n, err := c.db.DeleteExpiredEmbedSessions(ctx, at(30))
	must(t, err)
	if n != 0 {
		t.Fatalf("deleted %d live sessions", n)
	}
	n, err = c.db.DeleteExpiredEmbedSessions(ctx, at(60))
	must(t, err)
	if n != 2 {
		t.Fatalf("deleted %d expired sessions, want 2", n)
	}

	m := chat.MessageContext{UserID: "u1", ConversationID: "c1", MessageID: "r1", Context: "fence 1", CreatedAt: at(5)}
	must(t, c.db.PutMessageContext(ctx, m))
	m.Context = "fence 1 again"
	must(t, c.db.PutMessageContext(ctx, m)) // a retried send
	must(t, c.db.PutMessageContext(ctx, chat.MessageContext{UserID: "u1", ConversationID: "c1", MessageID: "r2", Context: "fence 2", CreatedAt: at(6)}))
	list, err := c.db.MessageContexts(ctx, "u1", "c1")
	must(t, err)
	if len(list) != 2 || list[0].Context != "fence 1 again" || list[1].MessageID != "r2" {
		t.Fatalf("message contexts = %+v", list)
	}
	if other, _ := c.db.MessageContexts(ctx, "u2", "c1"); len(other) != 0 {
		t.Fatalf("another user's contexts: %+v", other)
	}
	must(t, c.db.DeleteConversation(ctx, "u1", "c1"))
	if list, _ := c.db.MessageContexts(ctx, "u1", "c1"); len(list) != 0 {
		t.Fatalf("contexts outlived their conversation: %+v", list)
	}
}
