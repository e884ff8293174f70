package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/websec"
)

// pendingTTL is how long a started OIDC sign-in may take at the IdP.
const pendingTTL = 10 * time.Minute

// PendingLogin is the server-side state of one OIDC sign-in between the redirect to the IdP and
// the callback. It holds secrets (nonce, PKCE verifier) and is never logged or sent to a client.
type PendingLogin struct {
	Nonce    string
	Verifier string    // PKCE code verifier
	Next     string    // same-site path to land on afterwards (already SafeNext)
	Binding  string    // SHA-256 hex of the pre-login cookie that must come back with the callback
	Expires  time.Time // absolute
}

// PendingStore keeps PendingLogins keyed by the OAuth state. TakePending is single-use: it
// removes the entry and returns it, or an error wrapping chat.ErrNotFound when the state is
// unknown, already used or expired. Implementations are safe for concurrent use.
type PendingStore interface {
	PutPending(ctx context.Context, state string, p PendingLogin) error
	TakePending(ctx context.Context, state string) (PendingLogin, error)
}

// MemoryPending is the in-process PendingStore (bounded to 10 000 entries; expired ones are
// swept on insert). With several instances behind a non-sticky load balancer use RedisPending.
type MemoryPending struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]PendingLogin
}

// NewMemoryPending returns an empty MemoryPending using the clock now (time.Now when nil).
func NewMemoryPending(now func() time.Time) *MemoryPending {
	if now == nil {
		now = time.Now
	}
	return &MemoryPending{now: now, m: map[string]PendingLogin{}}
}

// PutPending stores p under state.
func (m *MemoryPending) PutPending(_ context.Context, state string, p PendingLogin) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) >= 1000 {
		now := m.now()
		for k, v := range m.m {
			if !now.Before(v.Expires) {
				delete(m.m, k)
			}
		}
		if len(m.m) >= 10_000 {
			return errors.New("auth: too many pending sign-ins")
		}
	}
	m.m[state] = p
	return nil
}

// TakePending removes and returns the entry for state.
func (m *MemoryPending) TakePending(_ context.Context, state string) (PendingLogin, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.m[state]
	delete(m.m, state)
	if !ok || !m.now().Before(p.Expires) {
		return PendingLogin{}, fmt.Errorf("auth: pending sign-in: %w", chat.ErrNotFound)
	}
	return p, nil
}

type oidcClient struct {
	cfg        OIDCConfig
	hc         *http.Client
	provider   *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	oauth      oauth2.Config
	pending    PendingStore
	endSession string
	postLogout string
}

func newOIDCClient(ctx context.Context, cfg OIDCConfig, hc *http.Client, pending PendingStore, now func() time.Time) (*oidcClient, error) {
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, hc), 20*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("auth: OIDC discovery failed for CLAWCHAT_OIDC_ISSUER=%q (is the issuer URL right and reachable from this server?): %w", cfg.Issuer, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&extra); err != nil {
		return nil, fmt.Errorf("auth: OIDC discovery document of CLAWCHAT_OIDC_ISSUER=%q: %w", cfg.Issuer, err)
	}
	post := cfg.PostLogoutRedirectURL
	if post == "" {
		u, _ := url.Parse(cfg.RedirectURL)
		post = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}).String()
	}
	return &oidcClient{
		cfg:      cfg,
		hc:       hc,
		provider: p,
		verifier: p.VerifierContext(oidc.ClientContext(context.Background(), hc), &oidc.Config{ClientID: cfg.ClientID, Now: now}),
		oauth: oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: cfg.RedirectURL, Scopes: cfg.Scopes,
		},
		pending:    pending,
		endSession: extra.EndSession,
		postLogout: post,
	}, nil
}

func (o *oidcClient) endSessionURL(idToken string) string {
	if o.endSession == "" {
		return ""
	}
	u, err := url.Parse(o.endSession)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("id_token_hint", idToken)
	q.Set("post_logout_redirect_uri", o.postLogout)
	q.Set("client_id", o.cfg.ClientID)
	u.RawQuery = q.Encode()
	return u.String()
}

