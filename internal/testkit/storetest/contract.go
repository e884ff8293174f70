package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/store"
)

// RunContract runs the behavioural contract of package store against one engine. newDSN returns
// the DSN of a new, empty database each time it is called (SQLiteDSN or PostgresURL); the suite
// opens one or several stores on it. Subtests run in parallel.
func RunContract(t *testing.T, newDSN func(t testing.TB) string) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c *contract)
	}{
		{"Accounts", testAccounts},
		{"AccountConflicts", testAccountConflicts},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"Sessions", testSessions},
		{"ExpiredSessions", testExpiredSessions},
		{"Conversations", testConversations},
		{"Reactions", testReactions},
		{"SharedMembers", testSharedMembers},
		{"SharedInvites", testSharedInvites},
		{"SharedReactions", testSharedReactions},
		{"SharedOwnerDeleted", testSharedOwnerDeleted},
		{"PushSubscriptions", testPush},
		{"Audit", testAudit},
		{"DeleteAccountCascade", testDeleteAccountCascade},
		{"Invalid", testInvalid},
		{"ClaimOnce", testClaimOnce},
		{"ClaimOnceConcurrent", testClaimOnceConcurrent},
		{"ClaimOnceExpiry", testClaimOnceExpiry},
		{"PublishSubscribe", testPublishSubscribe},
		{"PublishLimits", testPublishLimits},
		{"MigrateTwice", testMigrateTwice},
		{"MigrateMissingVersion", testMigrateMissingVersion},
		{"MigrateSharedReactions", testMigrateSharedReactions},
		{"MigrateContextConversationOnce", testMigrateContextConversationOnce},
		{"MigrateConcurrently", testMigrateConcurrently},
		{"RefuseNewerSchema", testRefuseNewerSchema},
		{"ErrorsHoldNoSecrets", testErrorsHoldNoSecrets},
		{"Embed", testEmbed},
		{"ContextConversationOnce", testContextConversationOnce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &contract{dsn: newDSN(t)}
			c.db = c.open(t)
			tc.fn(t, c)
		})
	}
}

// contract is one subtest's database: dsn, and a store opened on it.
type contract struct {
	dsn string
	db  *store.DB
}

func (c *contract) open(t testing.TB) *store.DB {
	t.Helper()
	return open(t, c.dsn)
}

// raw opens a plain database/sql handle on the subtest's database, for what the store API does
// not offer (inspecting the schema version, killing connections).
func (c *contract) raw(t testing.TB) *sql.DB {
	t.Helper()
	var db *sql.DB
	if c.pg() {
		cfg, err := pgx.ParseConfig(c.dsn)
		must(t, err)
		db = stdlib.OpenDB(*cfg)
	} else {
		var err error
		db, err = sql.Open("sqlite", c.dsn+"?_pragma=busy_timeout(5000)")
		must(t, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (c *contract) pg() bool { return c.db.Dialect() == store.DialectPostgres }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// at returns a millisecond-precision UTC time, which round-trips exactly.
func at(sec int64) time.Time { return time.Unix(1_790_000_000+sec, 123_000_000).UTC() }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
	if !strings.HasPrefix(err.Error(), "store: ") {
		t.Errorf("%s: error %q lacks the store: prefix", what, err)
	}
}

func account(id, username string) chat.Account {
	return chat.Account{
		ID: id, Username: username, DisplayName: "Name " + id, Role: chat.RoleMember,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", Email: id + "@example.org",
		CreatedAt: at(1), UpdatedAt: at(2), PasswordChangedAt: at(3),
	}
}

func testAccounts(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	alice := account("alice1", "Alice")
	alice.Role = chat.RoleOwner
	bob := account("bob1", "bob")
	bob.OIDCIssuer, bob.OIDCSubject, bob.PasswordHash = "https://idp.example", "sub-123", ""
	carol := account("carol1", "carol")
	for _, a := range []chat.Account{carol, alice, bob} {
		must(t, db.CreateAccount(ctx, a))
	}

	got, err := db.Account(ctx, "alice1")
	must(t, err)
	if d := cmp.Diff(alice, got); d != "" {
		t.Errorf("Account (-want +got):\n%s", d)
	}
	for _, name := range []string{"alice", "ALICE", "Alice"} {
		got, err := db.AccountByUsername(ctx, name)
		must(t, err)
		if got.ID != "alice1" || got.Username != "Alice" {
			t.Errorf("AccountByUsername(%q) = %+v", name, got)
		}
	}
	got, err = db.AccountByOIDC(ctx, "https://idp.example", "sub-123")
	must(t, err)
	if d := cmp.Diff(bob, got); d != "" {
		t.Errorf("AccountByOIDC (-want +got):\n%s", d)
	}

	_, err = db.Account(ctx, "nobody")
	wantErr(t, err, chat.ErrNotFound, "Account(missing)")
	_, err = db.AccountByUsername(ctx, "nobody")
	wantErr(t, err, chat.ErrNotFound, "AccountByUsername(missing)")
	_, err = db.AccountByOIDC(ctx, "https://idp.example", "sub-999")
	wantErr(t, err, chat.ErrNotFound, "AccountByOIDC(missing)")
	_, err = db.AccountByOIDC(ctx, "", "")
	wantErr(t, err, chat.ErrNotFound, "AccountByOIDC(empty)")
	_, err = db.AccountByOIDC(ctx, "https://other.example", "sub-123")
	wantErr(t, err, chat.ErrNotFound, "AccountByOIDC(other issuer)")

	all, err := db.Accounts(ctx)
	must(t, err)
	var ids []string
	for _, a := range all {
		ids = append(ids, a.ID)
	}
	if d := cmp.Diff([]string{"alice1", "bob1", "carol1"}, ids); d != "" {
		t.Errorf("Accounts order (-want +got):\n%s", d)
	}
	n, err := db.CountAccounts(ctx)
	must(t, err)
	if n != 3 {
		t.Errorf("CountAccounts = %d, want 3", n)
	}

	// Update every mutable field; ID and CreatedAt stay.
	upd := chat.Account{
		ID: "carol1", Username: "Caroline", DisplayName: "C.", Role: chat.RoleOwner, PasswordHash: "new-hash",
		OIDCIssuer: "https://idp.example", OIDCSubject: "sub-456", Email: "c@example.org", Disabled: true,
		CreatedAt: at(999), UpdatedAt: at(50), PasswordChangedAt: at(51),
	}
	must(t, db.UpdateAccount(ctx, upd))
	got, err = db.Account(ctx, "carol1")
	must(t, err)
	want := upd
	want.CreatedAt = carol.CreatedAt
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("after UpdateAccount (-want +got):\n%s", d)
	}
	if _, err := db.AccountByUsername(ctx, "carol"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("old username still resolves: %v", err)
	}
	if got, err := db.AccountByUsername(ctx, "caroline"); err != nil || got.ID != "carol1" {
		t.Errorf("new username: %+v, %v", got, err)
	}
	wantErr(t, db.UpdateAccount(ctx, account("nobody", "nobody")), chat.ErrNotFound, "UpdateAccount(missing)")
	clash := upd
	clash.Username = "ALICE"
	wantErr(t, db.UpdateAccount(ctx, clash), chat.ErrConflict, "UpdateAccount(username taken)")
	clash = upd
	clash.OIDCSubject = "sub-123"
	wantErr(t, db.UpdateAccount(ctx, clash), chat.ErrConflict, "UpdateAccount(OIDC pair taken)")
	// A failed update changes nothing.
	got, err = db.Account(ctx, "carol1")
	must(t, err)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("after failed updates (-want +got):\n%s", d)
	}
}

