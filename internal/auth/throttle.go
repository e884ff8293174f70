package auth

import (
	"sync"
	"time"
)

// throttle counts sign-in failures per key (an account name or a client IP). After limit failures
// within window the key is locked for window; every further failure after a lock expires locks it
// again for twice as long (capped at maxLock). A key with no failures for a whole window after its
// lock ends is forgotten. Safe for concurrent use; memory is bounded by maxKeys.
type throttle struct {
	limit   int
	window  time.Duration
	maxLock time.Duration
	maxKeys int

	mu      sync.Mutex
	entries map[string]*strike
}

type strike struct {
	count       int
	windowStart time.Time
	lockedUntil time.Time
	lockouts    int
	last        time.Time
}

func newThrottle(limit int, window, maxLock time.Duration) *throttle {
	return &throttle{limit: limit, window: window, maxLock: maxLock, maxKeys: 100_000, entries: map[string]*strike{}}
}

// retryAfter returns how long key stays locked (0 when it is not).
func (t *throttle) retryAfter(key string, now time.Time) time.Duration {
	if t.limit <= 0 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil || !now.Before(e.lockedUntil) {
		return 0
	}
	return e.lockedUntil.Sub(now)
}

// fail records a failure for key and returns the lock now in force (0 when none).
func (t *throttle) fail(key string, now time.Time) time.Duration {
	if t.limit <= 0 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e != nil && t.stale(e, now) {
		e = nil
	}
	if e == nil {
		if len(t.entries) >= t.maxKeys {
			t.sweepLocked(now)
		}
		e = &strike{windowStart: now}
		t.entries[key] = e
	}
	e.last = now
	if e.lockouts == 0 && now.Sub(e.windowStart) >= t.window {
		e.count, e.windowStart = 0, now
	}
	e.count++
	if e.count >= t.limit {
		d := t.window << min(e.lockouts, 20)
		if d > t.maxLock || d <= 0 {
			d = t.maxLock
		}
		e.lockouts++
		e.count = t.limit - 1 // the next failure after this lock locks again, longer
		e.lockedUntil = now.Add(d)
		return d
	}
	return 0
}

// succeed forgets key (used for the account key after a correct password; never for IP keys, so
// one valid account does not reset an attacker's per-IP budget).
func (t *throttle) succeed(key string) {
	t.mu.Lock()
	delete(t.entries, key)
	t.mu.Unlock()
}

func (t *throttle) stale(e *strike, now time.Time) bool {
	end := e.lockedUntil
	if e.last.After(end) {
		end = e.last
	}
	return now.Sub(end) >= t.window
}

// sweepLocked drops stale entries; if the map is still full it drops unlocked entries, and as a
// last resort arbitrary ones, so memory stays bounded under a distributed attack.
func (t *throttle) sweepLocked(now time.Time) {
	for k, e := range t.entries {
		if t.stale(e, now) {
			delete(t.entries, k)
		}
	}
	for k, e := range t.entries {
		if len(t.entries) < t.maxKeys*9/10 {
			return
		}
		if !now.Before(e.lockedUntil) {
			delete(t.entries, k)
		}
	}
	for k := range t.entries {
		if len(t.entries) < t.maxKeys*9/10 {
			return
		}
		delete(t.entries, k)
	}
}
