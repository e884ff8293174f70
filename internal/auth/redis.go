package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clawchat/clawchat/internal/chat"
)

// RedisSessions is a SessionStore in Redis (or Dragonfly/Valkey) for several instances without a
// shared SQL database for sessions. Each session is one key "<prefix>s:<id>" holding JSON, with a
// TTL that is the earlier of its absolute expiry and LastSeenAt+idle, so Redis forgets dead
// sessions by itself; "<prefix>u:<userID>" is a set of the user's session ids for revoke-all.
// Touching uses SET XX, so a session revoked concurrently is never resurrected. Safe for
// concurrent use; the caller owns the client.
type RedisSessions struct {
	c      redis.UniversalClient
	prefix string
	idle   time.Duration
	now    func() time.Time
}

// NewRedisSessions returns a RedisSessions on c with keys under prefix (default "clawchat:") and
// the idle timeout idle (DefaultSessionIdle when 0), which must match Config.SessionIdle.
func NewRedisSessions(c redis.UniversalClient, prefix string, idle time.Duration) *RedisSessions {
	if prefix == "" {
		prefix = "clawchat:"
	}
	if idle <= 0 {
		idle = DefaultSessionIdle
	}
	return &RedisSessions{c: c, prefix: prefix, idle: idle, now: time.Now}
}

func (r *RedisSessions) key(id string) string     { return r.prefix + "s:" + id }
func (r *RedisSessions) userKey(id string) string { return r.prefix + "u:" + id }

func (r *RedisSessions) ttl(s chat.Session) time.Duration {
	end := s.LastSeenAt.Add(r.idle)
	if s.ExpiresAt.Before(end) {
		end = s.ExpiresAt
	}
	return end.Sub(r.now())
}

// CreateSession stores s; ErrConflict when the id exists. An already expired session is not stored.
func (r *RedisSessions) CreateSession(ctx context.Context, s chat.Session) error {
	ttl := r.ttl(s)
	if ttl <= 0 {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("redis sessions: encode: %w", err)
	}
	ok, err := r.c.SetNX(ctx, r.key(s.ID), b, ttl).Result()
	if err != nil {
		return fmt.Errorf("redis sessions: create: %w", err)
	}
	if !ok {
		return fmt.Errorf("redis sessions: create: %w", chat.ErrConflict)
	}
	pipe := r.c.Pipeline()
	pipe.SAdd(ctx, r.userKey(s.UserID), s.ID)
	pipe.ExpireAt(ctx, r.userKey(s.UserID), s.ExpiresAt)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis sessions: index: %w", err)
	}
	return nil
}

// Session returns the session with id, or ErrNotFound.
func (r *RedisSessions) Session(ctx context.Context, id string) (chat.Session, error) {
	b, err := r.c.Get(ctx, r.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return chat.Session{}, fmt.Errorf("redis sessions: %w", chat.ErrNotFound)
	}
	if err != nil {
		return chat.Session{}, fmt.Errorf("redis sessions: get: %w", err)
	}
	var s chat.Session
	if err := json.Unmarshal(b, &s); err != nil {
		return chat.Session{}, fmt.Errorf("redis sessions: decode: %w", err)
	}
	return s, nil
}

// TouchSession sets LastSeenAt and extends the TTL; a missing session stays missing.
func (r *RedisSessions) TouchSession(ctx context.Context, id string, at time.Time) error {
	s, err := r.Session(ctx, id)
	if err != nil {
		return err
	}
	s.LastSeenAt = at
	ttl := r.ttl(s)
	if ttl <= 0 {
		return r.DeleteSession(ctx, id)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("redis sessions: encode: %w", err)
	}
	if err := r.c.SetArgs(ctx, r.key(id), b, redis.SetArgs{Mode: "XX", TTL: ttl}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis sessions: touch: %w", err)
	}
	return nil
}

// DeleteSession removes one session; a missing one is not an error.
func (r *RedisSessions) DeleteSession(ctx context.Context, id string) error {
	s, err := r.Session(ctx, id)
	if err != nil && !errors.Is(err, chat.ErrNotFound) {
		return err
	}
	pipe := r.c.TxPipeline()
	pipe.Del(ctx, r.key(id))
	if err == nil {
		pipe.SRem(ctx, r.userKey(s.UserID), id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis sessions: delete: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of userID.
func (r *RedisSessions) DeleteUserSessions(ctx context.Context, userID string) error {
	ids, err := r.c.SMembers(ctx, r.userKey(userID)).Result()
	if err != nil {
		return fmt.Errorf("redis sessions: list user sessions: %w", err)
	}
	keys := []string{r.userKey(userID)}
	for _, id := range ids {
		keys = append(keys, r.key(id))
	}
	if err := r.c.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("redis sessions: revoke: %w", err)
	}
	return nil
}

// DeleteExpiredSessions does nothing: Redis expires the keys itself.
func (r *RedisSessions) DeleteExpiredSessions(context.Context, time.Time, time.Duration) (int, error) {
	return 0, nil
}

// RedisPending is a PendingStore in Redis, for OIDC sign-ins that may start on one instance and
// finish on another. Entries are keyed by the SHA-256 of the state and taken with GETDEL (single
// use, Redis ≥ 6.2). Safe for concurrent use; the caller owns the client.
type RedisPending struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedisPending returns a RedisPending on c with keys under prefix (default "clawchat:").
func NewRedisPending(c redis.UniversalClient, prefix string) *RedisPending {
	if prefix == "" {
		prefix = "clawchat:"
	}
	return &RedisPending{c: c, prefix: prefix}
}

// PutPending stores p for the sign-in timeout (10 minutes).
func (r *RedisPending) PutPending(ctx context.Context, state string, p PendingLogin) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("redis pending: encode: %w", err)
	}
	ttl := pendingTTL // Expires is checked by the Service's clock; the TTL only bounds storage
	if err := r.c.Set(ctx, r.prefix+"oidc:"+hashToken(state), b, ttl).Err(); err != nil {
		return fmt.Errorf("redis pending: put: %w", err)
	}
	return nil
}

// TakePending removes and returns the entry for state.
func (r *RedisPending) TakePending(ctx context.Context, state string) (PendingLogin, error) {
	b, err := r.c.GetDel(ctx, r.prefix+"oidc:"+hashToken(state)).Bytes()
	if errors.Is(err, redis.Nil) {
		return PendingLogin{}, fmt.Errorf("redis pending: %w", chat.ErrNotFound)
	}
	if err != nil {
		return PendingLogin{}, fmt.Errorf("redis pending: take: %w", err)
	}
	var p PendingLogin
	if err := json.Unmarshal(b, &p); err != nil {
		return PendingLogin{}, fmt.Errorf("redis pending: decode: %w", err)
	}
	return p, nil
}
