package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/testkit/redistest"
)

func redisClient(t *testing.T) (*redis.Client, string) {
	opt, err := redis.ParseURL(redistest.StartURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c, "clawchat-test-" + NewAccountID() + ":"
}

// sessionStoreContract checks the behaviour the Service relies on, for any SessionStore.
func sessionStoreContract(t *testing.T, st SessionStore, now time.Time) {
	ctx := context.Background()
	s1 := chat.Session{ID: "h1", UserID: "u1", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), IDTokenHint: "idt"}
	s2 := chat.Session{ID: "h2", UserID: "u1", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	s3 := chat.Session{ID: "h3", UserID: "u2", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	for _, s := range []chat.Session{s1, s2, s3} {
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateSession(ctx, s1); !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("duplicate id: %v", err)
	}
	got, err := st.Session(ctx, "h1")
	if err != nil || got.UserID != "u1" || got.IDTokenHint != "idt" || !got.ExpiresAt.Equal(s1.ExpiresAt) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := st.Session(ctx, "nope"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	later := now.Add(2 * time.Minute)
	if err := st.TouchSession(ctx, "h1", later); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Session(ctx, "h1"); !got.LastSeenAt.Equal(later) {
		t.Fatalf("touch: %v", got.LastSeenAt)
	}
	if err := st.DeleteSession(ctx, "h2"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSession(ctx, "h2"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, err := st.Session(ctx, "h2"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatal("deleted session still there")
	}
	if err := st.DeleteUserSessions(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, "h1"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatal("revoke-all missed a session")
	}
	if _, err := st.Session(ctx, "h3"); err != nil {
		t.Fatal("revoke-all hit another user")
	}
	// Touching a revoked session must not bring it back.
	if err := st.TouchSession(ctx, "h1", later); err == nil {
		if _, err := st.Session(ctx, "h1"); err == nil {
			t.Fatal("touch resurrected a revoked session")
		}
	}
}

func TestMemorySessionStore(t *testing.T) {
	sessionStoreContract(t, NewMemoryStore(), time.Now())
}

func TestRedisSessionStore(t *testing.T) {
	c, prefix := redisClient(t)
	rs := NewRedisSessions(c, prefix, time.Hour)
	now := time.Now().UTC().Truncate(time.Millisecond)
	sessionStoreContract(t, rs, now)
	ctx := context.Background()
	// TTLs follow the idle and absolute timeouts, so Redis expires sessions by itself.
	rs.CreateSession(ctx, chat.Session{ID: "t1", UserID: "u9", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(10 * time.Minute)})
	rs.CreateSession(ctx, chat.Session{ID: "t2", UserID: "u9", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(48 * time.Hour)})
	if ttl := c.TTL(ctx, prefix+"s:t1").Val(); ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Fatalf("absolute-bound TTL %v", ttl)
	}
	if ttl := c.TTL(ctx, prefix+"s:t2").Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("idle-bound TTL %v", ttl)
	}
	if ttl := c.TTL(ctx, prefix+"u:u9").Val(); ttl <= 47*time.Hour {
		t.Fatalf("user index TTL %v", ttl)
	}
	// An already-dead session is not stored.
	rs.CreateSession(ctx, chat.Session{ID: "t3", UserID: "u9", LastSeenAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)})
	if _, err := rs.Session(ctx, "t3"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatal("expired session stored")
	}
	if n, err := rs.DeleteExpiredSessions(ctx, now, time.Hour); n != 0 || err != nil {
		t.Fatal(n, err)
	}
}

func TestServiceWithRedisSessions(t *testing.T) {
	c, prefix := redisClient(t)
	h := mustFastHasher()
	accounts := NewMemoryStore()
	st := Combine(accounts, NewRedisSessions(c, prefix, 0))
	svc, err := New(context.Background(), Config{}, Deps{Store: st, hasher: h, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, svc: svc, clock: newClock(), logs: &syncBuffer{}, store: &countingStore{MemoryStore: accounts}}
	e.mux = newMux(svc)
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	tok := sessionCookie(t, e.loginJSON("alice", "correct horse battery")).Value
	if w := e.do("GET", "/api/me", nil, "", withCookie(tok)); w.Code != 200 {
		t.Fatalf("me %d", w.Code)
	}
	keys := c.Keys(context.Background(), prefix+"*").Val()
	if strings.Contains(strings.Join(keys, " ")+c.Get(context.Background(), prefix+"s:"+hashToken(tok)).Val(), tok) {
		t.Fatal("raw token stored in Redis")
	}
	// Password change through the CLI revokes the Redis sessions.
	var out bytes.Buffer
	if err := userCommand(context.Background(), st, h, []string{"passwd", "alice"}, strings.NewReader("new password 123\n"), &out, &out); err != nil {
		t.Fatal(err)
	}
	if w := e.do("GET", "/api/me", nil, "", withCookie(tok)); w.Code != 401 {
		t.Fatalf("session survived password change: %d", w.Code)
	}
}

func TestRedisPendingSingleUse(t *testing.T) {
	c, prefix := redisClient(t)
	p := NewRedisPending(c, prefix)
	ctx := context.Background()
	in := PendingLogin{Nonce: "n", Verifier: "v", Next: "/x", Binding: "b", Expires: time.Now().Add(time.Minute).UTC().Truncate(time.Second)}
	if err := p.PutPending(ctx, "state-1", in); err != nil {
		t.Fatal(err)
	}
	if keys := c.Keys(ctx, prefix+"*").Val(); len(keys) != 1 || strings.Contains(keys[0], "state-1") {
		t.Fatalf("keys %v", keys)
	}
	got, err := p.TakePending(ctx, "state-1")
	if err != nil || got != in {
		t.Fatalf("take %+v %v", got, err)
	}
	if _, err := p.TakePending(ctx, "state-1"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("second take: %v", err)
	}
}