func testAccountConflicts(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	a := account("a1", "Dora")
	a.OIDCIssuer, a.OIDCSubject = "https://idp.example", "s1"
	must(t, db.CreateAccount(ctx, a))
	wantErr(t, db.CreateAccount(ctx, account("a1", "other")), chat.ErrConflict, "duplicate id")
	wantErr(t, db.CreateAccount(ctx, account("a2", "dORA")), chat.ErrConflict, "duplicate username, other case")
	b := account("a3", "eve")
	b.OIDCIssuer, b.OIDCSubject = "https://idp.example", "s1"
	wantErr(t, db.CreateAccount(ctx, b), chat.ErrConflict, "duplicate OIDC pair")
	// The same subject at another issuer, and any number of accounts without OIDC, are fine.
	b.OIDCIssuer = "https://other.example"
	must(t, db.CreateAccount(ctx, b))
	must(t, db.CreateAccount(ctx, account("a4", "frank")))
	must(t, db.CreateAccount(ctx, account("a5", "grace")))
	n, err := db.CountAccounts(ctx)
	must(t, err)
	if n != 4 {
		t.Errorf("CountAccounts = %d, want 4", n)
	}
}

func testTimeRoundTrip(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	for i, tm := range []time.Time{
		time.Now(), // monotonic reading, nanoseconds, local zone
		time.Date(2026, 3, 29, 2, 30, 0, 999_999_999, paris),
		time.Date(1969, 12, 31, 23, 59, 59, 1_500_000, time.UTC), // before the epoch
		time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		{}, // zero time
	} {
		id := fmt.Sprintf("s%d", i)
		must(t, db.CreateSession(ctx, chat.Session{ID: id, UserID: "u", CreatedAt: tm, LastSeenAt: tm, ExpiresAt: tm}))
		got, err := db.Session(ctx, id)
		must(t, err)
		want := tm.Round(0).Truncate(time.Millisecond).UTC()
		for _, g := range []time.Time{got.CreatedAt, got.LastSeenAt, got.ExpiresAt} {
			if !g.Equal(want) || g.Location() != time.UTC {
				t.Errorf("time %v read back as %v (%v), want %v in UTC", tm, g, g.Location(), want)
			}
		}
		if tm.IsZero() && !got.CreatedAt.IsZero() {
			t.Errorf("zero time read back as %v, not zero", got.CreatedAt)
		}
	}
}