// OIDCLogin handles GET /auth/oidc/login[?next=/path]: it records state, nonce and a PKCE
// verifier server-side, binds them to a short-lived pre-login cookie and redirects to the IdP.
func (s *Service) OIDCLogin(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		websec.WriteError(w, http.StatusNotFound, "not_found", "single sign-on is not configured")
		return
	}
	state, nonce, binding := randomToken(), randomToken(), randomToken()
	verifier := oauth2.GenerateVerifier()
	p := PendingLogin{Nonce: nonce, Verifier: verifier, Next: SafeNext(r.URL.Query().Get("next")),
		Binding: hashToken(binding), Expires: s.now().Add(pendingTTL)}
	if err := s.oidc.pending.PutPending(r.Context(), state, p); err != nil {
		s.log.Error("auth: start OIDC sign-in", "err", err)
		websec.WriteError(w, http.StatusServiceUnavailable, "internal", "single sign-on is busy, try again")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: binding, Path: "/auth/oidc", HttpOnly: true,
		Secure: !s.cfg.CookieInsecure, SameSite: http.SameSiteLaxMode, MaxAge: int(pendingTTL / time.Second)})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.oidc.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// oidcClaims are the ID-token claims clawchat reads.
type oidcClaims struct {
	Subject       string
	Email         string
	EmailVerified bool
	Username      string
	Name          string
	Groups        []string
}

// OIDCCallback handles GET /auth/oidc/callback. On success it links or provisions the account
// (by issuer+subject, never by e-mail), starts a session and answers 303 to the pending next path.
// Every failure answers 303 to /?auth_error=<code> (oidc_denied, oidc_state, oidc_failed,
// not_allowed) with no detail a user could abuse; details go to the log without secrets.
func (s *Service) OIDCCallback(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		websec.WriteError(w, http.StatusNotFound, "not_found", "single sign-on is not configured")
		return
	}
	ctx := r.Context()
	ip := websec.ClientIP(r, s.cfg.TrustedProxies).String()
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/auth/oidc", HttpOnly: true,
		Secure: !s.cfg.CookieInsecure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	fail := func(code, reason string) {
		s.audit(ctx, chat.AuditEntry{Action: "login.failure", IP: ip, Detail: "oidc: " + reason})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/?auth_error="+code, http.StatusSeeOther)
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		fail("oidc_denied", "idp error "+truncate(sanitizeLog(e), 64))
		return
	}
	state := q.Get("state")
	if state == "" || len(state) > 128 {
		fail("oidc_state", "missing state")
		return
	}
	p, err := s.oidc.pending.TakePending(ctx, state) // consumed whatever happens next
	if err != nil {
		fail("oidc_state", "unknown or used state")
		return
	}
	c, err := r.Cookie(oidcCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(hashToken(c.Value)), []byte(p.Binding)) != 1 {
		fail("oidc_state", "state not bound to this browser")
		return
	}
	code := q.Get("code")
	if code == "" {
		fail("oidc_failed", "missing code")
		return
	}
	// RFC 9207: a provider that names itself in the response must be the configured one, which
	// defeats mix-up attacks between providers.
	if iss := q.Get("iss"); iss != "" && strings.TrimRight(iss, "/") != strings.TrimRight(s.cfg.OIDC.Issuer, "/") {
		fail("oidc_failed", "authorization response from another issuer")
		return
	}
	hctx := oidc.ClientContext(ctx, s.oidc.hc)
	tok, err := s.oidc.oauth.Exchange(hctx, code, oauth2.VerifierOption(p.Verifier))
	if err != nil {
		s.log.Warn("auth: OIDC code exchange failed", "err", oauthErrSummary(err))
		fail("oidc_failed", "code exchange")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		fail("oidc_failed", "no id_token")
		return
	}
	idt, err := s.oidc.verifier.Verify(hctx, raw)
	if err != nil {
		s.log.Warn("auth: OIDC ID token rejected", "err", verifyErrSummary(err))
		fail("oidc_failed", "id token rejected")
		return
	}
	if idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(p.Nonce)) != 1 {
		fail("oidc_failed", "nonce mismatch")
		return
	}
	cl, err := s.oidc.claims(idt)
	if err != nil {
		fail("oidc_failed", "claims")
		return
	}
	if !s.oidc.allowed(cl) {
		fail("not_allowed", "not in allowlist sub="+truncate(cl.Subject, 64))
		return
	}
	acc, err := s.oidcAccount(ctx, idt.Issuer, cl, ip)
	if err != nil {
		if errors.Is(err, chat.ErrForbidden) {
			fail("not_allowed", "account disabled")
			return
		}
		s.log.Error("auth: OIDC account", "err", err)
		fail("oidc_failed", "account")
		return
	}
	if err := s.startSession(ctx, w, r, acc, raw); err != nil {
		s.log.Error("auth: OIDC sign-in", "err", err)
		fail("oidc_failed", "session")
		return
	}
	s.audit(ctx, chat.AuditEntry{Action: "login.success", Actor: acc.ID, Target: acc.Username, IP: ip, Detail: "oidc"})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, SafeNext(p.Next), http.StatusSeeOther)
}

