package ordered

import (
	"slices"
	"sync"
	"testing"
)

func TestSlowKeyKeepsOrderAndOthersFlow(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	add := func(s string) func() {
		return func() {
			mu.Lock()
			got = append(got, s)
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	q := New(Config{
		Routable: func(key, _ string) bool { return key != "slow" },
		Go: func(f func()) {
			wg.Add(1)
			go func() { defer wg.Done(); <-release; f() }()
		},
	})
	detached := 0
	q.Do("slow", "", add("s1"), func() { detached++ })
	q.Do("fast", "", add("f1"), func() { t.Error("a routable event was detached") })
	q.Do("slow", "", add("s2"), func() { detached++ })
	q.Do("fast", "", add("f2"), nil)
	mu.Lock()
	if !slices.Equal(got, []string{"f1", "f2"}) {
		t.Fatalf("fast key waited on the slow one: %v", got)
	}
	mu.Unlock()
	close(release)
	q.Wait()
	wg.Wait()
	if !slices.Equal(got, []string{"f1", "f2", "s1", "s2"}) || detached != 2 {
		t.Fatalf("got %v, detached %d", got, detached)
	}
}
