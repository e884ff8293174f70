package embed

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/clawchat/clawchat/internal/store"
)

const testAud = "https://chat.example.com"

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

type memReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
	now  func() time.Time
}

func (m *memReplay) ClaimOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if exp, ok := m.seen[key]; ok && m.now().Before(exp) {
		return false, nil
	}
	m.seen[key] = m.now().Add(ttl)
	return true, nil
}

type fixture struct {
	edPriv   ed25519.PrivateKey
	edPub    ed25519.PublicKey
	ecPriv   *ecdsa.PrivateKey
	secret   []byte
	now      time.Time
	verifier *Verifier
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{now: t0, secret: []byte("0123456789abcdef0123456789abcdef-shared")}
	var err error
	f.edPub, f.edPriv, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.ecPriv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return f.now }
	apps := []*App{
		{ID: "compose", Keys: []jose.JSONWebKey{{Key: f.edPub, KeyID: "ed1"}, {Key: &f.ecPriv.PublicKey, KeyID: "ec1"}}},
		{ID: "wiki", Secret: f.secret},
	}
	f.verifier, err = NewVerifier(VerifierConfig{Apps: apps, Audience: []string{testAud}, Replay: &memReplay{seen: map[string]time.Time{}, now: now}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func claimsFor(app, jti string, exp time.Time) Claims {
	return Claims{
		Claims: jwt.Claims{Issuer: app, Subject: "vlad", Audience: jwt.Audience{testAud}, Expiry: jwt.NewNumericDate(exp),
			IssuedAt: jwt.NewNumericDate(exp.Add(-5 * time.Minute)), ID: jti},
		Name: "Vlad", Contexts: []ContextGrant{{ID: "doc:abc123", Role: "editor"}},
	}
}

func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, c any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func reason(err error) string {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	if err == nil {
		return "accepted"
	}
	return "error: " + err.Error()
}

func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	f := newFixture(t)
	exp := t0.Add(5 * time.Minute)
	for name, tok := range map[string]string{
		"EdDSA": sign(t, jose.EdDSA, f.edPriv, "ed1", claimsFor("compose", "jti-eddsa-1", exp)),
		"ES256": sign(t, jose.ES256, f.ecPriv, "ec1", claimsFor("compose", "jti-es256-1", exp)),
		"HS256": sign(t, jose.HS256, f.secret, "", claimsFor("wiki", "jti-hs256-1", exp)),
	} {
		c, err := f.verifier.Verify(context.Background(), tok)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if c.Subject != "vlad" || c.Name != "Vlad" || len(c.Contexts) != 1 || c.Contexts[0].Role != "editor" {
			t.Errorf("%s: claims = %+v", name, c)
		}
	}
}

func TestVerifyRefusals(t *testing.T) {
	f := newFixture(t)
	exp := t0.Add(5 * time.Minute)
	good := func(jti string) Claims { return claimsFor("compose", jti, exp) }
	otherPub, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	_ = otherPub

	expired := good("jti-expired-1")
	expired.Expiry = jwt.NewNumericDate(t0.Add(-2 * time.Minute))
	expired.IssuedAt = jwt.NewNumericDate(t0.Add(-7 * time.Minute))
	wrongAud := good("jti-wrongaud-1")
	wrongAud.Audience = jwt.Audience{"https://other.example.com"}
	tooLong := good("jti-toolong-1")
	tooLong.Expiry = jwt.NewNumericDate(t0.Add(2 * time.Hour))
	unknown := good("jti-unknown-1")
	unknown.Issuer = "nope"
	badRole := good("jti-badrole-1")
	badRole.Contexts = []ContextGrant{{ID: "doc:1", Role: "owner"}}
	noJTI := good("")

	// alg:none: a header {"alg":"none"} and an empty signature.
	payload, _ := json.Marshal(good("jti-none-1"))
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."

	// Tampered: a valid token whose payload is swapped for another user's, signature kept.
	valid := sign(t, jose.EdDSA, f.edPriv, "ed1", good("jti-tamper-1"))
	parts := strings.Split(valid, ".")
	evil := good("jti-tamper-1")
	evil.Subject = "admin"
	evilPayload, _ := json.Marshal(evil)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(evilPayload) + "." + parts[2]

	// Algorithm confusion: HS256 keyed with the app's public key bytes.
	pubDER, _ := x509.MarshalPKIXPublicKey(f.edPub)
	confused := sign(t, jose.HS256, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), "ed1", good("jti-confused-1"))

	cases := []struct {
		name, tok, want string
	}{
		{"expired", sign(t, jose.EdDSA, f.edPriv, "ed1", expired), ReasonExpired},
		{"wrong audience", sign(t, jose.EdDSA, f.edPriv, "ed1", wrongAud), ReasonAudience},
		{"wrong key", sign(t, jose.EdDSA, otherPriv, "ed1", good("jti-wrongkey-1")), ReasonSignature},
		{"wrong key, no kid", sign(t, jose.EdDSA, otherPriv, "", good("jti-wrongkey-2")), ReasonSignature},
		{"alg none", none, ReasonAlgorithm},
		{"tampered", tampered, ReasonSignature},
		{"HS256 with the public key", confused, ReasonAlgorithm},
		{"HS256 with the wrong secret", sign(t, jose.HS256, []byte("another-secret-another-secret-xx"), "", claimsFor("wiki", "jti-wrongsecret", exp)), ReasonSignature},
		{"lifetime too long", sign(t, jose.EdDSA, f.edPriv, "ed1", tooLong), ReasonLifetime},
		{"unknown app", sign(t, jose.EdDSA, f.edPriv, "ed1", unknown), ReasonUnknownApp},
		{"bad role", sign(t, jose.EdDSA, f.edPriv, "ed1", badRole), ReasonClaims},
		{"no jti", sign(t, jose.EdDSA, f.edPriv, "ed1", noJTI), ReasonClaims},
		{"not a JWT", "hello", ReasonMalformed},
		{"garbage segments", "a.b.c", ReasonMalformed},
	}
	for _, c := range cases {
		_, err := f.verifier.Verify(context.Background(), c.tok)
		if got := reason(err); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
		if err != nil && strings.Contains(err.Error(), c.tok) && len(c.tok) > 10 {
			t.Errorf("%s: the error echoes the token", c.name)
		}
	}
}

