package auth

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alexedwards/argon2id"
)

// The dummy hash carries the Hasher's parameters (so verifying against it costs what a real
// verification costs), a fresh random salt and key each time, and never matches.
func TestDummyHashShape(t *testing.T) {
	h1, err := NewHasher(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, salt, key, err := argon2id.DecodeHash(h1.dummy)
	if err != nil {
		t.Fatal(err)
	}
	if *p != DefaultHashParams || len(salt) != int(DefaultHashParams.SaltLength) || len(key) != int(DefaultHashParams.KeyLength) {
		t.Fatalf("dummy params %+v, salt %d bytes, key %d bytes", *p, len(salt), len(key))
	}
	h2, err := NewHasher(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if h1.dummy == h2.dummy {
		t.Fatal("two hashers share a dummy hash")
	}
	f, err := newHasher(fastParams, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p, _, _, _ := argon2id.DecodeHash(f.dummy); p == nil || *p != fastParams {
		t.Fatalf("dummy does not use the hasher's parameters: %+v", p)
	}
	for _, pw := range []string{"", "wrong", "correct horse battery"} {
		if ok, err := argon2id.ComparePasswordAndHash(pw, f.dummy); ok || err != nil {
			t.Fatalf("dummy verification of %q: %v %v", pw, ok, err)
		}
	}
}

// NewHasher is off the start-up path's argon2id cost: it allocates nothing near m (19 MiB), where
// deriving the dummy with argon2id allocated all of it.
func TestNewHasherDoesNoArgon2Work(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 3 {
		if _, err := NewHasher(nil, 2); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("NewHasher allocated %d bytes for 3 hashers (argon2id work on the start-up path?)", got)
	}
	// The first VerifyDummy pays one argon2id derivation (m of memory), like a real Verify.
	h, _ := NewHasher(nil, 1)
	runtime.ReadMemStats(&before)
	if err := h.VerifyDummy(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got < uint64(DefaultHashParams.Memory)*1024 {
		t.Fatalf("VerifyDummy allocated only %d bytes: it did not run argon2id", got)
	}
}

func TestAfterHashRunsWhenIdle(t *testing.T) {
	h, err := newHasher(fastParams, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hash, _ := h.Hash(ctx, "pw") // no hook yet
	var calls atomic.Int64
	h.SetAfterHash(func() { calls.Add(1) })
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Verify(ctx, "pw", hash); err != nil {
		t.Fatal(err)
	}
	if err := h.VerifyDummy(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("after Hash, Verify, VerifyDummy: %d calls, want 3", got)
	}

	// While another hash holds a slot, finishing one does not make the hasher idle.
	if err := h.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = h.Hash(ctx, "pw") })
	wg.Wait()
	if got := calls.Load(); got != 3 {
		t.Fatalf("hook ran while a slot was still held (%d calls)", got)
	}
	h.release()
	if got := calls.Load(); got != 4 {
		t.Fatalf("hook did not run when the last slot was released (%d calls)", got)
	}

	// A waiter that gives up never held a slot and does not call the hook.
	h.sem <- struct{}{}
	h.sem <- struct{}{}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Hash(cctx, "pw"); err == nil {
		t.Fatal("Hash with no free slot and a cancelled context succeeded")
	}
	<-h.sem
	<-h.sem
	if got := calls.Load(); got != 4 {
		t.Fatalf("cancelled wait ran the hook (%d calls)", got)
	}

	h.SetAfterHash(nil)
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 4 {
		t.Fatalf("hook ran after SetAfterHash(nil) (%d calls)", got)
	}
}

// BenchmarkNewHasher measures what the Hasher costs on the start-up path; BenchmarkNewHasherOld
// is the previous construction (the dummy derived with argon2id) as a baseline.
func BenchmarkNewHasher(b *testing.B) {
	for b.Loop() {
		if _, err := NewHasher(nil, 2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewHasherOld(b *testing.B) {
	for b.Loop() {
		if _, err := argon2id.CreateHash(randomToken(), &DefaultHashParams); err != nil {
			b.Fatal(err)
		}
	}
}
