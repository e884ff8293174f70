package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/clawchat/clawchat/internal/chat"
)

const (
	testClientID     = "clawchat-test"
	testClientSecret = "client-secret-DO-NOT-LOG-0123456789"
)

type codeInfo struct {
	nonce, challenge, method string
	claims                   map[string]any
}

// fakeIdP is an OpenID provider good enough for go-oidc: discovery, JWKS, a token endpoint that
// checks the PKCE verifier and client credentials, and ID tokens signed with RS256.
type fakeIdP struct {
	t     *testing.T
	srv   *httptest.Server
	key   *rsa.PrivateKey
	clock *fakeClock

	mu         sync.Mutex
	codes      map[string]codeInfo
	verifiers  []string
	tokenCalls int
	issued     []string
	// tweak may change the claims of the next token.
	tweak func(map[string]any)
}

func newFakeIdP(t *testing.T, clock *fakeClock) *fakeIdP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIdP{t: t, key: key, clock: clock, codes: map[string]codeInfo{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": f.srv.URL, "authorization_endpoint": f.srv.URL + "/authorize", "token_endpoint": f.srv.URL + "/token",
			"jwks_uri": f.srv.URL + "/jwks", "end_session_endpoint": f.srv.URL + "/logout",
			"id_token_signing_alg_values_supported": []string{"RS256"}, "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /token", f.token)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIdP) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenCalls++
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != testClientID || secret != testClientSecret {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	ci, ok := f.codes[r.PostForm.Get("code")]
	delete(f.codes, r.PostForm.Get("code"))
	v := r.PostForm.Get("code_verifier")
	f.verifiers = append(f.verifiers, v)
	sum := sha256.Sum256([]byte(v))
	if !ok || ci.method != "S256" || base64.RawURLEncoding.EncodeToString(sum[:]) != ci.challenge {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	now := f.clock.Now()
	claims := map[string]any{"iss": f.srv.URL, "aud": testClientID, "sub": "sub-alice", "iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "nonce": ci.nonce, "preferred_username": "alice",
		"email": "alice@example.com", "email_verified": true, "name": "Alice A."}
	for k, v := range ci.claims {
		claims[k] = v
	}
	if f.tweak != nil {
		f.tweak(claims)
	}
	raw := f.sign(claims)
	f.issued = append(f.issued, raw)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + randomToken(), "token_type": "Bearer", "expires_in": 300, "id_token": raw})
}

func (f *fakeIdP) sign(claims map[string]any) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: f.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		f.t.Fatal(err)
	}
	raw, _ := jws.CompactSerialize()
	return raw
}

func newOIDCEnv(t *testing.T, mod func(*OIDCConfig)) (*env, *fakeIdP) {
	clock := newClock()
	idp := newFakeIdP(t, clock)
	oc := OIDCConfig{Issuer: idp.srv.URL, ClientID: testClientID, ClientSecret: testClientSecret,
		RedirectURL: "http://localhost:8080/auth/oidc/callback", AllowedEmails: []string{"@example.com"},
		OwnerGroups: []string{"clawchat-owners"}}
	if mod != nil {
		mod(&oc)
	}
	e := newEnvClock(t, Config{OIDC: oc}, clock)
	return e, idp
}

// flow is one browser's OIDC sign-in attempt.
type flow struct {
	state, nonce, cookie string
	location             *url.URL
}

func (e *env) startOIDC(t *testing.T, next string) flow {
	t.Helper()
	w := e.do("GET", "/auth/oidc/login?next="+url.QueryEscape(next), nil, "")
	if w.Code != 302 {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	q := loc.Query()
	var fl flow
	fl.location, fl.state, fl.nonce = loc, q.Get("state"), q.Get("nonce")
	for _, c := range w.Result().Cookies() {
		if c.Name == oidcCookie {
			fl.cookie = c.Value
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/auth/oidc" || c.MaxAge <= 0 {
				t.Fatalf("pre-login cookie %+v", c)
			}
		}
	}
	if fl.state == "" || fl.nonce == "" || fl.cookie == "" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("client_id") != testClientID || q.Get("response_type") != "code" || !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("authorize URL %s cookie %q", loc, fl.cookie)
	}
	return fl
}

// authorize pretends the user signed in at the IdP: it issues a code bound to the flow's nonce
// and PKCE challenge.
func (f *fakeIdP) authorize(fl flow, claims map[string]any) string {
	code := "code-" + randomToken()
	q := fl.location.Query()
	f.mu.Lock()
	f.codes[code] = codeInfo{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"), claims: claims}
	f.mu.Unlock()
	return code
}

func (e *env) callback(state, code, cookie string) *httptest.ResponseRecorder {
	var opts []reqOpt
	if cookie != "" {
		opts = append(opts, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: oidcCookie, Value: cookie}) })
	}
	return e.do("GET", "/auth/oidc/callback?"+url.Values{"state": {state}, "code": {code}}.Encode(), nil, "", opts...)
}

