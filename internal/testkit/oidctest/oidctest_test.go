package oidctest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const redirect = "http://127.0.0.1:1/cb" // never requested: Authorize stops at it

// rp is a minimal relying party built from go-oidc and x/oauth2, as clawchat's is.
type rp struct {
	p        *Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newRP(t *testing.T, p *Provider, clientID, secret string) *rp {
	t.Helper()
	op, err := oidc.NewProvider(t.Context(), p.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &rp{
		p: p,
		oauth: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: op.Endpoint(), RedirectURL: redirect,
			Scopes: []string{oidc.ScopeOpenID, "email", "profile", "groups"}},
		verifier: op.Verifier(&oidc.Config{ClientID: clientID}),
	}
}

// signIn runs one code flow for login and returns the verified ID token (or the error) and
// the nonce that was sent.
func (r *rp) signIn(t *testing.T, login string) (*oidc.IDToken, string, error) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	start := r.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	cb, err := r.p.Authorize(t.Context(), jar, start, login)
	if err != nil {
		t.Fatalf("authorize %s: %v", login, err)
	}
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != redirect {
		t.Fatalf("redirected to %s, want %s", cb, redirect)
	}
	q := cb.Query()
	if q.Get("state") != state || q.Get("code") == "" || q.Get("iss") != r.p.Issuer {
		t.Fatalf("callback query %v: want our state, a code and iss", q)
	}
	tok, err := r.oauth.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(t.Context(), raw)
	return idt, nonce, err
}

func TestProviderIssuesVerifiableTokensAndTampersOnRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node; skipped with -short")
	}
	p := Start(t, Options{
		Clients: []Client{{ID: "app", Secret: "app-secret", RedirectURIs: []string{redirect}}},
		Accounts: []Account{
			{Subject: "alice", Email: "alice@example.com", EmailVerified: true, Username: "alice", Name: "Alice A", Groups: []string{"staff", "admins"}},
			{Subject: "aud", Tamper: Tamper{Audience: "someone-else"}},
			{Subject: "iss", Tamper: Tamper{Issuer: "http://127.0.0.1:1"}},
			{Subject: "old", Tamper: Tamper{ExpiredBy: 10 * time.Minute}},
			{Subject: "replay", Tamper: Tamper{ReplayNonce: true}},
		},
	})
	r := newRP(t, p, "app", "app-secret")

	idt, nonce, err := r.signIn(t, "alice")
	if err != nil {
		t.Fatalf("verify alice's ID token: %v", err)
	}
	var cl struct {
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		Username      string   `json:"preferred_username"`
		Name          string   `json:"name"`
		Groups        []string `json:"groups"`
	}
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != "alice" || idt.Nonce != nonce || cl.Email != "alice@example.com" || !cl.EmailVerified ||
		cl.Username != "alice" || cl.Name != "Alice A" || !slices.Equal(cl.Groups, []string{"staff", "admins"}) {
		t.Errorf("alice's ID token: sub %q nonce ok %v claims %+v", idt.Subject, idt.Nonce == nonce, cl)
	}
	if d := time.Until(idt.Expiry); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("ID token lifetime %s, want the 10 minute default", d)
	}

	if _, _, err := r.signIn(t, "aud"); err == nil || !strings.Contains(err.Error(), "audience") {
		t.Errorf("wrong-audience token: verify error %v, want an audience error", err)
	}
	if _, _, err := r.signIn(t, "iss"); err == nil || !strings.Contains(err.Error(), "issued by a different provider") {
		t.Errorf("wrong-issuer token: verify error %v, want an issuer error", err)
	}
	var exp *oidc.TokenExpiredError
	if _, _, err := r.signIn(t, "old"); !errors.As(err, &exp) || time.Since(exp.Expiry) < 9*time.Minute {
		t.Errorf("expired token: verify error %v, want expired 10 minutes ago", err)
	}

	first, nonce1, err := r.signIn(t, "replay")
	if err != nil || first.Nonce != nonce1 {
		t.Fatalf("replay account, first sign-in: err %v, nonce kept %v", err, err == nil && first.Nonce == nonce1)
	}
	second, nonce2, err := r.signIn(t, "replay")
	if err != nil {
		t.Fatalf("replay account, second sign-in: signature must stay valid: %v", err)
	}
	if second.Nonce != nonce1 || nonce1 == nonce2 {
		t.Errorf("second token's nonce: got the first one %v, want the first sign-in's nonce", second.Nonce == nonce1)
	}
}