func (o *oidcClient) claims(idt *oidc.IDToken) (oidcClaims, error) {
	var m map[string]json.RawMessage
	if err := idt.Claims(&m); err != nil {
		return oidcClaims{}, fmt.Errorf("auth: id token claims: %w", err)
	}
	str := func(k string) string {
		var v string
		_ = json.Unmarshal(m[k], &v)
		return v
	}
	cl := oidcClaims{Subject: idt.Subject, Email: strings.ToLower(strings.TrimSpace(str("email"))), Name: str("name")}
	var b bool
	if json.Unmarshal(m["email_verified"], &b) == nil {
		cl.EmailVerified = b
	} else {
		cl.EmailVerified = str("email_verified") == "true" // some IdPs send a string
	}
	uc := o.cfg.UsernameClaim
	if uc == "" {
		uc = "preferred_username"
	}
	cl.Username = NormalizeUsername(str(uc))
	if raw, ok := m[o.cfg.GroupsClaim]; ok {
		var gs []string
		if json.Unmarshal(raw, &gs) != nil {
			var g string
			if json.Unmarshal(raw, &g) == nil && g != "" {
				gs = []string{g}
			}
		}
		cl.Groups = gs
	}
	return cl, nil
}

// allowed applies the allowlists; with none configured nobody is allowed. Only the subject, a
// verified e-mail and groups count; never a name claim.
func (o *oidcClient) allowed(cl oidcClaims) bool {
	if cl.Subject != "" && slices.Contains(o.cfg.AllowedSubjects, cl.Subject) {
		return true
	}
	if cl.Email != "" && cl.EmailVerified {
		for _, e := range o.cfg.AllowedEmails {
			e = strings.ToLower(strings.TrimSpace(e))
			if strings.HasPrefix(e, "@") && len(e) > 1 {
				if strings.HasSuffix(cl.Email, e) {
					return true
				}
			} else if e == cl.Email {
				return true
			}
		}
	}
	for _, g := range cl.Groups {
		if slices.Contains(o.cfg.AllowedGroups, g) {
			return true
		}
	}
	return false
}

// oidcRole maps claims to a role: owner when the subject is in OwnerSubjects, the verified e-mail
// in OwnerEmails or a group in OwnerGroups. CLAWCHAT_OWNERS (usernames) is deliberately not
// consulted: preferred_username is not unique and often user-editable.
func (s *Service) oidcRole(cl oidcClaims) chat.Role {
	o := s.cfg.OIDC
	if cl.Subject != "" && slices.Contains(o.OwnerSubjects, cl.Subject) {
		return chat.RoleOwner
	}
	if cl.Email != "" && cl.EmailVerified {
		for _, e := range o.OwnerEmails {
			if strings.ToLower(strings.TrimSpace(e)) == cl.Email {
				return chat.RoleOwner
			}
		}
	}
	for _, g := range cl.Groups {
		if slices.Contains(o.OwnerGroups, g) {
			return chat.RoleOwner
		}
	}
	return chat.RoleMember
}