func wantFail(t *testing.T, w *httptest.ResponseRecorder, code string) {
	t.Helper()
	if w.Code != 303 || w.Header().Get("Location") != "/?auth_error="+code {
		t.Fatalf("got %d %q, want failure %s", w.Code, w.Header().Get("Location"), code)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie && c.Value != "" {
			t.Fatal("failed OIDC sign-in set a session cookie")
		}
	}
}

func TestOIDCHappyPathAndPKCE(t *testing.T) {
	e, idp := newOIDCEnv(t, nil)
	fl := e.startOIDC(t, "/c/default")
	w := e.callback(fl.state, idp.authorize(fl, nil), fl.cookie)
	if w.Code != 303 || w.Header().Get("Location") != "/c/default" {
		t.Fatalf("callback %d %q", w.Code, w.Header().Get("Location"))
	}
	tok := sessionCookie(t, w).Value
	me := e.do("GET", "/api/me", nil, "", withCookie(tok))
	if me.Code != 200 || !strings.Contains(me.Body.String(), `"name":"Alice A.","role":"member"`) {
		t.Fatalf("me %d %s", me.Code, me.Body)
	}
	if len(idp.verifiers) != 1 || len(idp.verifiers[0]) < 43 {
		t.Fatalf("PKCE verifier not sent: %q", idp.verifiers)
	}
	acc, err := e.store.AccountByOIDC(context.Background(), idp.srv.URL, "sub-alice")
	if err != nil || acc.Username != "alice" || acc.Email != "alice@example.com" {
		t.Fatalf("account %+v %v", acc, err)
	}
	// Second sign-in: same account, no duplicate.
	fl = e.startOIDC(t, "")
	if w := e.callback(fl.state, idp.authorize(fl, nil), fl.cookie); w.Code != 303 || w.Header().Get("Location") != "/" {
		t.Fatalf("second sign-in %d %q", w.Code, w.Header().Get("Location"))
	}
	if n, _ := e.store.CountAccounts(context.Background()); n != 1 {
		t.Fatalf("%d accounts", n)
	}
	// Logout goes through the IdP's end_session_endpoint.
	w = e.do("POST", "/logout", nil, "", withCookie(tok))
	var resp struct {
		OK       bool   `json:"ok"`
		Redirect string `json:"redirect"`
	}
	json.Unmarshal(w.Body.Bytes(), &resp)
	u, _ := url.Parse(resp.Redirect)
	if !resp.OK || u == nil || !strings.HasPrefix(resp.Redirect, idp.srv.URL+"/logout?") || u.Query().Get("id_token_hint") != idp.issued[0] ||
		u.Query().Get("post_logout_redirect_uri") != "http://localhost:8080/" || u.Query().Get("client_id") != testClientID {
		t.Fatalf("logout %s", w.Body)
	}
	if w := e.do("GET", "/api/me", nil, "", withCookie(tok)); w.Code != 401 {
		t.Fatal("session valid after logout")
	}
	pc := e.svc.PublicConfig()
	if !pc.Local || !pc.OIDC.Enabled || pc.OIDC.URL != "/auth/oidc/login" {
		t.Fatalf("public config %+v", pc)
	}
}

func TestOIDCBadState(t *testing.T) {
	e, idp := newOIDCEnv(t, nil)
	fl := e.startOIDC(t, "/")
	code := idp.authorize(fl, nil)
	wantFail(t, e.callback("forged-state", code, fl.cookie), "oidc_state")
	wantFail(t, e.callback("", code, fl.cookie), "oidc_state")
	// Right state, but from another browser (no or wrong pre-login cookie): refused, and the
	// state is burnt.
	wantFail(t, e.callback(fl.state, code, "someone-elses-cookie"), "oidc_state")
	wantFail(t, e.callback(fl.state, code, fl.cookie), "oidc_state")
	fl = e.startOIDC(t, "/")
	code = idp.authorize(fl, nil)
	wantFail(t, e.callback(fl.state, code, ""), "oidc_state")
	// Replaying a successful callback.
	fl = e.startOIDC(t, "/")
	code = idp.authorize(fl, nil)
	if w := e.callback(fl.state, code, fl.cookie); w.Code != 303 || w.Header().Get("Location") != "/" {
		t.Fatalf("good callback %d %q", w.Code, w.Header().Get("Location"))
	}
	wantFail(t, e.callback(fl.state, code, fl.cookie), "oidc_state")
	if idp.tokenCalls != 1 {
		t.Fatalf("token endpoint called %d times; bad states must not reach it", idp.tokenCalls)
	}
	// Expired pending state.
	fl = e.startOIDC(t, "/")
	e.clock.Add(pendingTTL + time.Second)
	wantFail(t, e.callback(fl.state, idp.authorize(fl, nil), fl.cookie), "oidc_state")
	// An error from the IdP.
	w := e.do("GET", "/auth/oidc/callback?error=access_denied&state=x", nil, "")
	wantFail(t, w, "oidc_denied")
}

