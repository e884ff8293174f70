package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/clawchat/clawchat/internal/chat"
)

func roleOf(t testing.TB, c *contract, user, id string) chat.ShareRole {
	t.Helper()
	_, role, err := c.db.Access(ctxT(t), user, id)
	if err != nil {
		return ""
	}
	return role
}

func accessibleIDs(t testing.TB, c *contract, user string) []string {
	t.Helper()
	cs, roles, err := c.db.AccessibleConversations(ctxT(t), user)
	must(t, err)
	var out []string
	for i, x := range cs {
		out = append(out, x.UserID+"/"+x.ID+"="+string(roles[i]))
	}
	return out
}

func testSharedMembers(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	trip, own := conv("alice", "trip", 10), conv("bob", "mine", 20)
	must(t, db.CreateConversation(ctx, trip))
	must(t, db.CreateConversation(ctx, own))
	// Unshared: the creator alone, as owner.
	if r := roleOf(t, c, "alice", "trip"); r != chat.ShareOwner {
		t.Fatalf("creator role %q", r)
	}
	if r := roleOf(t, c, "bob", "trip"); r != "" {
		t.Fatalf("non-member sees the conversation as %q", r)
	}
	if ms, err := db.Members(ctx, trip.SessionKey); err != nil || len(ms) != 0 {
		t.Fatalf("members of an unshared conversation: %v %v", ms, err)
	}
	must(t, db.AddMember(ctx, trip, chat.Member{UserID: "bob", Role: chat.ShareMember, AddedBy: "alice", AddedAt: at(1)}))
	must(t, db.AddMember(ctx, trip, chat.Member{UserID: "carol", Role: chat.ShareReadOnly, AddedBy: "alice", AddedAt: at(2)}))
	wantErr(t, db.AddMember(ctx, trip, chat.Member{UserID: "bob", Role: chat.ShareMember, AddedAt: at(3)}), chat.ErrConflict, "add twice")
	wantErr(t, db.AddMember(ctx, trip, chat.Member{UserID: "dave", Role: chat.ShareOwner, AddedAt: at(3)}), chat.ErrInvalid, "add as owner")
	wantErr(t, db.AddMember(ctx, conv("alice", "nope", 0), chat.Member{UserID: "dave", Role: chat.ShareMember}), chat.ErrNotFound, "add to missing")
	ms, err := db.Members(ctx, trip.SessionKey)
	must(t, err)
	var got []string
	for _, m := range ms {
		got = append(got, m.UserID+"="+string(m.Role))
	}
	if want := []string{"alice=owner", "bob=member", "carol=read-only"}; !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	for user, want := range map[string]chat.ShareRole{"alice": chat.ShareOwner, "bob": chat.ShareMember, "carol": chat.ShareReadOnly, "dave": ""} {
		if r := roleOf(t, c, user, "trip"); r != want {
			t.Errorf("%s: role %q, want %q", user, r, want)
		}
	}
	if cs, _, _ := db.AccessibleConversations(ctx, "bob"); len(cs) != 2 || cs[0].Shared || !cs[1].Shared || cs[1].Role != chat.ShareMember {
		t.Errorf("bob's list flags: %+v", cs)
	}
	if got, want := accessibleIDs(t, c, "bob"), []string{"bob/mine=owner", "alice/trip=member"}; !slices.Equal(got, want) {
		t.Errorf("bob's conversations %v, want %v", got, want)
	}
	// The id is taken for bob now, and someone who has a conversation "trip" cannot join.
	wantErr(t, db.CreateConversation(ctx, conv("bob", "trip", 0)), chat.ErrConflict, "create over a shared id")
	must(t, db.CreateConversation(ctx, conv("erin", "trip", 0)))
	wantErr(t, db.AddMember(ctx, trip, chat.Member{UserID: "erin", Role: chat.ShareMember}), chat.ErrConflict, "add someone with the id")

	if c, _, err := db.Access(ctx, "carol", "trip"); err != nil || !c.Shared || c.Role != chat.ShareReadOnly || c.UserID != "alice" {
		t.Errorf("carol's access: %+v %v", c, err)
	}
	if c, _, err := db.Access(ctx, "bob", "mine"); err != nil || c.Shared || c.Role != chat.ShareOwner {
		t.Errorf("bob's own: %+v %v", c, err)
	}
	// Roles of accounts: alice and bob are owners' accounts, carol has none here (counts as a member).
	must(t, db.CreateAccount(ctx, chat.Account{ID: "alice", Username: "alice", Role: chat.RoleOwner}))
	must(t, db.CreateAccount(ctx, chat.Account{ID: "bob", Username: "bob", Role: chat.RoleOwner}))
	if m, err := db.SharedWithMember(ctx, trip.SessionKey); err != nil || !m {
		t.Errorf("shared with carol (no account): %v %v", m, err)
	}
	must(t, db.CreateAccount(ctx, chat.Account{ID: "carol", Username: "carol", Role: chat.RoleOwner}))
	if m, err := db.SharedWithMember(ctx, trip.SessionKey); err != nil || m {
		t.Errorf("shared among owners: %v %v", m, err)
	}
	must(t, db.SetMemberRole(ctx, trip.SessionKey, "carol", chat.ShareMember))
	wantErr(t, db.SetMemberRole(ctx, trip.SessionKey, "alice", chat.ShareMember), chat.ErrNotFound, "demote the owner")
	must(t, db.SetMuted(ctx, trip.SessionKey, "bob", true))
	if m, err := db.Muted(ctx, "bob", "trip"); err != nil || !m {
		t.Errorf("bob muted = %v, %v", m, err)
	}
	if m, err := db.Muted(ctx, "carol", "trip"); err != nil || m {
		t.Errorf("carol muted = %v, %v", m, err)
	}
	wantErr(t, db.SetMuted(ctx, trip.SessionKey, "dave", true), chat.ErrNotFound, "mute a non-member")

	// Transfer: bob owns it, alice is a member; the session key (alice's namespace) stays.
	wantErr(t, db.TransferOwnership(ctx, trip.SessionKey, "bob", "carol"), chat.ErrNotFound, "transfer by a non-owner")
	wantErr(t, db.TransferOwnership(ctx, trip.SessionKey, "alice", "dave"), chat.ErrNotFound, "transfer to a non-member")
	must(t, db.RecordSender(ctx, trip.SessionKey, "run-1", "bob", "Bob", 1))
	must(t, db.RecordSender(ctx, trip.SessionKey, "run-1", "carol", "Carol", 2)) // the first stays
	if s, err := db.Senders(ctx, trip.SessionKey); err != nil || len(s) != 1 || s["run-1"] != (chat.Sender{UserID: "bob", Name: "Bob"}) {
		t.Errorf("senders %v %v", s, err)
	}
	must(t, db.TransferOwnership(ctx, trip.SessionKey, "alice", "bob"))
	if a, b := roleOf(t, c, "alice", "trip"), roleOf(t, c, "bob", "trip"); a != chat.ShareMember || b != chat.ShareOwner {
		t.Fatalf("after transfer alice %q bob %q", a, b)
	}
	wantErr(t, db.RemoveMember(ctx, trip.SessionKey, "bob"), chat.ErrNotFound, "remove the owner")
	// The creator leaves: no access any more, though the row is still in their namespace.
	must(t, db.RemoveMember(ctx, trip.SessionKey, "alice"))
	if r := roleOf(t, c, "alice", "trip"); r != "" {
		t.Fatalf("creator who left still sees it as %q", r)
	}
	if got := accessibleIDs(t, c, "alice"); len(got) != 0 {
		t.Errorf("alice still lists %v", got)
	}
	wantErr(t, db.RemoveMember(ctx, trip.SessionKey, "alice"), chat.ErrNotFound, "remove twice")

	// Deleting the conversation takes its participants with it.
	must(t, db.DeleteConversation(ctx, "alice", "trip"))
	if ms, err := db.Members(ctx, trip.SessionKey); err != nil || len(ms) != 0 {
		t.Errorf("members after delete: %v %v", ms, err)
	}
	if r := roleOf(t, c, "bob", "trip"); r != "" {
		t.Errorf("bob sees the deleted conversation as %q", r)
	}
	// An account's deletion removes its places.
	must(t, db.CreateConversation(ctx, trip))
	must(t, db.AddMember(ctx, trip, chat.Member{UserID: "dave", Role: chat.ShareMember, AddedAt: at(5)}))
	must(t, db.CreateAccount(ctx, account("dave", "dave")))
	must(t, db.DeleteAccount(ctx, "dave"))
	if ms, _ := db.Members(ctx, trip.SessionKey); len(ms) != 1 {
		t.Errorf("members after dave's deletion: %v", ms)
	}
}