// oidcAccount returns the account linked to issuer+subject, creating it on first sign-in under a
// free username (a clash with an existing local account never links to it). Disabled accounts
// give an error wrapping chat.ErrForbidden.
func (s *Service) oidcAccount(ctx context.Context, issuer string, cl oidcClaims, ip string) (chat.Account, error) {
	now := s.now().UTC()
	role := s.oidcRole(cl)
	acc, err := s.store.AccountByOIDC(ctx, issuer, cl.Subject)
	if err == nil {
		if acc.Disabled {
			return chat.Account{}, fmt.Errorf("auth: account disabled: %w", chat.ErrForbidden)
		}
		changed := false
		if s.cfg.OIDC.ownerRules() || role == chat.RoleOwner {
			if acc.Role != role {
				s.audit(ctx, chat.AuditEntry{Action: "role.change", Actor: acc.ID, Target: acc.Username, IP: ip,
					Detail: fmt.Sprintf("oidc claims: %s -> %s", acc.Role, role)})
				acc.Role, changed = role, true
			}
		}
		if cl.Email != "" && cl.EmailVerified && acc.Email != cl.Email { // only addresses the IdP vouches for
			acc.Email, changed = cl.Email, true
		}
		if cl.Name != "" && acc.DisplayName != cl.Name {
			acc.DisplayName, changed = cl.Name, true
		}
		if changed {
			acc.UpdatedAt = now
			if err := s.store.UpdateAccount(ctx, acc); err != nil {
				return chat.Account{}, fmt.Errorf("auth: update OIDC account: %w", err)
			}
		}
		return acc, nil
	}
	if !errors.Is(err, chat.ErrNotFound) {
		return chat.Account{}, fmt.Errorf("auth: look up OIDC account: %w", err)
	}
	base := cl.Username
	if base == "" && cl.Email != "" && cl.EmailVerified {
		base = cl.Email
	}
	base = sanitizeUsername(base)
	if slices.Contains(s.cfg.Owners, base) {
		// A username listed in CLAWCHAT_OWNERS belongs to a local account, existing or to come:
		// an IdP user who picks it gets a suffixed one.
		base = strings.Trim(truncate(base, 50)+"-"+NewAccountID()[:6], "-")
	}
	email := ""
	if cl.EmailVerified {
		email = cl.Email
	}
	acc = chat.Account{ID: NewAccountID(), DisplayName: cl.Name, Role: role, OIDCIssuer: issuer, OIDCSubject: cl.Subject,
		Email: email, CreatedAt: now, UpdatedAt: now}
	for i := range 5 {
		acc.Username = base
		if i > 0 || base == "" {
			acc.Username = strings.Trim(truncate(base, 50)+"-"+NewAccountID()[:6], "-")
		}
		err = s.store.CreateAccount(ctx, acc)
		if err == nil {
			s.audit(ctx, chat.AuditEntry{Action: "user.provision", Actor: acc.ID, Target: acc.Username, IP: ip,
				Detail: "oidc role=" + string(acc.Role)})
			return acc, nil
		}
		if !errors.Is(err, chat.ErrConflict) {
			return chat.Account{}, fmt.Errorf("auth: create OIDC account: %w", err)
		}
		if a, err2 := s.store.AccountByOIDC(ctx, issuer, cl.Subject); err2 == nil { // lost a race with ourselves
			return a, nil
		}
	}
	return chat.Account{}, fmt.Errorf("auth: create OIDC account: %w", err)
}

func sanitizeUsername(s string) string {
	var b strings.Builder
	for _, c := range NormalizeUsername(s) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strings.ContainsRune("._@+-", c) {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.TrimLeft(b.String(), "._@+-")
	return truncate(out, 64)
}

func sanitizeLog(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// oauthErrSummary describes a token-endpoint failure without the response body (which could echo
// a code or secret).
func oauthErrSummary(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		s := "token endpoint error"
		if re.ErrorCode != "" {
			s += " " + truncate(sanitizeLog(re.ErrorCode), 64)
		}
		if re.Response != nil {
			s += fmt.Sprintf(" (HTTP %d)", re.Response.StatusCode)
		}
		return s
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "token endpoint unreachable: " + ue.Err.Error()
	}
	return "token exchange failed"
}

// verifyErrSummary keeps go-oidc's reason (issuer/audience/expiry/signature) but never the token.
func verifyErrSummary(err error) string {
	var exp *oidc.TokenExpiredError
	if errors.As(err, &exp) {
		return "id token expired"
	}
	return truncate(sanitizeLog(err.Error()), 200)
}