func TestOIDCReplayedNonce(t *testing.T) {
	e, idp := newOIDCEnv(t, nil)
	first := e.startOIDC(t, "/")
	if w := e.callback(first.state, idp.authorize(first, nil), first.cookie); w.Code != 303 || w.Header().Get("Location") != "/" {
		t.Fatal("first sign-in failed")
	}
	// An attacker replays the first flow's ID token (its nonce) into a new flow.
	second := e.startOIDC(t, "/")
	idp.tweak = func(c map[string]any) { c["nonce"] = first.nonce }
	wantFail(t, e.callback(second.state, idp.authorize(second, nil), second.cookie), "oidc_failed")
	// No nonce at all.
	idp.tweak = func(c map[string]any) { delete(c, "nonce") }
	third := e.startOIDC(t, "/")
	wantFail(t, e.callback(third.state, idp.authorize(third, nil), third.cookie), "oidc_failed")
}

func TestOIDCTokenValidation(t *testing.T) {
	cases := map[string]func(map[string]any){
		"wrong audience": func(c map[string]any) { c["aud"] = "another-client" },
		"wrong issuer":   func(c map[string]any) { c["iss"] = "https://evil.example" },
		"expired":        func(c map[string]any) { c["exp"] = c["iat"].(int64) - 60 },
	}
	for name, tweak := range cases {
		t.Run(name, func(t *testing.T) {
			e, idp := newOIDCEnv(t, nil)
			idp.tweak = tweak
			fl := e.startOIDC(t, "/")
			wantFail(t, e.callback(fl.state, idp.authorize(fl, nil), fl.cookie), "oidc_failed")
			if n, _ := e.store.CountAccounts(context.Background()); n != 0 {
				t.Fatal("account created from a bad token")
			}
		})
	}
	t.Run("wrong signing key", func(t *testing.T) {
		e, idp := newOIDCEnv(t, nil)
		other, _ := rsa.GenerateKey(rand.Reader, 2048)
		idp.key = other
		fl := e.startOIDC(t, "/")
		wantFail(t, e.callback(fl.state, idp.authorize(fl, nil), fl.cookie), "oidc_failed")
	})
}

func TestOIDCAllowlist(t *testing.T) {
	cases := []struct {
		name   string
		cfg    func(*OIDCConfig)
		claims map[string]any
		ok     bool
	}{
		{"domain allowed", nil, nil, true},
		{"outside domain", nil, map[string]any{"email": "eve@evil.example"}, false},
		{"look-alike domain", nil, map[string]any{"email": "eve@notexample.com"}, false},
		{"unverified email", nil, map[string]any{"email_verified": false}, false},
		{"string email_verified", nil, map[string]any{"email_verified": "true"}, true},
		{"nothing configured", func(o *OIDCConfig) { o.AllowedEmails = nil }, nil, false},
		// Issue 16: preferred_username is chosen by the user at many IdPs; it never admits anyone.
		{"subject list ignores the username", func(o *OIDCConfig) { o.AllowedEmails = nil; o.AllowedSubjects = []string{"alice"} }, map[string]any{"email_verified": false}, false},
		{"user by sub", func(o *OIDCConfig) { o.AllowedEmails = nil; o.AllowedSubjects = []string{"sub-alice"} }, nil, true},
		{"group", func(o *OIDCConfig) { o.AllowedEmails = nil; o.AllowedGroups = []string{"chat"} }, map[string]any{"groups": []string{"x", "chat"}}, true},
		{"wrong group", func(o *OIDCConfig) { o.AllowedEmails = nil; o.AllowedGroups = []string{"chat"} }, map[string]any{"groups": []string{"x"}}, false},
		{"custom groups claim", func(o *OIDCConfig) {
			o.AllowedEmails = nil
			o.AllowedGroups = []string{"chat"}
			o.GroupsClaim = "roles"
		}, map[string]any{"roles": "chat"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, idp := newOIDCEnv(t, c.cfg)
			fl := e.startOIDC(t, "/")
			w := e.callback(fl.state, idp.authorize(fl, c.claims), fl.cookie)
			if c.ok {
				if w.Code != 303 || w.Header().Get("Location") != "/" {
					t.Fatalf("refused: %d %q", w.Code, w.Header().Get("Location"))
				}
				return
			}
			wantFail(t, w, "not_allowed")
			if n, _ := e.store.CountAccounts(context.Background()); n != 0 {
				t.Fatal("account created for a user outside the allowlist")
			}
		})
	}
}