func testSessions(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	s := chat.Session{ID: "h1", UserID: "u1", CreatedAt: at(0), LastSeenAt: at(0), ExpiresAt: at(3600), IDTokenHint: "eyJhbGciOi.x.y"}
	must(t, db.CreateSession(ctx, s))
	wantErr(t, db.CreateSession(ctx, s), chat.ErrConflict, "CreateSession(duplicate)")
	must(t, db.CreateSession(ctx, chat.Session{ID: "h2", UserID: "u1", CreatedAt: at(0), LastSeenAt: at(0), ExpiresAt: at(3600)}))
	must(t, db.CreateSession(ctx, chat.Session{ID: "h3", UserID: "u2", CreatedAt: at(0), LastSeenAt: at(0), ExpiresAt: at(3600)}))

	got, err := db.Session(ctx, "h1")
	must(t, err)
	if d := cmp.Diff(s, got); d != "" {
		t.Errorf("Session (-want +got):\n%s", d)
	}
	must(t, db.TouchSession(ctx, "h1", at(60)))
	got, err = db.Session(ctx, "h1")
	must(t, err)
	if !got.LastSeenAt.Equal(at(60)) {
		t.Errorf("LastSeenAt after touch = %v", got.LastSeenAt)
	}
	wantErr(t, db.TouchSession(ctx, "missing", at(60)), chat.ErrNotFound, "TouchSession(missing)")
	_, err = db.Session(ctx, "missing")
	wantErr(t, err, chat.ErrNotFound, "Session(missing)")

	must(t, db.DeleteSession(ctx, "h1"))
	must(t, db.DeleteSession(ctx, "h1")) // idempotent
	_, err = db.Session(ctx, "h1")
	wantErr(t, err, chat.ErrNotFound, "Session(deleted)")

	must(t, db.DeleteUserSessions(ctx, "u1"))
	must(t, db.DeleteUserSessions(ctx, "u1"))
	_, err = db.Session(ctx, "h2")
	wantErr(t, err, chat.ErrNotFound, "Session(user signed out)")
	if _, err := db.Session(ctx, "h3"); err != nil {
		t.Errorf("another user's session went too: %v", err)
	}
}

func testExpiredSessions(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	now := at(10_000)
	mk := func(id string, lastSeen, expires time.Time) {
		must(t, db.CreateSession(ctx, chat.Session{ID: id, UserID: "u", CreatedAt: at(0), LastSeenAt: lastSeen, ExpiresAt: expires}))
	}
	mk("fresh", now.Add(-time.Minute), now.Add(time.Hour))
	mk("absolute", now.Add(-time.Minute), now)                      // expires exactly now
	mk("absolute-past", now.Add(-time.Minute), now.Add(-time.Hour)) //
	mk("idle", now.Add(-30*time.Minute), now.Add(time.Hour))        // idle exactly 30m
	mk("almost-idle", now.Add(-30*time.Minute+time.Millisecond), now.Add(time.Hour))

	n, err := db.DeleteExpiredSessions(ctx, now, 0) // no idle timeout
	must(t, err)
	if n != 2 {
		t.Errorf("DeleteExpiredSessions(idle 0) = %d, want 2", n)
	}
	n, err = db.DeleteExpiredSessions(ctx, now, 30*time.Minute)
	must(t, err)
	if n != 1 {
		t.Errorf("DeleteExpiredSessions(idle 30m) = %d, want 1", n)
	}
	for id, alive := range map[string]bool{"fresh": true, "almost-idle": true, "absolute": false, "absolute-past": false, "idle": false} {
		_, err := db.Session(ctx, id)
		if alive && err != nil || !alive && !errors.Is(err, chat.ErrNotFound) {
			t.Errorf("session %s: alive=%v but err=%v", id, alive, err)
		}
	}
}

func conv(user, id string, activity int64) chat.Conversation {
	return chat.Conversation{
		UserID: user, ID: id, AgentID: "main", SessionKey: "agent:main:clawchat:" + user + ":" + id,
		CreatedAt: at(0), UpdatedAt: at(0), LastActivityAt: at(activity),
	}
}

