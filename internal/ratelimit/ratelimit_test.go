package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestBurstThenRefill(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(Config{Rate: 1, Burst: 3, Now: c.Now})
	for i := range 3 {
		if !l.Allow("alice") {
			t.Fatalf("call %d refused", i)
		}
	}
	ok, wait := l.Reserve("alice")
	if ok || wait <= 0 || wait > 1100*time.Millisecond {
		t.Fatalf("4th call: ok=%v wait=%v", ok, wait)
	}
	if !l.Allow("bob") {
		t.Fatal("bob shares alice's bucket")
	}
	// A refused call spends nothing: after one second exactly one token is back.
	c.Add(time.Second)
	if !l.Allow("alice") {
		t.Fatal("no token after refill")
	}
	if l.Allow("alice") {
		t.Fatal("refused calls were charged or refill too fast")
	}
}

func TestIdleEviction(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(Config{Rate: 1, Burst: 2, IdleTTL: time.Minute, Now: c.Now})
	for i := range 10 {
		l.Allow(fmt.Sprint("k", i))
	}
	if l.Len() != 10 {
		t.Fatalf("Len %d", l.Len())
	}
	c.Add(30 * time.Second)
	l.Allow("k0")
	c.Add(45 * time.Second)
	l.Allow("fresh") // triggers the lazy sweep
	if got := l.Len(); got != 2 {
		t.Fatalf("after sweep Len = %d, want 2 (k0 and fresh)", got)
	}
}

func TestMaxKeysBoundsMemory(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(Config{Rate: 10, Burst: 1, IdleTTL: time.Second, MaxKeys: 100, Now: c.Now})
	for i := range 1000 {
		l.Allow(fmt.Sprint(i))
		c.Add(20 * time.Millisecond)
	}
	if l.Len() > 150 {
		t.Fatalf("Len %d grew past MaxKeys", l.Len())
	}
}

func TestZeroRate(t *testing.T) {
	l := New(Config{Rate: 0, Burst: 1})
	if !l.Allow("x") {
		t.Fatal("burst not honoured")
	}
	if ok, d := l.Reserve("x"); ok || d < time.Hour {
		t.Fatalf("ok=%v d=%v", ok, d)
	}
	l2 := New(Config{Rate: rate.Inf})
	for range 100 {
		if !l2.Allow("x") {
			t.Fatal("infinite rate refused")
		}
	}
}

func TestConcurrent(t *testing.T) {
	l := New(Config{Rate: 0, Burst: 50})
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if l.Allow("shared") {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("allowed %d, want exactly the burst 50", allowed)
	}
}