func TestOIDCRoleMappingAndLinking(t *testing.T) {
	e, idp := newOIDCEnv(t, nil)
	// A local account named alice exists: the OIDC alice must not be linked to it by name.
	local := e.addUser("alice", "local password", chat.RoleMember)
	signIn := func(claims map[string]any) chat.User {
		fl := e.startOIDC(t, "/")
		w := e.callback(fl.state, idp.authorize(fl, claims), fl.cookie)
		if w.Code != 303 || w.Header().Get("Location") != "/" {
			t.Fatalf("sign-in %d %q", w.Code, w.Header().Get("Location"))
		}
		var me struct{ User chat.User }
		json.Unmarshal(e.do("GET", "/api/me", nil, "", withCookie(sessionCookie(t, w).Value)).Body.Bytes(), &me)
		return me.User
	}
	u := signIn(map[string]any{"groups": []string{"clawchat-owners"}})
	if u.Role != chat.RoleOwner || u.ID == local.ID {
		t.Fatalf("owner via group: %+v (local id %s)", u, local.ID)
	}
	acc, _ := e.store.Account(context.Background(), u.ID)
	if acc.Username == "alice" || !strings.HasPrefix(acc.Username, "alice-") {
		t.Fatalf("username %q", acc.Username)
	}
	// Leaving the group demotes at the next sign-in.
	if u2 := signIn(nil); u2.ID != u.ID || u2.Role != chat.RoleMember {
		t.Fatalf("after leaving group: %+v", u2)
	}
	found := false
	for _, a := range e.store.Audit() {
		found = found || (a.Action == "role.change" && a.Actor == u.ID)
	}
	if !found {
		t.Fatal("role change not audited")
	}
	// Google-style: no groups claim at all → member.
	if u3 := signIn(map[string]any{"sub": "google-123", "preferred_username": nil, "email": "bob@example.com"}); u3.Role != chat.RoleMember {
		t.Fatalf("no groups: %+v", u3)
	}
}

// Regression (issue 16, item 1): an IdP account whose preferred_username matched CLAWCHAT_OWNERS
// signed in as owner. Owners come from the subject, a verified e-mail or a group only.
func TestOIDCOwnerNotByUsername(t *testing.T) {
	cases := []struct {
		name   string
		cfg    func(*OIDCConfig)
		claims map[string]any
		want   chat.Role
	}{
		{"CLAWCHAT_OWNERS names the username", nil, map[string]any{"sub": "mallory-sub", "preferred_username": "alice"}, chat.RoleMember},
		{"owner subject", func(o *OIDCConfig) { o.OwnerSubjects = []string{"sub-alice"} }, nil, chat.RoleOwner},
		{"owner subject is not a username", func(o *OIDCConfig) { o.OwnerSubjects = []string{"alice"} }, map[string]any{"sub": "mallory-sub", "preferred_username": "alice"}, chat.RoleMember},
		{"owner e-mail, verified", func(o *OIDCConfig) { o.OwnerEmails = []string{"Alice@Example.com"} }, nil, chat.RoleOwner},
		{"owner e-mail, unverified", func(o *OIDCConfig) {
			o.OwnerEmails = []string{"alice@example.com"}
			o.AllowedSubjects = []string{"sub-alice"}
		}, map[string]any{"email_verified": false}, chat.RoleMember},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := newClock()
			idp := newFakeIdP(t, clock)
			oc := OIDCConfig{Issuer: idp.srv.URL, ClientID: testClientID, ClientSecret: testClientSecret,
				RedirectURL: "http://localhost:8080/auth/oidc/callback", AllowedEmails: []string{"@example.com"}}
			if c.cfg != nil {
				c.cfg(&oc)
			}
			e := newEnvClock(t, Config{Owners: []string{"alice"}, OIDC: oc}, clock)
			fl := e.startOIDC(t, "/")
			w := e.callback(fl.state, idp.authorize(fl, c.claims), fl.cookie)
			if w.Code != 303 || w.Header().Get("Location") != "/" {
				t.Fatalf("sign-in %d %q", w.Code, w.Header().Get("Location"))
			}
			var me struct{ User chat.User }
			json.Unmarshal(e.do("GET", "/api/me", nil, "", withCookie(sessionCookie(t, w).Value)).Body.Bytes(), &me)
			if me.User.Role != c.want {
				t.Fatalf("role %q, want %q", me.User.Role, c.want)
			}
			acc, _ := e.store.Account(context.Background(), me.User.ID)
			if acc.Username == "alice" {
				t.Fatal("an IdP user took the username alice, which CLAWCHAT_OWNERS reserves for a local account")
			}
		})
	}
}