func testConversations(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	a1, a2, a3 := conv("alice", "c1", 10), conv("alice", "c2", 30), conv("alice", "c3", 20)
	a3.Archived, a3.Title = true, "Old"
	b1 := conv("bob", "c1", 40) // same id, other user
	for _, cv := range []chat.Conversation{a1, a2, a3, b1} {
		must(t, db.CreateConversation(ctx, cv))
	}
	wantErr(t, db.CreateConversation(ctx, conv("alice", "c1", 0)), chat.ErrConflict, "duplicate (user, id)")
	dupKey := conv("carol", "c9", 0)
	dupKey.SessionKey = a1.SessionKey
	wantErr(t, db.CreateConversation(ctx, dupKey), chat.ErrConflict, "duplicate session key")

	got, err := db.Conversation(ctx, "alice", "c3")
	must(t, err)
	if d := cmp.Diff(a3, got); d != "" {
		t.Errorf("Conversation (-want +got):\n%s", d)
	}
	got, err = db.ConversationByKey(ctx, b1.SessionKey)
	must(t, err)
	if d := cmp.Diff(b1, got); d != "" {
		t.Errorf("ConversationByKey (-want +got):\n%s", d)
	}
	_, err = db.Conversation(ctx, "carol", "c1") // someone else's id
	wantErr(t, err, chat.ErrNotFound, "Conversation(other user)")
	_, err = db.ConversationByKey(ctx, "agent:main:clawchat:carol:c1")
	wantErr(t, err, chat.ErrNotFound, "ConversationByKey(missing)")

	list, err := db.Conversations(ctx, "alice")
	must(t, err)
	if d := cmp.Diff([]chat.Conversation{a2, a3, a1}, list); d != "" {
		t.Errorf("Conversations order (-want +got):\n%s", d)
	}
	if n, err := db.CountConversations(ctx, "alice"); err != nil || n != 3 {
		t.Errorf("CountConversations = %d, %v", n, err)
	}
	if list, err := db.Conversations(ctx, "nobody"); err != nil || len(list) != 0 {
		t.Errorf("Conversations(nobody) = %v, %v", list, err)
	}

	upd := a1
	upd.Title, upd.Archived, upd.Pinned, upd.UpdatedAt, upd.LastActivityAt = "Renamed", true, true, at(100), at(100)
	upd.AgentID, upd.SessionKey, upd.CreatedAt = "ignored", "ignored", at(5) // immutable
	must(t, db.UpdateConversation(ctx, upd))
	got, err = db.Conversation(ctx, "alice", "c1")
	must(t, err)
	want := a1
	want.Title, want.Archived, want.Pinned, want.UpdatedAt, want.LastActivityAt = "Renamed", true, true, at(100), at(100)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("after UpdateConversation (-want +got):\n%s", d)
	}
	if list, _ := db.Conversations(ctx, "alice"); len(list) != 3 || list[0].ID != "c1" {
		t.Errorf("after update c1 should be newest: %+v", list)
	}
	wantErr(t, db.UpdateConversation(ctx, conv("carol", "c1", 0)), chat.ErrNotFound, "UpdateConversation(other user)")

	// An automatic title replaces only the title it was made for.
	if ok, err := db.RetitleConversation(ctx, "alice", "c1", "not the title", "Auto", at(101)); err != nil || ok {
		t.Errorf("RetitleConversation from a stale title = %v, %v; want false, nil", ok, err)
	}
	if ok, err := db.RetitleConversation(ctx, "alice", "c1", "Renamed", "Auto", at(101)); err != nil || !ok {
		t.Errorf("RetitleConversation = %v, %v; want true, nil", ok, err)
	}
	got, err = db.Conversation(ctx, "alice", "c1")
	must(t, err)
	if got.Title != "Auto" || !got.UpdatedAt.Equal(at(101)) || !got.Archived {
		t.Errorf("after RetitleConversation: %+v", got)
	}
	if _, err := db.RetitleConversation(ctx, "carol", "c1", "Auto", "X", at(102)); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("RetitleConversation(other user) err = %v, want chat.ErrNotFound", err)
	}

	must(t, db.DeleteConversation(ctx, "alice", "c1"))
	wantErr(t, db.DeleteConversation(ctx, "alice", "c1"), chat.ErrNotFound, "DeleteConversation(again)")
	wantErr(t, db.DeleteConversation(ctx, "carol", "c2"), chat.ErrNotFound, "DeleteConversation(other user)")
	if _, err := db.Conversation(ctx, "bob", "c1"); err != nil {
		t.Errorf("bob's c1 went with alice's: %v", err)
	}
	if n, _ := db.CountConversations(ctx, "alice"); n != 2 {
		t.Errorf("CountConversations after delete = %d, want 2", n)
	}
	// The session key of a deleted conversation can be used again.
	must(t, db.CreateConversation(ctx, a1))
}

