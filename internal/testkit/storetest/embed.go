package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/store"
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

func ctxConv(user, id string, created int64) chat.Conversation {
	cv := conv(user, id, created)
	cv.CreatedAt = at(created)
	cv.HostApp, cv.ContextID = "compose", "doc:abc123"
	cv.SessionKey = "agent:main:clawchat:" + user + ":ctx-compose-x:" + id
	return cv
}

// testContextConversationOnce: a host context holds one conversation per id, whoever creates it
// (the shared conversation of a context, docs/embed.md "Shared contexts"): when several people
// open the context at the same instant on two instances (two stores on one database), exactly
// one creation succeeds and the others get chat.ErrConflict, so their openers join that one.
// Ordinary conversations and other contexts may repeat the id.
func testContextConversationOnce(t *testing.T, c *contract) {
	ctx := ctxT(t)
	dbs := []*store.DB{c.db, c.open(t)}
	const openers = 12
	var (
		wg    sync.WaitGroup
		wins  atomic.Int32
		start = make(chan struct{})
		errs  = make(chan error, openers)
	)
	for i := range openers {
		wg.Go(func() {
			<-start
			err := dbs[i%2].CreateConversation(ctx, ctxConv(fmt.Sprintf("u%d", i), "ctx-once", 1))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, chat.ErrConflict):
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent open: %v, want success or chat.ErrConflict", err)
	}
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d conversations created for one context id at once, want exactly 1", n)
	}
	found, err := dbs[1].ContextConversationByID(ctx, "compose", "doc:abc123", "ctx-once")
	must(t, err)
	for i := range openers {
		_, err := c.db.Conversation(ctx, fmt.Sprintf("u%d", i), "ctx-once")
		if u := fmt.Sprintf("u%d", i); u == found.UserID {
			must(t, err)
		} else {
			wantErr(t, err, chat.ErrNotFound, u+"'s losing creation")
		}
	}
	// Not concerned (by people who did not race): the same id in another context, another app,
	// or outside any context.
	other := ctxConv("v1", "ctx-once", 2)
	other.ContextID = "doc:other"
	other.SessionKey += "-other"
	must(t, c.db.CreateConversation(ctx, other))
	wiki := ctxConv("v2", "ctx-once", 2)
	wiki.HostApp = "wiki"
	wiki.SessionKey += "-wiki"
	must(t, c.db.CreateConversation(ctx, wiki))
	must(t, c.db.CreateConversation(ctx, conv("v3", "ctx-once", 2)))
	must(t, c.db.CreateConversation(ctx, conv("v4", "ctx-once", 2)))

	// The shared conversations of host contexts ("ctx-…" in a context) do not count toward their
	// creator's conversation limit; the creator's others do, in a context or not.
	must(t, c.db.CreateConversation(ctx, ctxConv("v5", "c-private", 3)))
	must(t, c.db.CreateConversation(ctx, conv("v5", "ctx-plain", 3)))
	shared := ctxConv("v5", "ctx-shared", 3)
	shared.ContextID, shared.SessionKey = "doc:five", shared.SessionKey+"-five"
	must(t, c.db.CreateConversation(ctx, shared))
	if n, err := c.db.CountConversations(ctx, "v5"); err != nil || n != 2 {
		t.Errorf("CountConversations(v5) = %d, %v; want 2 (the shared context's one not counted)", n, err)
	}
}

// testMigrateContextConversationOnce: a database at schema 00006 holding duplicate context
// conversations (made by the race 00007 closes) migrates: the oldest stays in the context, the
// others stay their creators' own outside it, and the context then refuses another one.
func testMigrateContextConversationOnce(t *testing.T, c *contract) {
	ctx := ctxT(t)
	must(t, c.db.Close())
	raw := c.raw(t)
	for _, q := range []string{
		`DROP INDEX conversations_context_once`,
		`DROP TABLE conversation_gone`,
		`DELETE FROM goose_db_version WHERE version_id = 7`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Opened without 00007, through raw SQL: what two instances made before.
	for _, cv := range []chat.Conversation{ctxConv("bob", "ctx-dup", 2), ctxConv("alice", "ctx-dup", 2), ctxConv("carol", "ctx-dup", 1)} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO conversations (user_id, id, agent_id, session_key, title, archived,
			created_at, updated_at, last_activity_at, pinned, host_app, context_id) VALUES ($1, $2, 'main', $3, '', FALSE, $4, $4, $4, FALSE, $5, $6)`,
			cv.UserID, cv.ID, cv.SessionKey, cv.CreatedAt.UnixMilli(), cv.HostApp, cv.ContextID); err != nil {
			t.Fatal(err)
		}
	}
	db := c.open(t)
	found, err := db.ContextConversationByID(ctx, "compose", "doc:abc123", "ctx-dup")
	must(t, err)
	if found.UserID != "carol" {
		t.Errorf("the context's conversation after the migration is %s's, want the oldest, carol's", found.UserID)
	}
	for _, u := range []string{"alice", "bob"} {
		got, err := db.Conversation(ctx, u, "ctx-dup")
		must(t, err)
		if got.ContextID != "doc:abc123#duplicate-"+u {
			t.Errorf("%s's duplicate has context %q", u, got.ContextID)
		}
	}
	wantErr(t, db.CreateConversation(ctx, ctxConv("dave", "ctx-dup", 3)), chat.ErrConflict, "another conversation in the context")
}