func TestOIDCMisconfigured(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, err := New(context.Background(), Config{OIDC: OIDCConfig{Issuer: dead.URL, ClientID: "x", RedirectURL: "http://localhost/auth/oidc/callback"}},
		Deps{Store: NewMemoryStore(), hasher: mustFastHasher()})
	if err == nil || !strings.Contains(err.Error(), "CLAWCHAT_OIDC_ISSUER") {
		t.Fatalf("err %v", err)
	}
	for _, cfg := range []OIDCConfig{
		{Issuer: "https://idp.example", RedirectURL: "https://chat.example/auth/oidc/callback"},         // no client id
		{Issuer: "https://idp.example", ClientID: "x"},                                                  // no redirect
		{Issuer: "http://idp.example", ClientID: "x", RedirectURL: "https://chat.example/auth/oidc/cb"}, // http issuer
		{Issuer: "https://idp.example", ClientID: "x", RedirectURL: "http://chat.example/auth/oidc/cb"}, // http redirect
	} {
		if err := (Config{OIDC: cfg}).Validate(); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	// A misconfigured service answers 404 on the OIDC routes instead of panicking.
	e := newEnv(t, Config{})
	if w := e.do("GET", "/auth/oidc/login", nil, ""); w.Code != 404 {
		t.Fatalf("login without OIDC: %d", w.Code)
	}
}

func TestOIDCSecretsNotLogged(t *testing.T) {
	e, idp := newOIDCEnv(t, nil)
	fl := e.startOIDC(t, "/")
	code := idp.authorize(fl, nil)
	w := e.callback(fl.state, code, fl.cookie)
	tok := sessionCookie(t, w).Value
	e.do("POST", "/logout", nil, "", withCookie(tok))
	// A failing exchange (bad code) must not log the code or the secret either.
	fl2 := e.startOIDC(t, "/")
	e.callback(fl2.state, "bogus-code-SECRET", fl2.cookie)
	logs := e.logs.String()
	audit := fmt.Sprint(e.store.Audit())
	for name, secret := range map[string]string{"client secret": testClientSecret, "id token": idp.issued[0], "session token": tok,
		"code": code, "bogus code": "bogus-code-SECRET", "nonce": fl.nonce, "state": fl.state, "binding": fl.cookie} {
		if strings.Contains(logs, secret) || strings.Contains(audit, secret) {
			t.Errorf("%s leaked into logs/audit", name)
		}
	}
	if !strings.Contains(logs, "login.success") {
		t.Fatalf("no audit log line: %s", logs)
	}
}

func mustFastHasher() *Hasher {
	h, err := newHasher(fastParams, 2)
	if err != nil {
		panic(err)
	}
	return h
}

var _ = slog.LevelInfo

// TestOIDCMixUpIssuerRefused: an authorization response that names another issuer (RFC 9207
// "iss") is refused before the code is exchanged.
func TestOIDCMixUpIssuerRefused(t *testing.T) {
	e, idp := newOIDCEnv(t, nil)
	fl := e.startOIDC(t, "/")
	code := idp.authorize(fl, nil)
	q := url.Values{"state": {fl.state}, "code": {code}, "iss": {"https://evil.example"}}
	w := e.do("GET", "/auth/oidc/callback?"+q.Encode(), nil, "", func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: oidcCookie, Value: fl.cookie})
	})
	wantFail(t, w, "oidc_failed")
	if idp.tokenCalls != 0 {
		t.Fatalf("token endpoint called %d times for a mixed-up response", idp.tokenCalls)
	}
	// The right issuer in iss is accepted.
	fl = e.startOIDC(t, "/")
	q = url.Values{"state": {fl.state}, "code": {idp.authorize(fl, nil)}, "iss": {idp.srv.URL}}
	w = e.do("GET", "/auth/oidc/callback?"+q.Encode(), nil, "", func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: oidcCookie, Value: fl.cookie})
	})
	if w.Code != 303 || w.Header().Get("Location") != "/" {
		t.Fatalf("callback with the right iss: %d %q", w.Code, w.Header().Get("Location"))
	}
}