func testReactions(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	must(t, db.CreateConversation(ctx, conv("alice", "c1", 0)))
	must(t, db.CreateConversation(ctx, conv("alice", "c2", 0)))
	must(t, db.CreateConversation(ctx, conv("bob", "c1", 0)))
	r := func(user, cid, mid, emoji string, sec int64) chat.Reaction {
		return chat.Reaction{UserID: user, ConversationID: cid, MessageID: mid, Emoji: emoji, CreatedAt: at(sec)}
	}
	rs := []chat.Reaction{
		r("alice", "c1", "m2", "👍", 3), r("alice", "c1", "m1", "👍", 1), r("alice", "c1", "m1", "🎉", 2),
		r("alice", "c2", "m1", "👍", 4), r("bob", "c1", "m1", "👍", 5),
	}
	for _, x := range rs {
		must(t, db.AddReaction(ctx, x))
	}
	must(t, db.AddReaction(ctx, r("alice", "c1", "m1", "👍", 99))) // idempotent, keeps CreatedAt
	wantErr(t, db.AddReaction(ctx, r("alice", "nope", "m1", "👍", 0)), chat.ErrNotFound, "AddReaction(no conversation)")
	wantErr(t, db.AddReaction(ctx, r("carol", "c1", "m1", "👍", 0)), chat.ErrNotFound, "AddReaction(other user's conversation)")

	got, err := db.Reactions(ctx, "alice", "c1")
	must(t, err)
	if d := cmp.Diff([]chat.Reaction{rs[1], rs[2], rs[0]}, got); d != "" {
		t.Errorf("Reactions (-want +got):\n%s", d)
	}
	got, err = db.MessageReactions(ctx, "alice", "c1", "m1")
	must(t, err)
	if d := cmp.Diff([]chat.Reaction{rs[1], rs[2]}, got); d != "" {
		t.Errorf("MessageReactions (-want +got):\n%s", d)
	}
	must(t, db.RemoveReaction(ctx, rs[1]))
	must(t, db.RemoveReaction(ctx, rs[1])) // idempotent
	got, err = db.MessageReactions(ctx, "alice", "c1", "m1")
	must(t, err)
	if d := cmp.Diff([]chat.Reaction{rs[2]}, got); d != "" {
		t.Errorf("after RemoveReaction (-want +got):\n%s", d)
	}

	// Deleting a conversation deletes its reactions, and only its.
	must(t, db.DeleteConversation(ctx, "alice", "c1"))
	must(t, db.CreateConversation(ctx, conv("alice", "c1", 0)))
	if got, _ := db.Reactions(ctx, "alice", "c1"); len(got) != 0 {
		t.Errorf("reactions survived their conversation: %+v", got)
	}
	if got, _ := db.Reactions(ctx, "alice", "c2"); len(got) != 1 {
		t.Errorf("alice/c2 reactions = %+v, want 1", got)
	}
	if got, _ := db.Reactions(ctx, "bob", "c1"); len(got) != 1 {
		t.Errorf("bob/c1 reactions = %+v, want 1", got)
	}
}

func testPush(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	s1 := chat.PushSubscription{UserID: "alice", Endpoint: "https://fcm.googleapis.com/fcm/send/1", P256dh: "p1", Auth: "a1", CreatedAt: at(1), LastUsedAt: at(1)}
	s2 := chat.PushSubscription{UserID: "alice", Endpoint: "https://updates.push.services.mozilla.com/2", P256dh: "p2", Auth: "a2", CreatedAt: at(2), LastUsedAt: at(2)}
	must(t, db.SavePushSubscription(ctx, s2))
	must(t, db.SavePushSubscription(ctx, s1))
	got, err := db.PushSubscriptions(ctx, "alice")
	must(t, err)
	if d := cmp.Diff([]chat.PushSubscription{s1, s2}, got); d != "" {
		t.Errorf("PushSubscriptions (-want +got):\n%s", d)
	}
	// Issue 16: saving the same endpoint for bob does not move it (a takeover); alice keeps it
	// with her keys.
	takeover := chat.PushSubscription{UserID: "bob", Endpoint: s1.Endpoint, P256dh: "p1b", Auth: "a1b", CreatedAt: at(10), LastUsedAt: at(10)}
	wantErr(t, db.SavePushSubscription(ctx, takeover), chat.ErrConflict, "SavePushSubscription(another user's endpoint)")
	if got, _ := db.PushSubscriptions(ctx, "bob"); len(got) != 0 {
		t.Errorf("bob after the refused takeover: %+v", got)
	}
	if got, _ := db.PushSubscriptions(ctx, "alice"); len(got) != 2 || got[0].Auth != "a1" {
		t.Errorf("alice after the refused takeover: %+v", got)
	}
	// Alice re-registering her endpoint from a new session updates it; that session's sign-out
	// removes it.
	again := s1
	again.P256dh, again.Auth, again.SessionID = "p1n", "a1n", "sess-1"
	must(t, db.SavePushSubscription(ctx, again))
	if got, _ := db.PushSubscriptions(ctx, "alice"); len(got) != 2 || got[0].Auth != "a1n" || got[0].SessionID != "sess-1" {
		t.Errorf("alice after re-registering: %+v", got)
	}
	must(t, db.DeleteSessionPushSubscriptions(ctx, "sess-1"))
	if got, _ := db.PushSubscriptions(ctx, "alice"); len(got) != 1 || got[0].Endpoint != s2.Endpoint {
		t.Errorf("alice after the session's sign-out: %+v", got)
	}
	// Once alice's registration is gone, the endpoint may be registered by bob (the browser is
	// his now).
	must(t, db.SavePushSubscription(ctx, takeover))
	if got, _ := db.PushSubscriptions(ctx, "bob"); len(got) != 1 {
		t.Errorf("bob after alice signed out: %+v", got)
	}
	must(t, db.DeleteUserPushSubscriptions(ctx, "bob"))
	if got, _ := db.PushSubscriptions(ctx, "bob"); len(got) != 0 {
		t.Errorf("bob after DeleteUserPushSubscriptions: %+v", got)
	}
	must(t, db.TouchPushSubscription(ctx, s2.Endpoint, at(50)))
	if got, _ := db.PushSubscriptions(ctx, "alice"); len(got) != 1 || !got[0].LastUsedAt.Equal(at(50)) {
		t.Errorf("after touch: %+v", got)
	}
	wantErr(t, db.TouchPushSubscription(ctx, "https://gone.example/x", at(50)), chat.ErrNotFound, "TouchPushSubscription(missing)")
	must(t, db.DeletePushSubscription(ctx, s2.Endpoint))
	must(t, db.DeletePushSubscription(ctx, s2.Endpoint))
	if got, _ := db.PushSubscriptions(ctx, "alice"); len(got) != 0 {
		t.Errorf("after delete: %+v", got)
	}
}

