package auth

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/argon2"
)

// MinHashParams are the weakest argon2id parameters NewHasher accepts (OWASP's minimum:
// m=19 MiB, t=2, p=1). DefaultHashParams are what clawchat uses.
var (
	MinHashParams     = argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	DefaultHashParams = MinHashParams
)

// MaxPasswordBytes bounds the password length accepted anywhere (sign-in, CLI, environment), so a
// huge body cannot be fed to the hash.
const MaxPasswordBytes = 1024

// Hasher hashes and verifies passwords with argon2id. A semaphore bounds how many hashes run at
// once, so a flood of sign-in attempts costs at most concurrency × m of memory. It is safe for
// concurrent use.
type Hasher struct {
	params    argon2id.Params
	sem       chan struct{}
	dummy     string
	dummyRuns atomic.Int64 // verifications against the dummy hash; read by tests

	inFlight  atomic.Int64           // hashes holding a semaphore slot
	afterHash atomic.Pointer[func()] // SetAfterHash; nil → none
}

// NewHasher returns a Hasher with params (nil → DefaultHashParams) running at most concurrency
// hashes at once (≤ 0 → 2). Parameters weaker than MinHashParams are refused. It does no argon2id
// work: the dummy hash that makes unknown users cost the same time as known ones is a PHC string
// with the Hasher's parameters, a random salt and a random key (see newDummyHash), so NewHasher
// costs microseconds and nothing on the start-up path allocates argon2id memory.
func NewHasher(params *argon2id.Params, concurrency int) (*Hasher, error) {
	p := DefaultHashParams
	if params != nil {
		p = *params
	}
	if p.Memory < MinHashParams.Memory || p.Iterations < MinHashParams.Iterations || p.Parallelism < 1 ||
		p.SaltLength < 16 || p.KeyLength < 32 {
		return nil, errors.New("auth: argon2id parameters below m=19MiB,t=2,p=1")
	}
	return newHasher(p, concurrency)
}

func newHasher(p argon2id.Params, concurrency int) (*Hasher, error) {
	if concurrency <= 0 {
		concurrency = 2
	}
	h := &Hasher{params: p, sem: make(chan struct{}, concurrency)}
	h.dummy = newDummyHash(p)
	if _, _, _, err := argon2id.DecodeHash(h.dummy); err != nil {
		return nil, fmt.Errorf("auth: dummy hash: %w", err)
	}
	return h, nil
}

// newDummyHash returns an argon2id PHC string with parameters p, a random salt and a random key.
// Verifying a password against it costs exactly what verifying against a real hash with p costs
// (CheckHash derives the key with the salt and parameters of the string, then compares in
// constant time), and it never matches: the key is 256 random bits, not derived from anything.
// Deriving it from a random password with argon2id, as before, spent one full hash (≈ 50 ms of
// CPU and m of memory) at start-up for no added property.
func newDummyHash(p argon2id.Params) string {
	salt := make([]byte, p.SaltLength)
	key := make([]byte, p.KeyLength)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (it crashes the program instead)
	_, _ = rand.Read(key)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Iterations,
		p.Parallelism, base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// SetAfterHash registers fn (nil: none) to be called each time the Hasher becomes idle: when a
// hash or verification finishes and no other one holds a slot. argon2id allocates m (19 MiB) per
// hash, which the Go runtime keeps as freed heap until its scavenger returns it; fn is the place to
// return it to the OS after a burst (e.g. a rate-limited debug.FreeOSMemory). fn runs on the
// goroutine of the Hash/Verify/VerifyDummy call that finished last, after its slot was released
// and before that call returns, so it must be quick (hand heavy work to another goroutine). It may
// run concurrently with itself when hashes start and finish in quick succession. SetAfterHash is
// safe to call at any time, concurrently with hashing.
func (h *Hasher) SetAfterHash(fn func()) {
	if fn == nil {
		h.afterHash.Store(nil)
		return
	}
	h.afterHash.Store(&fn)
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		h.inFlight.Add(1)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("auth: waiting to hash: %w", ctx.Err())
	}
}

func (h *Hasher) release() {
	idle := h.inFlight.Add(-1) == 0
	<-h.sem
	if idle {
		if fn := h.afterHash.Load(); fn != nil {
			(*fn)()
		}
	}
}

// Hash returns the argon2id PHC string of password. It waits for a free slot or ctx.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	s, err := argon2id.CreateHash(password, &h.params)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return s, nil
}

// Verify reports whether password matches the PHC string hash, and whether the hash uses weaker
// parameters than the Hasher's (so the caller should store a fresh hash). An empty or malformed
// hash verifies against the dummy instead (same cost) and reports false. Errors only come from
// ctx; they never contain the password or the hash.
func (h *Hasher) Verify(ctx context.Context, password, hash string) (ok, rehash bool, err error) {
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	if hash == "" || len(password) > MaxPasswordBytes {
		h.verifyDummy(password)
		return false, false, nil
	}
	match, p, err := argon2id.CheckHash(password, hash)
	if err != nil {
		h.verifyDummy(password)
		return false, false, nil
	}
	weaker := p.Memory < h.params.Memory || p.Iterations < h.params.Iterations || p.KeyLength < h.params.KeyLength
	return match, match && weaker, nil
}

// VerifyDummy spends the same time as Verify does for a real account and always fails: it is run
// for unknown usernames so that timing does not reveal whether an account exists.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	h.verifyDummy(password)
	return nil
}

func (h *Hasher) verifyDummy(password string) {
	h.dummyRuns.Add(1)
	if len(password) > MaxPasswordBytes {
		password = password[:MaxPasswordBytes]
	}
	_, _ = argon2id.ComparePasswordAndHash(password, h.dummy)
}

// randomToken returns 32 random bytes, base64url without padding (43 characters).
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewAccountID returns a fresh opaque account id: 16 lower-case characters of [a-z2-7]
// (80 random bits), safe to embed in Gateway session keys.
func NewAccountID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// GeneratePassword returns a random password of 24 characters from an unambiguous alphabet
// (about 120 bits).
func GeneratePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b [24]byte
	out := make([]byte, len(b))
	_, _ = rand.Read(b[:])
	for i := range b {
		out[i] = alphabet[int(b[i])%len(alphabet)] // slight bias is irrelevant at 24 characters
	}
	return string(out)
}

// NormalizeUsername folds a login name for storage and lookup: trimmed and lower-cased.
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidUsername reports whether a normalized name is acceptable: 1–64 characters of
// [a-z0-9._@+-], starting with a letter or digit.
func ValidUsername(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && strings.ContainsRune("._@+-", c):
		default:
			return false
		}
	}
	return true
}
