package auth

import (
	"sync"
	"time"
)

// throttle counts sign-in failures per key (an account name or a client IP). After limit failures
// within window the key is locked for window; every further failure after a lock expires locks it
// again for twice as long (capped at maxLock). A key with no failures for a whole window after its
// lock ends is forgotten. Safe for concurrent use; memory is bounded by maxKeys.
//
// Attempts are reserved before the (slow, queued) password hash: reserve counts an attempt as in
// flight, and refuses once failures plus attempts in flight reach limit, so a burst of parallel
// guesses cannot get more than limit verdicts (issue 16). Every admitted attempt is settled with
// fail, succeed or release.
type throttle struct {
	limit   int
	window  time.Duration
	maxLock time.Duration
	maxKeys int

	mu      sync.Mutex
	entries map[string]*strike
}

type strike struct {
	inflight    int // reserved attempts not yet settled
	count       int
	windowStart time.Time
	lockedUntil time.Time
	lockouts    int
	last        time.Time
}

func newThrottle(limit int, window, maxLock time.Duration) *throttle {
	return &throttle{limit: limit, window: window, maxLock: maxLock, maxKeys: 100_000, entries: map[string]*strike{}}
}

// reserve admits one attempt for key, or refuses it with how long to wait: while the key is
// locked, or while its failures plus the attempts in flight would reach the limit (then the wait
// is a second: the attempts in flight settle soon). An admitted attempt must be settled.
func (t *throttle) reserve(key string, now time.Time) (time.Duration, bool) {
	if t.limit <= 0 {
		return 0, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e != nil && e.inflight == 0 && t.stale(e, now) {
		delete(t.entries, key)
		e = nil
	}
	if e == nil {
		if len(t.entries) >= t.maxKeys {
			t.sweepLocked(now)
		}
		e = &strike{windowStart: now, last: now}
		t.entries[key] = e
	}
	if now.Before(e.lockedUntil) {
		return e.lockedUntil.Sub(now), false
	}
	if e.lockouts == 0 && now.Sub(e.windowStart) >= t.window && e.inflight == 0 {
		e.count, e.windowStart = 0, now
	}
	if e.count+e.inflight >= t.limit {
		return time.Second, false
	}
	e.inflight++
	e.last = now
	return 0, true
}

// fail settles a reserved attempt of key as a failure and returns the lock now in force (0 when
// none).
func (t *throttle) fail(key string, now time.Time) time.Duration {
	if t.limit <= 0 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil { // swept as a last resort under a flood: start over
		if len(t.entries) >= t.maxKeys {
			t.sweepLocked(now)
		}
		e = &strike{windowStart: now}
		t.entries[key] = e
	}
	e.inflight = max(e.inflight-1, 0)
	e.last = now
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

// release settles a reserved attempt of key that neither failed nor should reset the key (an
// internal error, or a success on a per-IP key).
func (t *throttle) release(key string) {
	if t.limit <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[key]; e != nil {
		e.inflight = max(e.inflight-1, 0)
	}
}

// succeed settles a reserved attempt of key as a success and forgets its failures (used for the
// account key after a correct password; never for IP keys, so one valid account does not reset an
// attacker's per-IP budget). Other attempts still in flight stay counted.
func (t *throttle) succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil {
		return
	}
	if e.inflight <= 1 {
		delete(t.entries, key)
		return
	}
	e.inflight--
	e.count, e.lockouts, e.lockedUntil = 0, 0, time.Time{}
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
		if e.inflight == 0 && t.stale(e, now) {
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