func testAudit(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	if got, err := db.Audit(ctx, 10); err != nil || len(got) != 0 {
		t.Fatalf("empty Audit = %v, %v", got, err)
	}
	for i, action := range []string{"login.success", "user.create", "role.change"} {
		must(t, db.AppendAudit(ctx, chat.AuditEntry{ID: 777, At: at(int64(i)), Actor: "alice", Action: action, Target: "bob", IP: "192.0.2.1", Detail: `{"n":1}`}))
	}
	got, err := db.Audit(ctx, 2)
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("Audit(2) returned %d entries", len(got))
	}
	if got[0].Action != "role.change" || got[1].Action != "user.create" || got[0].ID <= got[1].ID || got[1].ID == 777 {
		t.Errorf("Audit(2) = %+v, want newest first with store-assigned ids", got)
	}
	want := chat.AuditEntry{ID: got[0].ID, At: at(2), Actor: "alice", Action: "role.change", Target: "bob", IP: "192.0.2.1", Detail: `{"n":1}`}
	if d := cmp.Diff(want, got[0]); d != "" {
		t.Errorf("audit entry (-want +got):\n%s", d)
	}
	if all, err := db.Audit(ctx, 0); err != nil || len(all) != 3 {
		t.Errorf("Audit(0) = %d entries, %v; want 3", len(all), err)
	}
}

func testDeleteAccountCascade(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	for _, u := range []string{"alice", "bob"} {
		must(t, db.CreateAccount(ctx, account(u, u)))
		must(t, db.CreateSession(ctx, chat.Session{ID: "sess-" + u, UserID: u, ExpiresAt: at(1)}))
		must(t, db.CreateConversation(ctx, conv(u, "c1", 0)))
		must(t, db.AddReaction(ctx, chat.Reaction{UserID: u, ConversationID: "c1", MessageID: "m", Emoji: "👍"}))
		must(t, db.SavePushSubscription(ctx, chat.PushSubscription{UserID: u, Endpoint: "https://push.example/" + u}))
		must(t, db.CreateEmbedSession(ctx, chat.EmbedSession{ID: "embed-" + u, UserID: u, App: "compose", Grants: map[string]string{},
			CreatedAt: at(0), ExpiresAt: at(60)}))
		must(t, db.PutMessageContext(ctx, chat.MessageContext{UserID: u, ConversationID: "c1", MessageID: "m", Context: "page", CreatedAt: at(1)}))
	}
	must(t, db.AppendAudit(ctx, chat.AuditEntry{Actor: "alice", Action: "login.success"}))
	must(t, db.DeleteAccount(ctx, "alice"))
	wantErr(t, db.DeleteAccount(ctx, "alice"), chat.ErrNotFound, "DeleteAccount(again)")

	_, err := db.Account(ctx, "alice")
	wantErr(t, err, chat.ErrNotFound, "Account(deleted)")
	_, err = db.Session(ctx, "sess-alice")
	wantErr(t, err, chat.ErrNotFound, "Session(deleted account)")
	if n, _ := db.CountConversations(ctx, "alice"); n != 0 {
		t.Errorf("alice still has %d conversations", n)
	}
	if r, _ := db.Reactions(ctx, "alice", "c1"); len(r) != 0 {
		t.Errorf("alice still has reactions: %+v", r)
	}
	if p, _ := db.PushSubscriptions(ctx, "alice"); len(p) != 0 {
		t.Errorf("alice still has push subscriptions: %+v", p)
	}
	if _, err := db.EmbedSession(ctx, "embed-alice"); !chatIs(err, chat.ErrNotFound) {
		t.Errorf("alice's embed session after deletion: %v", err)
	}
	if mc, _ := db.MessageContexts(ctx, "alice", "c1"); len(mc) != 0 {
		t.Errorf("alice's message contexts after deletion: %+v", mc)
	}
	if _, err := db.EmbedSession(ctx, "embed-bob"); err != nil {
		t.Errorf("bob's embed session: %v", err)
	}
	if mc, _ := db.MessageContexts(ctx, "bob", "c1"); len(mc) != 1 {
		t.Errorf("bob's message contexts: %+v", mc)
	}
	// Bob is untouched; the audit log is kept.
	if _, err := db.Account(ctx, "bob"); err != nil {
		t.Error(err)
	}
	if _, err := db.Session(ctx, "sess-bob"); err != nil {
		t.Error(err)
	}
	if r, _ := db.Reactions(ctx, "bob", "c1"); len(r) != 1 {
		t.Errorf("bob's reactions: %+v", r)
	}
	if p, _ := db.PushSubscriptions(ctx, "bob"); len(p) != 1 {
		t.Errorf("bob's push subscriptions: %+v", p)
	}
	if a, _ := db.Audit(ctx, 10); len(a) != 1 {
		t.Errorf("audit log: %+v", a)
	}
}