func hashOf(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func testSharedInvites(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	trip := conv("alice", "trip", 10)
	must(t, db.CreateConversation(ctx, trip))
	now := at(100).UnixMilli()
	inv := func(id, tok string, role chat.ShareRole, expires int64) chat.Invite {
		return chat.Invite{ID: id, TokenHash: hashOf(tok), SessionKey: trip.SessionKey, Role: role, CreatedBy: "alice",
			CreatedAt: at(100), ExpiresAt: at(100 + expires)}
	}
	must(t, db.CreateInvite(ctx, inv("i1", "tok1", chat.ShareMember, 60)))
	must(t, db.CreateInvite(ctx, inv("i2", "tok2", chat.ShareReadOnly, 60)))
	must(t, db.CreateInvite(ctx, inv("i3", "tok3", chat.ShareMember, 1)))
	must(t, db.CreateInvite(ctx, inv("i4", "tok4", chat.ShareMember, 60)))
	wantErr(t, db.CreateInvite(ctx, chat.Invite{ID: "x", TokenHash: hashOf("x"), SessionKey: "agent:main:clawchat:x:y", Role: chat.ShareMember,
		ExpiresAt: at(200)}), chat.ErrNotFound, "invite to a missing conversation")
	wantErr(t, db.CreateInvite(ctx, inv("i5", "tok5", chat.ShareOwner, 60)), chat.ErrInvalid, "owner invite")
	must(t, db.RevokeInvite(ctx, trip.SessionKey, "i4"))
	wantErr(t, db.RevokeInvite(ctx, "agent:main:clawchat:x:y", "i1"), chat.ErrNotFound, "revoke through another conversation")

	// Unknown, forged, expired and revoked tokens are all ErrNotFound.
	for _, tok := range []string{"nope", "tok3", "tok4", ""} {
		if _, err := db.RedeemInvite(ctx, hashOf(tok), "bob", now+2000); !chatIs(err, chat.ErrNotFound) {
			t.Errorf("redeem %q: %v, want ErrNotFound", tok, err)
		}
	}
	// The creator cannot redeem into their own unshared conversation.
	if _, err := db.RedeemInvite(ctx, hashOf("tok1"), "alice", now); !chatIs(err, chat.ErrConflict) {
		t.Errorf("creator redeems: %v, want ErrConflict", err)
	}
	// Single use, even under concurrent redemption by two people.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []string{"bob", "carol"} {
		wg.Go(func() { _, errs[i] = db.RedeemInvite(ctx, hashOf("tok1"), u, now) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("concurrent redeem: %v / %v, want exactly one success", errs[0], errs[1])
	}
	winner, loser := "bob", "carol"
	if errs[0] != nil {
		winner, loser = "carol", "bob"
	}
	if r := roleOf(t, c, winner, "trip"); r != chat.ShareMember {
		t.Errorf("%s role %q after redeeming", winner, r)
	}
	if _, err := db.RedeemInvite(ctx, hashOf("tok1"), loser, now); !chatIs(err, chat.ErrNotFound) {
		t.Errorf("used token: %v, want ErrNotFound", err)
	}
	got, err := db.RedeemInvite(ctx, hashOf("tok2"), loser, now)
	must(t, err)
	if got.SessionKey != trip.SessionKey || roleOf(t, c, loser, "trip") != chat.ShareReadOnly {
		t.Errorf("read-only invite: %+v role %q", got, roleOf(t, c, loser, "trip"))
	}
	left, err := db.Invites(ctx, trip.SessionKey, now)
	must(t, err)
	if len(left) != 1 || left[0].ID != "i3" {
		t.Errorf("open invites %+v, want i3 only", left)
	}
}

func chatIs(err, want error) bool { return errors.Is(err, want) }

// testMigrateMissingVersion: a database migrated by a binary that had a later migration but not
// an earlier-numbered one (numbers are reserved per issue: #11's 00005 merged before #13's 00004)
// gets the missing one when it arrives, with its data kept.
func testMigrateMissingVersion(t *testing.T, c *contract) {
	ctx := ctxT(t)
	must(t, c.db.CreateAccount(ctx, account("keep", "keep")))
	must(t, c.db.Close())
	raw := c.raw(t)
	for _, q := range []string{`DROP TABLE message_senders`, `DROP TABLE conversation_invites`, `DROP TABLE conversation_members`,
		`DELETE FROM goose_db_version WHERE version_id = 4`} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	again := c.open(t)
	if _, err := again.Account(ctx, "keep"); err != nil {
		t.Fatalf("data lost: %v", err)
	}
	if _, err := again.Members(ctx, "agent:main:clawchat:x:y"); err != nil {
		t.Fatalf("00004 not applied: %v", err)
	}
	var n int
	must(t, raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM goose_db_version WHERE version_id = 4`).Scan(&n))
	if n != 1 {
		t.Errorf("version 4 recorded %d times", n)
	}
}

// testSharedOwnerDeleted: deleting an account never leaves a shared conversation without an
// owner. An owner who is not the creator (ownership transferred) hands over to the
// longest-standing remaining member (not a read-only one; the creator's row dates from the first
// share); so does a creator who owns it; a creator who is a mere member just leaves, and the
// conversation stays; a conversation with only read-only participants left is deleted for
// everyone. The remaining participants are in the auth change feed.
func testSharedOwnerDeleted(t *testing.T, c *contract) {
	ctx, db := ctxT(t), c.db
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		must(t, db.CreateAccount(ctx, account(u, u)))
	}
	_, feed, err := db.AuthChangesSince(ctx, -1)
	must(t, err)
	add := func(cv chat.Conversation, user string, role chat.ShareRole, sec int64) {
		t.Helper()
		must(t, db.AddMember(ctx, cv, chat.Member{UserID: user, Role: role, AddedBy: cv.UserID, AddedAt: at(sec)}))
	}
	roles := func(when, id string, want map[string]chat.ShareRole) {
		t.Helper()
		for user, w := range want {
			if r := roleOf(t, c, user, id); r != w {
				t.Errorf("%s: %s sees %s as %q, want %q", when, user, id, r, w)
			}
		}
	}
	// trip: alice created it (her row dates from the first share, at 1), gave it to bob; carol
	// is read-only, dave and erin members.
	trip := conv("alice", "trip", 10)
	must(t, db.CreateConversation(ctx, trip))
	add(trip, "carol", chat.ShareReadOnly, 1)
	add(trip, "bob", chat.ShareMember, 2)
	add(trip, "erin", chat.ShareMember, 4)
	add(trip, "dave", chat.ShareMember, 3)
	must(t, db.TransferOwnership(ctx, trip.SessionKey, "alice", "bob"))
	// notes: bob's, shared with carol (read-only) only.
	notes := conv("bob", "notes", 20)
	must(t, db.CreateConversation(ctx, notes))
	add(notes, "carol", chat.ShareReadOnly, 1)

	// The owner, not the creator, goes: the longest-standing member owns trip (alice, a member
	// since the first share; carol, as long, is read-only); notes has no member left and goes
	// for everyone.
	must(t, db.DeleteAccount(ctx, "bob"))
	roles("bob deleted", "trip", map[string]chat.ShareRole{"alice": chat.ShareOwner, "bob": "", "carol": chat.ShareReadOnly,
		"dave": chat.ShareMember, "erin": chat.ShareMember})
	roles("bob deleted", "notes", map[string]chat.ShareRole{"carol": ""})
	if _, err := db.ConversationByKey(ctx, notes.SessionKey); !chatIs(err, chat.ErrNotFound) {
		t.Errorf("notes after its owner's deletion: %v, want it deleted", err)
	}
	users, _, err := db.AuthChangesSince(ctx, feed)
	must(t, err)
	slices.Sort(users)
	if want := []string{"alice", "carol", "dave", "erin"}; !slices.Equal(users, want) {
		t.Errorf("auth change feed after bob's deletion: %v, want the remaining participants %v", users, want)
	}
	// notes is remembered as gone for carol, who took part in it, and nobody else.
	for user, want := range map[string][]string{"carol": {"notes"}, "dave": nil, "alice": nil} {
		gone, err := db.GoneConversations(ctx, user, 0)
		must(t, err)
		if !slices.Equal(gone, want) {
			t.Errorf("GoneConversations(%s) = %v, want %v", user, gone, want)
		}
	}

	// The creator, owner again, goes: trip stays with its participants, dave (added before erin)
	// owns it.
	must(t, db.DeleteAccount(ctx, "alice"))
	roles("alice deleted", "trip", map[string]chat.ShareRole{"alice": "", "carol": chat.ShareReadOnly,
		"dave": chat.ShareOwner, "erin": chat.ShareMember})

	// A creator who is a mere member goes: the conversation stays with its owner.
	mine := conv("erin", "mine", 30)
	must(t, db.CreateConversation(ctx, mine))
	add(mine, "carol", chat.ShareMember, 1)
	must(t, db.TransferOwnership(ctx, mine.SessionKey, "erin", "carol"))
	must(t, db.DeleteAccount(ctx, "erin"))
	roles("erin deleted", "mine", map[string]chat.ShareRole{"carol": chat.ShareOwner, "erin": ""})
	roles("erin deleted", "trip", map[string]chat.ShareRole{"dave": chat.ShareOwner, "erin": ""})
	ms, err := db.Members(ctx, trip.SessionKey)
	must(t, err)
	var got []string
	for _, m := range ms {
		got = append(got, m.UserID+"="+string(m.Role))
	}
	if want := []string{"dave=owner", "carol=read-only"}; !slices.Equal(got, want) {
		t.Errorf("trip's members: %v, want %v", got, want)
	}
}