func TestVerifyRefusesReplayUntilExpiry(t *testing.T) {
	f := newFixture(t)
	tok := sign(t, jose.EdDSA, f.edPriv, "ed1", claimsFor("compose", "jti-replay-1", t0.Add(5*time.Minute)))
	if _, err := f.verifier.Verify(context.Background(), tok); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if got := reason(func() error { _, err := f.verifier.Verify(context.Background(), tok); return err }()); got != ReasonReplayed {
		t.Fatalf("second use: %s, want %s", got, ReasonReplayed)
	}
	// The same jti from another app is another token.
	other := sign(t, jose.HS256, f.secret, "", claimsFor("wiki", "jti-replay-1", t0.Add(5*time.Minute)))
	if _, err := f.verifier.Verify(context.Background(), other); err != nil {
		t.Fatalf("same jti, other app: %v", err)
	}
	// After exp (and the leeway) the token is refused as expired, never accepted again.
	f.now = t0.Add(10 * time.Minute)
	if got := reason(func() error { _, err := f.verifier.Verify(context.Background(), tok); return err }()); got != ReasonExpired {
		t.Fatalf("after expiry: %s, want %s", got, ReasonExpired)
	}
}

// Two verifiers sharing one database are two instances: a token used on one is refused on the
// other (store.ClaimOnce; PostgreSQL in a real multi-instance deployment).
func TestVerifyReplayAcrossInstances(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := newFixture(t)
	apps := []*App{{ID: "compose", Keys: []jose.JSONWebKey{{Key: f.edPub}}}}
	a, _ := NewVerifier(VerifierConfig{Apps: apps, Audience: []string{testAud}, Replay: db, Now: func() time.Time { return t0 }})
	b, _ := NewVerifier(VerifierConfig{Apps: apps, Audience: []string{testAud}, Replay: db, Now: func() time.Time { return t0 }})
	// store.ClaimOnce uses its own clock (real time), so exp must be in the real future.
	tok := sign(t, jose.EdDSA, f.edPriv, "", claimsFor("compose", "jti-instances-1", t0.Add(5*time.Minute)))
	if _, err := a.Verify(context.Background(), tok); err != nil {
		t.Fatalf("instance a: %v", err)
	}
	if _, err := b.Verify(context.Background(), tok); reason(err) != ReasonReplayed {
		t.Fatalf("instance b: %s, want %s", reason(err), ReasonReplayed)
	}
}

func TestVerifyJWKS(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: f.edPub, KeyID: "k1", Use: "sig", Algorithm: "EdDSA"}}}
	fetches := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer srv.Close()
	now := t0
	clock := func() time.Time { return now }
	app := &App{ID: "compose", JWKSURL: srv.URL + "/jwks.json"}
	if err := app.UseJWKS(srv.Client(), clock, time.Hour); err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(VerifierConfig{Apps: []*App{app}, Audience: []string{testAud}, Replay: &memReplay{seen: map[string]time.Time{}, now: clock}, Now: clock})
	if _, err := v.Verify(context.Background(), sign(t, jose.EdDSA, f.edPriv, "k1", claimsFor("compose", "jti-jwks-1", t0.Add(5*time.Minute)))); err != nil {
		t.Fatalf("k1: %v", err)
	}
	if _, err := v.Verify(context.Background(), sign(t, jose.EdDSA, f.edPriv, "k1", claimsFor("compose", "jti-jwks-2", t0.Add(5*time.Minute)))); err != nil {
		t.Fatalf("k1 again: %v", err)
	}
	if fetches != 1 {
		t.Fatalf("fetches = %d, want 1 (cached)", fetches)
	}
	// Rotation: a new kid is fetched (once the minimum refresh interval passed).
	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	mu.Lock()
	set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub2, KeyID: "k2", Use: "sig"})
	mu.Unlock()
	now = t0.Add(time.Minute)
	if _, err := v.Verify(context.Background(), sign(t, jose.EdDSA, priv2, "k2", claimsFor("compose", "jti-jwks-3", now.Add(5*time.Minute)))); err != nil {
		t.Fatalf("k2 after rotation: %v", err)
	}
	if fetches != 2 {
		t.Fatalf("fetches = %d, want 2", fetches)
	}
}

func TestParseKeys(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	if keys, err := ParseKeys(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err != nil || len(keys) != 1 {
		t.Fatalf("PEM: %v %v", keys, err)
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	if _, err := ParseKeys(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})); err == nil || !strings.Contains(err.Error(), "never give clawchat a private key") {
		t.Fatalf("private PEM: %v", err)
	}
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: priv})
	if _, err := ParseKeys(jwk); err == nil {
		t.Fatal("private JWK accepted")
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "a"}}})
	if keys, err := ParseKeys(set); err != nil || keys[0].KeyID != "a" {
		t.Fatalf("JWKS: %v %v", keys, err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der384, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	if _, err := ParseKeys(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der384})); err == nil {
		t.Fatal("P-384 accepted")
	}
}