func testInvalid(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	bad := account("x", "x")
	bad.Role = "admin"
	wantErr(t, db.CreateAccount(ctx, bad), chat.ErrInvalid, "CreateAccount(bad role)")
	wantErr(t, db.CreateAccount(ctx, account("", "x")), chat.ErrInvalid, "CreateAccount(no id)")
	half := account("x", "x")
	half.OIDCIssuer = "https://idp.example"
	wantErr(t, db.CreateAccount(ctx, half), chat.ErrInvalid, "CreateAccount(issuer without subject)")
	wantErr(t, db.CreateSession(ctx, chat.Session{UserID: "u"}), chat.ErrInvalid, "CreateSession(no id)")
	wantErr(t, db.CreateConversation(ctx, chat.Conversation{UserID: "u", ID: "c"}), chat.ErrInvalid, "CreateConversation(no key)")
	wantErr(t, db.SavePushSubscription(ctx, chat.PushSubscription{UserID: "u"}), chat.ErrInvalid, "SavePushSubscription(no endpoint)")
	wantErr(t, db.AppendAudit(ctx, chat.AuditEntry{}), chat.ErrInvalid, "AppendAudit(no action)")
	_, err := db.ClaimOnce(ctx, "", time.Minute)
	wantErr(t, err, chat.ErrInvalid, "ClaimOnce(no key)")
	_, err = db.ClaimOnce(ctx, "k", 0)
	wantErr(t, err, chat.ErrInvalid, "ClaimOnce(no ttl)")
}

func testClaimOnce(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	for i, want := range []bool{true, false, false} {
		got, err := db.ClaimOnce(ctx, "push:run-1", time.Hour)
		must(t, err)
		if got != want {
			t.Errorf("ClaimOnce #%d = %v, want %v", i, got, want)
		}
	}
	if got, err := db.ClaimOnce(ctx, "push:run-2", time.Hour); err != nil || !got {
		t.Errorf("ClaimOnce(other key) = %v, %v", got, err)
	}
}

