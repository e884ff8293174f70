package auth

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

func retryAfter(t *testing.T, code int, h string) int {
	t.Helper()
	if code != 429 {
		t.Fatalf("status %d, want 429", code)
	}
	n, err := strconv.Atoi(h)
	if err != nil || n < 1 {
		t.Fatalf("Retry-After %q", h)
	}
	return n
}

func TestAccountThrottleAndBackoff(t *testing.T) {
	e := newEnv(t, Config{})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	for i := range DefaultAccountFailures {
		// Spread over many IPs so only the per-account limit applies.
		if w := e.loginJSON("alice", "guess", withRemote(fmt.Sprintf("198.51.100.%d:1", i))); w.Code != 401 {
			t.Fatalf("attempt %d: %d", i, w.Code)
		}
	}
	w := e.loginJSON("alice", "correct horse battery", withRemote("203.0.113.1:1"))
	if n := retryAfter(t, w.Code, w.Header().Get("Retry-After")); n != 900 {
		t.Fatalf("first lockout Retry-After %d, want 900", n)
	}
	if w.Body.String() != `{"error":{"code":"rate_limited","message":"too many failed sign-in attempts; try again later"}}`+"\n" {
		t.Fatalf("body %s", w.Body)
	}
	e.clock.Add(15*time.Minute + time.Second)
	// After the lock, one more failure locks again, twice as long.
	if w := e.loginJSON("alice", "guess", withRemote("203.0.113.2:1")); w.Code != 401 {
		t.Fatalf("after lock: %d", w.Code)
	}
	w = e.loginJSON("alice", "correct horse battery", withRemote("203.0.113.3:1"))
	if n := retryAfter(t, w.Code, w.Header().Get("Retry-After")); n != 1800 {
		t.Fatalf("second lockout %d, want 1800", n)
	}
	e.clock.Add(31 * time.Minute)
	if w := e.loginJSON("alice", "correct horse battery", withRemote("203.0.113.4:1")); w.Code != 200 {
		t.Fatalf("correct password after lock: %d", w.Code)
	}
	// Success resets the account counter.
	if w := e.loginJSON("alice", "guess", withRemote("203.0.113.5:1")); w.Code != 401 {
		t.Fatalf("after success: %d", w.Code)
	}
}

func TestUnknownUserThrottledTheSame(t *testing.T) {
	e := newEnv(t, Config{})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	var known, unknown [DefaultAccountFailures + 1]int
	for i := range known {
		known[i] = e.loginJSON("alice", "guess", withRemote(fmt.Sprintf("198.51.100.%d:1", i))).Code
		unknown[i] = e.loginJSON("nobody", "guess", withRemote(fmt.Sprintf("198.51.101.%d:1", i))).Code
	}
	if known != unknown || known[DefaultAccountFailures] != 429 {
		t.Fatalf("known %v unknown %v", known, unknown)
	}
}

func TestIPThrottle(t *testing.T) {
	e := newEnv(t, Config{Throttle: ThrottleConfig{IPFailures: 5}})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	for i := range 5 {
		if w := e.loginJSON(fmt.Sprint("user", i), "guess"); w.Code != 401 {
			t.Fatalf("attempt %d: %d", i, w.Code)
		}
	}
	w := e.loginJSON("alice", "correct horse battery")
	retryAfter(t, w.Code, w.Header().Get("Retry-After"))
	if w := e.loginJSON("alice", "correct horse battery", withRemote("192.0.2.99:1")); w.Code != 200 {
		t.Fatalf("other IP refused: %d", w.Code)
	}
	// IPv6 clients are counted per /64.
	for i := range 5 {
		e.loginJSON("x", "guess", withRemote(fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1)))
	}
	w = e.loginJSON("alice", "correct horse battery", withRemote("[2001:db8:1:2::ff]:1"))
	retryAfter(t, w.Code, w.Header().Get("Retry-After"))
}

func TestThrottleBehindProxy(t *testing.T) {
	e := newEnv(t, Config{Throttle: ThrottleConfig{IPFailures: 3, AccountFailures: 100}, TrustedProxies: mustPrefixes("10.0.0.1")})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	for range 3 {
		e.loginJSON("x", "guess", withRemote("10.0.0.1:1"), withHeader("X-Forwarded-For", "198.51.100.1"))
	}
	if w := e.loginJSON("alice", "correct horse battery", withRemote("10.0.0.1:1"), withHeader("X-Forwarded-For", "198.51.100.2")); w.Code != 200 {
		t.Fatalf("a different client behind the proxy is locked out: %d", w.Code)
	}
	// Spoofing X-Forwarded-For from the client does not escape the limit.
	w := e.loginJSON("alice", "correct horse battery", withRemote("10.0.0.1:1"), withHeader("X-Forwarded-For", "1.1.1.1, 198.51.100.1"))
	retryAfter(t, w.Code, w.Header().Get("Retry-After"))
}

func TestThrottleMemoryBound(t *testing.T) {
	th := newThrottle(3, time.Minute, time.Hour)
	th.maxKeys = 100
	now := time.Now()
	for i := range 1000 {
		if _, ok := th.reserve(fmt.Sprint(i), now); ok {
			th.fail(fmt.Sprint(i), now)
		}
	}
	if len(th.entries) > 100 {
		t.Fatalf("%d entries", len(th.entries))
	}
}

// Regression (issue 16, item 4): the throttle was checked before the queued hash and counted only
// afterwards, so 40 parallel wrong passwords all got a verdict (401) and the correct password
// right after was accepted. Attempts are reserved first: at most the limit get a verdict.
func TestThrottleHoldsUnderConcurrency(t *testing.T) {
	e := newEnv(t, Config{})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	const n = 40
	codes := make(chan int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Many client IPs, so that only the per-account limit (10) applies.
			codes <- e.loginJSON("alice", "guess", withRemote(fmt.Sprintf("198.51.100.%d:1", i))).Code
		}()
	}
	close(start)
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[401] > DefaultAccountFailures || got[401]+got[429] != n {
		t.Fatalf("40 parallel wrong passwords: %v; want at most %d × 401 and the rest 429", got, DefaultAccountFailures)
	}
	if got[401] == 0 {
		t.Fatalf("no attempt got a verdict: %v", got)
	}
	// Finish the failures the burst did not reach (those refused while others were in flight).
	for i := got[401]; i < DefaultAccountFailures; i++ {
		e.loginJSON("alice", "guess", withRemote("203.0.113.9:1"))
	}
	if w := e.loginJSON("alice", "correct horse battery", withRemote("203.0.113.1:1")); w.Code != 429 {
		t.Fatalf("correct password while locked: %d, want 429", w.Code)
	}
}

// Same for the per-IP limit: one client, many account names.
func TestIPThrottleHoldsUnderConcurrency(t *testing.T) {
	e := newEnv(t, Config{})
	const n = 60
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- e.loginJSON(fmt.Sprintf("user%d", i), "guess", withRemote("198.51.100.7:1")).Code
		}()
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[401] > DefaultIPFailures || got[401]+got[429] != n {
		t.Fatalf("%d parallel failures from one IP: %v; want at most %d × 401", n, got, DefaultIPFailures)
	}
}
