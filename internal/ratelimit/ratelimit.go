// Package ratelimit provides per-key token buckets (golang.org/x/time/rate) with idle eviction,
// for per-user API limits and per-connection message limits. It starts no goroutines: idle
// buckets are swept lazily while the limiter is used, so an unused limiter costs nothing.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Config describes one family of buckets.
type Config struct {
	// Rate is the sustained number of events per second per key.
	Rate rate.Limit
	// Burst is the bucket size: how many events a key may spend at once. Must be ≥ 1.
	Burst int
	// IdleTTL is how long a key's bucket is kept after its last use. Buckets idle for longer are
	// dropped (a new one starts full). 0 means the time to refill a whole bucket, at least a minute;
	// a smaller value than the refill time would let a client regain tokens by waiting less.
	IdleTTL time.Duration
	// MaxKeys bounds memory: when there are more buckets than this, idle ones are swept at once
	// (0 means 100 000). Keys are never refused.
	MaxKeys int
	// Now is the clock (time.Now when nil); tests inject their own.
	Now func() time.Time
}

// Limiter is a set of token buckets keyed by string (user id, client IP, …). It is safe for
// concurrent use.
type Limiter struct {
	cfg       Config
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// New returns a Limiter for cfg. A Burst below 1 is treated as 1.
func New(cfg Config) *Limiter {
	if cfg.Burst < 1 {
		cfg.Burst = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleTTL <= 0 {
		refill := time.Minute
		if cfg.Rate > 0 && cfg.Rate != rate.Inf {
			if d := time.Duration(float64(cfg.Burst) / float64(cfg.Rate) * float64(time.Second)); d > refill {
				refill = d
			}
		}
		cfg.IdleTTL = refill
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	return &Limiter{cfg: cfg, buckets: make(map[string]*bucket), lastSweep: cfg.Now()}
}

// Allow spends one token of key's bucket and reports whether it was available.
func (l *Limiter) Allow(key string) bool {
	ok, _ := l.Reserve(key)
	return ok
}

// Reserve spends one token of key's bucket if one is available now. Otherwise nothing is spent
// and it returns false with how long until a token will be available (rounded up to whole
// milliseconds; math.MaxInt64 when the rate is 0), suitable for Retry-After.
func (l *Limiter) Reserve(key string) (bool, time.Duration) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maybeSweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.cfg.Rate, l.cfg.Burst)}
		l.buckets[key] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Duration(math.MaxInt64)
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return true, 0
	}
	r.CancelAt(now)
	if d == rate.InfDuration {
		return false, d
	}
	return false, d.Round(time.Millisecond) + time.Millisecond
}

// Forget drops key's bucket (for example when a user is deleted).
func (l *Limiter) Forget(key string) {
	l.mu.Lock()
	delete(l.buckets, key)
	l.mu.Unlock()
}

// Len returns the number of live buckets.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Sweep drops every bucket idle for longer than IdleTTL and returns how many it dropped. It is
// called automatically; calling it by hand is only useful in tests.
func (l *Limiter) Sweep() int {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sweep(now)
}

func (l *Limiter) maybeSweep(now time.Time) {
	if len(l.buckets) >= l.cfg.MaxKeys || now.Sub(l.lastSweep) >= l.cfg.IdleTTL {
		l.sweep(now)
	}
}

func (l *Limiter) sweep(now time.Time) int {
	l.lastSweep = now
	n := 0
	for k, b := range l.buckets {
		if now.Sub(b.last) > l.cfg.IdleTTL {
			delete(l.buckets, k)
			n++
		}
	}
	return n
}