// testClaimOnceConcurrent races 20 goroutines over two stores opened on the same database (two
// instances) for each of several keys: exactly one must win each key.
func testClaimOnceConcurrent(t *testing.T, c *contract) {
	ctx := ctxT(t)
	dbs := []*store.DB{c.db, c.open(t)}
	const goroutines, keys = 20, 5
	var wins [keys]atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*keys)
	for g := range goroutines {
		wg.Go(func() {
			for k := range keys {
				ok, err := dbs[g%2].ClaimOnce(ctx, fmt.Sprintf("push:run-%d", k), time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					wins[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for k := range keys {
		if n := wins[k].Load(); n != 1 {
			t.Errorf("key %d claimed %d times, want exactly once", k, n)
		}
	}
}

func testClaimOnceExpiry(t *testing.T, c *contract) {
	ctx := ctxT(t)
	var mu sync.Mutex
	now := at(0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	db, err := store.OpenWith(ctx, c.dsn, store.Options{Logger: Logger(t), Now: clock})
	must(t, err)
	t.Cleanup(func() { db.Close() })

	claim := func(key string, want bool) {
		t.Helper()
		got, err := db.ClaimOnce(ctx, key, time.Minute)
		must(t, err)
		if got != want {
			t.Errorf("ClaimOnce(%s) at %v = %v, want %v", key, clock(), got, want)
		}
	}
	claim("k", true)
	claim("other", true)
	advance(59 * time.Second)
	claim("k", false)
	advance(time.Second) // exactly ttl later: expired
	claim("k", true)
	claim("k", false)
	advance(2 * time.Minute)
	claim("other", true) // the expired claim was purged and is free again
}

func testPublishSubscribe(t *testing.T, c *contract) {
	ctx := ctxT(t)
	pub := c.db
	sub := c.db
	if c.pg() {
		sub = c.open(t) // another instance
	}
	got := make(chan string, 10)
	listening := make(chan struct{}, 10)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- sub.Listen(sctx, "conv.alice", func(p []byte) { got <- string(p) }, func() { listening <- struct{}{} })
	}()
	// A second subscriber on another channel must not see alice's messages.
	other := make(chan string, 10)
	otherReady := make(chan struct{}, 10)
	otherDone := make(chan error, 1)
	go func() {
		otherDone <- sub.Listen(sctx, "conv.bob", func(p []byte) { other <- string(p) }, func() { otherReady <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		for _, ch := range []chan error{done, otherDone} {
			if err := <-ch; err != nil {
				t.Errorf("Listen returned %v after cancel, want nil", err)
			}
		}
	})
	<-listening
	<-otherReady

	for _, msg := range []string{`{"type":"created","id":"c1"}`, "", "ünïcødé"} {
		must(t, pub.Publish(ctx, "conv.alice", []byte(msg)))
		select {
		case p := <-got:
			if p != msg {
				t.Errorf("received %q, want %q", p, msg)
			}
		case <-ctx.Done():
			t.Fatalf("message %q not delivered", msg)
		}
	}
	select {
	case p := <-other:
		t.Errorf("bob's subscriber received %q", p)
	default:
	}

	if !c.pg() {
		return
	}
	// Kill the listening connection: the subscription reconnects, calls onListen again, and
	// delivers what is published afterwards.
	var killed int
	err := c.raw(t).QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE datname = current_database() AND query LIKE 'LISTEN "conv.alice"%'`).Scan(&killed)
	must(t, err)
	if killed != 1 {
		t.Fatalf("terminated %d listening backends, want 1", killed)
	}
	select {
	case <-listening:
	case <-ctx.Done():
		t.Fatal("subscription did not come back after its connection was killed")
	}
	must(t, pub.Publish(ctx, "conv.alice", []byte("after reconnect")))
	select {
	case p := <-got:
		if p != "after reconnect" {
			t.Errorf("received %q after reconnect", p)
		}
	case <-ctx.Done():
		t.Fatal("message after reconnect not delivered")
	}
}

func testPublishLimits(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	must(t, db.Publish(ctx, "big", []byte(strings.Repeat("x", store.MaxPayload))))
	wantErr(t, db.Publish(ctx, "big", []byte(strings.Repeat("x", store.MaxPayload+1))), chat.ErrTooLarge, "Publish(too large)")
	wantErr(t, db.Publish(ctx, "bad channel; DROP TABLE x", nil), chat.ErrInvalid, "Publish(bad channel)")
	wantErr(t, db.Publish(ctx, "ok", []byte{0xff, 0xfe}), chat.ErrInvalid, "Publish(not UTF-8)")
	wantErr(t, db.Subscribe(ctx, "", func([]byte) {}), chat.ErrInvalid, "Subscribe(empty channel)")
}

func testMigrateTwice(t *testing.T, c *contract) {
	ctx := ctxT(t)
	must(t, c.db.CreateAccount(ctx, account("keep", "keep")))
	must(t, c.db.Close())
	again := c.open(t) // migrations are already applied: a no-op
	if _, err := again.Account(ctx, "keep"); err != nil {
		t.Errorf("data lost on reopen: %v", err)
	}
	var v int64
	must(t, c.raw(t).QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&v))
	if v != store.SchemaVersion() {
		t.Errorf("schema version %d, want %d", v, store.SchemaVersion())
	}
}

// testMigrateConcurrently opens several stores on one new database at the same time, as replicas
// starting together do.
func testMigrateConcurrently(t *testing.T, c *contract) {
	ctx := ctxT(t)
	dsn := c.dsn + "-fresh"
	if c.pg() {
		dsn = PostgresURL(t)
	}
	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	dbs := make([]*store.DB, n)
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = store.Open(ctx, dsn, Logger(t)) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open #%d: %v", i, errs[i])
			continue
		}
		t.Cleanup(func() { dbs[i].Close() })
		if err := dbs[i].CreateAccount(ctx, account(fmt.Sprintf("u%d", i), fmt.Sprintf("u%d", i))); err != nil {
			t.Errorf("store #%d unusable: %v", i, err)
		}
	}
}

func testRefuseNewerSchema(t *testing.T, c *contract) {
	ctx := ctxT(t)
	_, err := c.raw(t).ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, $2)`,
		store.SchemaVersion()+1, true)
	must(t, err)
	db, err := store.Open(ctx, c.dsn, Logger(t))
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a schema newer than the binary")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

func testErrorsHoldNoSecrets(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	a := account("s1", "sam")
	a.PasswordHash = "SECRET-HASH-VALUE"
	must(t, db.CreateAccount(ctx, a))
	err := db.CreateAccount(ctx, a)
	if err == nil || strings.Contains(err.Error(), "SECRET-HASH-VALUE") || strings.Contains(err.Error(), "sam") {
		t.Errorf("conflict error leaks row data: %v", err)
	}
	s := chat.Session{ID: "tokhash", UserID: "s1", IDTokenHint: "SECRET-ID-TOKEN"}
	must(t, db.CreateSession(ctx, s))
	if err := db.CreateSession(ctx, s); err == nil || strings.Contains(err.Error(), "SECRET-ID-TOKEN") || strings.Contains(err.Error(), "tokhash") {
		t.Errorf("session conflict error leaks row data: %v", err)
	}
	if c.pg() {
		_, err := store.Open(ctx, "postgres://u:SECRET-PASSWORD@127.0.0.1:1/db?connect_timeout=2", nil)
		if err == nil || strings.Contains(err.Error(), "SECRET-PASSWORD") {
			t.Errorf("Open error leaks the password: %v", err)
		}
		_, err = store.Open(ctx, "postgres://u:SECRET-PASSWORD@127.0.0.1:bad/db", nil)
		if err == nil || strings.Contains(err.Error(), "SECRET-PASSWORD") {
			t.Errorf("Open error leaks the password: %v", err)
		}
	}
}
