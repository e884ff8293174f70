package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/clawchat/clawchat/internal/chat"
)

// MaxPayload is the largest payload Publish accepts (PostgreSQL's NOTIFY limit is 8000 bytes; we
// keep a margin and apply the same limit on SQLite so behaviour does not depend on the engine).
const MaxPayload = 7000

var channelRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,63}$`)

// ClaimOnce reports whether the caller is the first to claim key among every caller and every
// instance sharing this database: exactly one concurrent caller gets true, the others false,
// until the claim expires ttl after it was made (then the key can be claimed again). Expired
// claims are purged as a side effect. Use it for exactly-once side effects across instances,
// e.g. ClaimOnce(ctx, "push:"+runID, time.Hour).
func (d *DB) ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if key == "" || ttl <= 0 {
		return false, fmt.Errorf("store: claim: key and a positive ttl are required: %w", chat.ErrInvalid)
	}
	now := d.now()
	if _, err := d.db.ExecContext(ctx, `DELETE FROM claims WHERE expires_at <= $1`, ms(now)); err != nil {
		return false, mapErr("store: claim", err)
	}
	// The conditional upsert also takes over an expired claim that the purge above raced with.
	res, err := d.db.ExecContext(ctx, `INSERT INTO claims (claim_key, expires_at) VALUES ($1, $2)
	ON CONFLICT (claim_key) DO UPDATE SET expires_at = excluded.expires_at WHERE claims.expires_at <= $3`,
		key, ms(now.Add(ttl)), ms(now))
	if err != nil {
		return false, mapErr("store: claim", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim: %w", err)
	}
	return n == 1, nil
}

func checkPublish(channel string, payload []byte) error {
	if !channelRe.MatchString(channel) {
		return fmt.Errorf("store: publish: bad channel name: %w", chat.ErrInvalid)
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("store: publish: payload of %d bytes exceeds %d: %w", len(payload), MaxPayload, chat.ErrTooLarge)
	}
	if !utf8.Valid(payload) || bytes.IndexByte(payload, 0) >= 0 {
		return fmt.Errorf("store: publish: payload must be UTF-8 text without NUL bytes: %w", chat.ErrInvalid)
	}
	return nil
}

// Publish sends payload to every current subscriber of channel on every instance sharing the
// database (PostgreSQL NOTIFY; delivered after commit, at most once, to subscribers listening at
// that moment, including this instance's own). On SQLite it reaches only this process's
// subscribers of this *DB. payload must be UTF-8 text (e.g. JSON) without NUL bytes and at most
// MaxPayload bytes (chat.ErrTooLarge otherwise). channel matches ^[A-Za-z0-9_.:-]{1,63}$.
func (d *DB) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := checkPublish(channel, payload); err != nil {
		return err
	}
	if d.local != nil {
		d.local.publish(channel, payload)
		return nil
	}
	if _, err := d.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, string(payload)); err != nil {
		return fmt.Errorf("store: publish: %w", err)
	}
	return nil
}

// Subscribe calls fn with the payload of every message published on channel, one at a time, from
// the calling goroutine, until ctx is done; then it returns nil. On PostgreSQL it LISTENs on a
// dedicated connection of its own (one per Subscribe call, outside the pool: subscribe once per
// channel per instance and fan out in-process) and reconnects with backoff when that connection
// breaks; messages
// published while it is reconnecting are lost, so consumers that cannot afford a loss should use
// [DB.Listen] and resynchronise in its onListen callback. fn should return quickly; it owns the
// payload slice it is given.
func (d *DB) Subscribe(ctx context.Context, channel string, fn func(payload []byte)) error {
	return d.Listen(ctx, channel, fn, nil)
}

// Listen is [DB.Subscribe] with onListen, which (when non-nil) is called from the subscribing
// goroutine each time the subscription becomes active: once at the start and again after every
// reconnect. A message published after onListen has been called is delivered.
func (d *DB) Listen(ctx context.Context, channel string, fn func(payload []byte), onListen func()) error {
	if !channelRe.MatchString(channel) {
		return fmt.Errorf("store: subscribe: bad channel name: %w", chat.ErrInvalid)
	}
	if onListen == nil {
		onListen = func() {}
	}
	if d.local != nil {
		return d.local.subscribe(ctx, channel, fn, onListen)
	}
	const minBackoff, maxBackoff = 100 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	for {
		err := d.listenOnce(ctx, channel, fn, func() { backoff = minBackoff; onListen() })
		if ctx.Err() != nil {
			return nil
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		d.log.Warn("store: subscription lost, reconnecting", "channel", channel, "err", err, "in", wait)
		backoff = min(2*backoff, maxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// listenOnce holds one dedicated connection listening on channel until it fails or ctx is done.
func (d *DB) listenOnce(ctx context.Context, channel string, fn func([]byte), onListen func()) error {
	conn, err := pgx.ConnectConfig(ctx, d.pgcfg.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err) // pgconn.ConnectError names host, user and database, never the password
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	onListen()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		fn([]byte(n.Payload))
	}
}

// broker is the in-process Publish/Subscribe of a SQLite store.
type broker struct {
	log  *slog.Logger
	mu   sync.Mutex
	subs map[string]map[chan []byte]struct{}
}

// subscriberBuffer is how many messages a slow in-process subscriber may lag behind before
// messages to it are dropped (and logged).
const subscriberBuffer = 256

func newBroker(log *slog.Logger) *broker {
	return &broker{log: log, subs: make(map[string]map[chan []byte]struct{})}
}

func (b *broker) publish(channel string, payload []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[channel] {
		select {
		case ch <- bytes.Clone(payload):
		default:
			b.log.Warn("store: slow subscriber, message dropped", "channel", channel)
		}
	}
}

func (b *broker) subscribe(ctx context.Context, channel string, fn func([]byte), onListen func()) error {
	ch := make(chan []byte, subscriberBuffer)
	b.mu.Lock()
	if b.subs[channel] == nil {
		b.subs[channel] = make(map[chan []byte]struct{})
	}
	b.subs[channel][ch] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.subs[channel], ch)
		if len(b.subs[channel]) == 0 {
			delete(b.subs, channel)
		}
		b.mu.Unlock()
	}()
	onListen()
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-ch:
			fn(p)
		}
	}
}
