package sending

import (
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// TestSendLimitersStayBounded: the per-user send limiters are evicted once idle, so 10 000
// distinct users sending once each, 20 ms apart, leave at most the buckets of the last two idle
// windows (60 s each at the default 1/s, burst 10), not one per user forever (issue 14).
func TestSendLimitersStayBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Config{SendRate: 1, SendBurst: 10})
		const users, gap = 10_000, 20 * time.Millisecond
		peak := 0
		for i := range users {
			if !s.limiters.Allow("user-" + strconv.Itoa(i)) {
				t.Fatalf("user %d: first send refused", i)
			}
			peak = max(peak, s.limiters.Len())
			time.Sleep(gap)
		}
		perWindow := int(time.Minute / gap)
		if peak > 2*perWindow+1 {
			t.Fatalf("send limiters peaked at %d buckets for %d users; want at most %d (idle ones evicted)", peak, users, 2*perWindow+1)
		}
		t.Logf("peak %d buckets for %d users", peak, users)
	})
}