func TestAuthorizeUnknownLoginFails(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node; skipped with -short")
	}
	p := Start(t, Options{
		Clients:  []Client{{ID: "app", Secret: "app-secret", RedirectURIs: []string{redirect}}},
		Accounts: []Account{{Subject: "alice"}},
	})
	r := newRP(t, p, "app", "app-secret")
	jar, _ := cookiejar.New(nil)
	start := r.oauth.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if cb, err := p.Authorize(ctx, jar, start, "mallory"); err == nil && cb.Query().Get("code") != "" {
		t.Errorf("an unknown login got a code: %s", cb)
	}
}

func TestStopEndsTheProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node; skipped with -short")
	}
	p, err := StartContext(t.Context(), Options{
		Clients:  []Client{{ID: "app", Secret: "s", RedirectURIs: []string{redirect}}},
		Accounts: []Account{{Subject: "alice"}},
		Progress: tWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(p.Issuer + "/.well-known/openid-configuration"); err == nil {
		t.Error("provider still answers after Stop")
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// A browser under test must never leave loopback: the provider's own pages (login, error,
// logout) reference no other host and forbid sub-resources by CSP.
func TestPagesStayOnLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node; skipped with -short")
	}
	p := Start(t, Options{
		Clients:  []Client{{ID: "app", Secret: "app-secret", RedirectURIs: []string{redirect}}},
		Accounts: []Account{{Subject: "alice"}},
	})
	r := newRP(t, p, "app", "app-secret")
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	pages := map[string]string{
		"login":  r.oauth.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())),
		"error":  p.Issuer + "/auth?client_id=unknown&response_type=code&scope=openid",
		"logout": p.Issuer + "/session/end",
	}
	reURL := regexp.MustCompile(`(?i)(?:https?:)?//[^\s"'()<>]+`)
	for name, u := range pages {
		res, err := hc.Get(u)
		if err != nil {
			t.Fatalf("%s page: %v", name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(res.Header.Get("Content-Type"), "html") || len(b) < 100 {
			t.Errorf("%s page: %s %q, want an HTML page", name, res.Header.Get("Content-Type"), b)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s page: CSP %q, want default-src 'none'", name, csp)
		}
		for _, m := range reURL.FindAllString(string(b), -1) {
			if !strings.HasPrefix(strings.TrimPrefix(strings.TrimPrefix(m, "http:"), "https:"), "//127.0.0.1:") {
				t.Errorf("%s page references %s", name, m)
			}
		}
	}
}

// IDTokenTTL sets the ID-token lifetime, and an authorization request without PKCE is refused.
func TestIDTokenTTLAndPKCERequired(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node; skipped with -short")
	}
	p := Start(t, Options{
		Clients:    []Client{{ID: "app", Secret: "app-secret", RedirectURIs: []string{redirect}}},
		Accounts:   []Account{{Subject: "alice"}},
		IDTokenTTL: time.Second,
	})
	r := newRP(t, p, "app", "app-secret")
	idt, _, err := r.signIn(t, "alice")
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if life := idt.Expiry.Sub(idt.IssuedAt); life != time.Second {
		t.Errorf("ID token lifetime %s, want 1s", life)
	}

	jar, _ := cookiejar.New(nil)
	cb, err := p.Authorize(t.Context(), jar, r.oauth.AuthCodeURL("s", oidc.Nonce("n")), "alice")
	if err != nil {
		t.Fatalf("authorize without PKCE: %v", err)
	}
	if q := cb.Query(); q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "PKCE") || q.Get("code") != "" {
		t.Errorf("authorization without PKCE answered %v, want error=invalid_request and no code", q)
	}
}
