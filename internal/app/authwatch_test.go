package app

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/auth"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/store"
)

// Issue 16, items 2 and 9: every session or account change made through the auth store lands in
// the change feed (which running servers poll), and the push subscriptions registered by the
// sessions that ended are deleted (a shared device stops getting the previous user's
// notifications).
func TestAuthChangesReachFeedAndDropPushSubscriptions(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "clawchat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := auth.WithChangeHook(db, func(ctx context.Context, c auth.Change) {
		if err := noteAuthChange(ctx, db, c); err != nil {
			t.Error(err)
		}
	})
	_, start, err := db.AuthChangesSince(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, s := range []chat.Session{{ID: "s1", UserID: "alice"}, {ID: "s2", UserID: "alice"}} {
		s.CreatedAt, s.LastSeenAt, s.ExpiresAt = now, now, now.Add(time.Hour)
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for i, sess := range []string{"s1", "s2"} {
		sub := chat.PushSubscription{UserID: "alice", Endpoint: "https://fcm.googleapis.com/fcm/send/" + sess, P256dh: "p", Auth: "a", SessionID: sess, CreatedAt: now.Add(time.Duration(i)), LastUsedAt: now}
		if err := db.SavePushSubscription(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteSession(ctx, "s1"); err != nil { // sign-out of one device
		t.Fatal(err)
	}
	subs, _ := db.PushSubscriptions(ctx, "alice")
	if len(subs) != 1 || subs[0].SessionID != "s2" {
		t.Fatalf("after s1 signed out: %+v, want only s2's subscription", subs)
	}
	users, _, err := db.AuthChangesSince(ctx, start)
	if err != nil || !slices.Equal(users, []string{"alice"}) {
		t.Fatalf("change feed after sign-out: %v %v", users, err)
	}
	if err := st.DeleteUserSessions(ctx, "alice"); err != nil { // password change, revocation
		t.Fatal(err)
	}
	if subs, _ := db.PushSubscriptions(ctx, "alice"); len(subs) != 0 {
		t.Fatalf("after all sessions revoked: %+v", subs)
	}
}
