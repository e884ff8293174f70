package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/clawchat/clawchat/internal/chat"
)

// testSharedReactions (issue 13): a participant of a shared conversation reacts in it under the
// id they see; reactions stay private to who made them; a removed participant's reactions go,
// and so do all of them with the conversation.
func testSharedReactions(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	trip := conv("alice", "trip", 0)
	must(t, db.CreateConversation(ctx, trip))
	must(t, db.CreateConversation(ctx, conv("dave", "trip", 0))) // dave's own, unrelated "trip"
	r := func(user, mid, emoji string, sec int64) chat.Reaction {
		return chat.Reaction{UserID: user, ConversationID: "trip", MessageID: mid, Emoji: emoji, CreatedAt: at(sec)}
	}
	// alice reacts while it is hers alone; the reaction stays hers once it is shared.
	must(t, db.AddReaction(ctx, r("alice", "m1", "👍", 1)))
	wantErr(t, db.AddReaction(ctx, r("bob", "m1", "👍", 2)), chat.ErrNotFound, "AddReaction(not yet a participant)")
	must(t, db.AddMember(ctx, trip, chat.Member{UserID: "bob", Role: chat.ShareMember, AddedBy: "alice", AddedAt: at(1)}))
	must(t, db.AddMember(ctx, trip, chat.Member{UserID: "carol", Role: chat.ShareReadOnly, AddedBy: "alice", AddedAt: at(2)}))

	must(t, db.AddReaction(ctx, r("bob", "m1", "👍", 3)))
	must(t, db.AddReaction(ctx, r("bob", "m2", "🎉", 4)))
	must(t, db.AddReaction(ctx, r("bob", "m1", "👍", 99))) // idempotent
	must(t, db.AddReaction(ctx, r("carol", "m1", "❤️", 5)))
	must(t, db.AddReaction(ctx, r("dave", "m1", "👎", 6))) // in dave's own trip
	wantErr(t, db.AddReaction(ctx, r("erin", "m1", "👍", 7)), chat.ErrNotFound, "AddReaction(non-participant)")

	want := map[string][]chat.Reaction{
		"alice": {r("alice", "m1", "👍", 1)},
		"bob":   {r("bob", "m1", "👍", 3), r("bob", "m2", "🎉", 4)},
		"carol": {r("carol", "m1", "❤️", 5)},
		"dave":  {r("dave", "m1", "👎", 6)},
		"erin":  nil,
	}
	check := func(when string) {
		t.Helper()
		for user, w := range want {
			got, err := db.Reactions(ctx, user, "trip")
			must(t, err)
			if d := cmp.Diff(w, got); d != "" {
				t.Errorf("%s: %s's reactions (-want +got):\n%s", when, user, d)
			}
		}
	}
	check("shared")
	got, err := db.MessageReactions(ctx, "bob", "trip", "m2")
	must(t, err)
	if d := cmp.Diff([]chat.Reaction{r("bob", "m2", "🎉", 4)}, got); d != "" {
		t.Errorf("bob's m2 reactions (-want +got):\n%s", d)
	}
	must(t, db.RemoveReaction(ctx, r("bob", "m2", "🎉", 0)))
	must(t, db.RemoveReaction(ctx, r("erin", "m1", "👍", 0))) // nothing to remove: no error
	want["bob"] = want["bob"][:1]
	check("after bob's removal of a reaction")

	// A removed (or leaving) participant loses their reactions in it; the others keep theirs.
	must(t, db.RemoveMember(ctx, trip.SessionKey, "carol"))
	want["carol"] = nil
	check("carol removed")
	must(t, db.AddMember(ctx, trip, chat.Member{UserID: "carol", Role: chat.ShareMember, AddedBy: "alice", AddedAt: at(8)}))
	check("carol back")
	wantErr(t, db.RemoveMember(ctx, trip.SessionKey, "alice"), chat.ErrNotFound, "RemoveMember(owner)")
	check("owner not removed")

	// Deleting the conversation deletes every participant's reactions in it, and only those.
	must(t, db.DeleteConversation(ctx, "alice", "trip"))
	must(t, db.CreateConversation(ctx, trip))
	want["alice"], want["bob"] = nil, nil
	check("after deletion")
	var n int
	must(t, c.raw(t).QueryRowContext(ctx, `SELECT COUNT(*) FROM reactions`).Scan(&n))
	if n != 1 { // dave's
		t.Errorf("%d reactions left in the table, want 1", n)
	}
}

// testMigrateSharedReactions: a database at schema 00005 with reactions migrates to the
// session-keyed reactions (00006) and keeps every reaction.
func testMigrateSharedReactions(t *testing.T, c *contract) {
	ctx := ctxT(t)
	must(t, c.db.CreateConversation(ctx, conv("alice", "c1", 0)))
	must(t, c.db.CreateConversation(ctx, conv("bob", "c1", 0)))
	must(t, c.db.Close())
	raw := c.raw(t)
	for _, q := range []string{
		`DROP TABLE reactions`,
		`CREATE TABLE reactions (
			user_id         TEXT   NOT NULL,
			conversation_id TEXT   NOT NULL,
			message_id      TEXT   NOT NULL,
			emoji           TEXT   NOT NULL,
			created_at      BIGINT NOT NULL,
			PRIMARY KEY (user_id, conversation_id, message_id, emoji),
			FOREIGN KEY (user_id, conversation_id) REFERENCES conversations (user_id, id) ON DELETE CASCADE
		)`,
		`INSERT INTO reactions VALUES ('alice', 'c1', 'm1', '👍', 1790000001123), ('alice', 'c1', 'm2', '🎉', 1790000002123),
			('bob', 'c1', 'm1', '❤️', 1790000003123)`,
		`DELETE FROM goose_db_version WHERE version_id = 6`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db := c.open(t)
	r := func(user, mid, emoji string, sec int64) chat.Reaction {
		return chat.Reaction{UserID: user, ConversationID: "c1", MessageID: mid, Emoji: emoji, CreatedAt: at(sec)}
	}
	for user, want := range map[string][]chat.Reaction{
		"alice": {r("alice", "m1", "👍", 1), r("alice", "m2", "🎉", 2)},
		"bob":   {r("bob", "m1", "❤️", 3)},
	} {
		got, err := db.Reactions(ctx, user, "c1")
		must(t, err)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s's reactions after the migration (-want +got):\n%s", user, d)
		}
	}
	// The migrated reactions go with their conversation.
	must(t, db.DeleteConversation(ctx, "alice", "c1"))
	var n int
	must(t, raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM reactions`).Scan(&n))
	if n != 1 {
		t.Errorf("%d reactions left, want bob's 1", n)
	}
}
