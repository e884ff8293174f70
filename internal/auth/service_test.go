package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

const unauthorizedBody = `{"error":{"code":"unauthorized","message":"sign in required"}}` + "\n"

func TestLoginJSONAndCookieFlags(t *testing.T) {
	e := newEnv(t, Config{})
	acc := e.addUser("alice", "correct horse battery", chat.RoleMember)
	w := e.loginJSON("Alice", "correct horse battery")
	if w.Code != 200 {
		t.Fatalf("status %d body %s", w.Code, w.Body)
	}
	if want := `{"ok":true,"user":{"id":"` + acc.ID + `","name":"alice","role":"member"}}` + "\n"; w.Body.String() != want {
		t.Fatalf("body %s want %s", w.Body, want)
	}
	c := sessionCookie(t, w)
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || len(c.Value) != 43 {
		t.Fatalf("cookie flags %+v", c)
	}
	if !c.Expires.Equal(e.clock.Now().Add(DefaultSessionAbsolute)) {
		t.Errorf("cookie expires %v", c.Expires)
	}
	// The store holds the hash, never the token.
	if _, err := e.store.Session(context.Background(), c.Value); err == nil {
		t.Fatal("token stored in clear")
	}
	if _, err := e.store.Session(context.Background(), hashToken(c.Value)); err != nil {
		t.Fatal(err)
	}
	me := e.do("GET", "/api/me", nil, "", withCookie(c.Value))
	if me.Code != 200 || !strings.Contains(me.Body.String(), `"csrf":false`) || !strings.Contains(me.Body.String(), acc.ID) {
		t.Fatalf("/api/me %d %s", me.Code, me.Body)
	}
	for _, bad := range []string{"", "nonsense", strings.Repeat("a", 43)} {
		var opts []reqOpt
		if bad != "" {
			opts = append(opts, withCookie(bad))
		}
		w := e.do("GET", "/api/me", nil, "", opts...)
		if w.Code != 401 || w.Body.String() != unauthorizedBody || w.Header().Get("Location") != "" {
			t.Fatalf("cookie %q: %d %q", bad, w.Code, w.Body)
		}
	}
}

func TestCookieConfig(t *testing.T) {
	e := newEnv(t, Config{CookieInsecure: true, CookieSameSite: "strict"})
	e.addUser("bob", "password-1234", chat.RoleMember)
	c := sessionCookie(t, e.loginJSON("bob", "password-1234"))
	if c.Secure || c.SameSite != http.SameSiteStrictMode || !c.HttpOnly {
		t.Fatalf("cookie %+v", c)
	}
	if err := (Config{CookieSameSite: "none", CookieInsecure: true}).Validate(); err == nil {
		t.Fatal("SameSite=None without Secure accepted")
	}
	if err := (Config{CookieSameSite: "sideways"}).Validate(); err == nil {
		t.Fatal("bad SameSite accepted")
	}
}

func TestNoUserEnumeration(t *testing.T) {
	e := newEnv(t, Config{})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	before := e.svc.hasher.dummyRuns.Load()
	wrong := e.loginJSON("alice", "wrong password")
	if got := e.svc.hasher.dummyRuns.Load(); got != before {
		t.Fatalf("wrong password for a real user ran the dummy hash (%d → %d)", before, got)
	}
	unknown := e.loginJSON("mallory", "wrong password")
	if got := e.svc.hasher.dummyRuns.Load(); got != before+1 {
		t.Fatalf("unknown user did not run the dummy hash (%d → %d)", before, got)
	}
	if wrong.Code != 401 || unknown.Code != 401 || wrong.Body.String() != unknown.Body.String() {
		t.Fatalf("wrong: %d %s; unknown: %d %s", wrong.Code, wrong.Body, unknown.Code, unknown.Body)
	}
	if len(wrong.Result().Cookies()) != 0 || len(unknown.Result().Cookies()) != 0 {
		t.Fatal("failed sign-in set a cookie")
	}
	// Password-less (OIDC) accounts cost the same dummy hash.
	e.store.CreateAccount(context.Background(), chat.Account{ID: "oidcuser", Username: "carol", Role: chat.RoleMember, OIDCIssuer: "x", OIDCSubject: "y"})
	w := e.loginJSON("carol", "anything")
	if w.Code != 401 || w.Body.String() != unknown.Body.String() || e.svc.hasher.dummyRuns.Load() != before+2 {
		t.Fatalf("password-less account: %d %s", w.Code, w.Body)
	}
}

func TestNoUserEnumerationTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("real argon2id parameters")
	}
	h, err := NewHasher(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := h.Hash(context.Background(), "the real password")
	// Interleave the two paths and keep each one's best time, so load from other processes on the
	// machine hits both alike.
	real, dummy := time.Hour, time.Hour
	for range 5 {
		start := time.Now()
		h.Verify(context.Background(), "wrong", hash)
		real = min(real, time.Since(start))
		start = time.Now()
		h.VerifyDummy(context.Background(), "wrong")
		dummy = min(dummy, time.Since(start))
	}
	ratio := float64(dummy) / float64(real)
	t.Logf("verify known user %v, unknown user %v", real, dummy)
	if ratio < 0.4 || ratio > 2.5 {
		t.Fatalf("timing differs: known %v vs unknown %v", real, dummy)
	}
}

func TestSessionFixation(t *testing.T) {
	e := newEnv(t, Config{})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	e.addUser("mallory", "mallory's password", chat.RoleMember)
	// The attacker plants their own valid session cookie, and also a made-up one.
	planted := sessionCookie(t, e.loginJSON("mallory", "mallory's password")).Value
	for _, plant := range []string{planted, "made-up-token-chosen-by-the-attacker-000000"} {
		w := e.loginJSON("alice", "correct horse battery", withCookie(plant))
		got := sessionCookie(t, w).Value
		if got == plant {
			t.Fatal("sign-in kept the planted token")
		}
		if w := e.do("GET", "/api/me", nil, "", withCookie(plant)); w.Code != 401 {
			t.Fatalf("planted token still valid after victim sign-in: %d %s", w.Code, w.Body)
		}
		if w := e.do("GET", "/api/me", nil, "", withCookie(got)); w.Code != 200 || !strings.Contains(w.Body.String(), `"alice"`) {
			t.Fatalf("new token: %d %s", w.Code, w.Body)
		}
	}
}

func TestLogoutRevokes(t *testing.T) {
	e := newEnv(t, Config{})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	tok := sessionCookie(t, e.loginJSON("alice", "correct horse battery")).Value
	w := e.do("POST", "/logout", nil, "", withCookie(tok))
	if w.Code != 200 || w.Body.String() != `{"ok":true}`+"\n" {
		t.Fatalf("logout %d %s", w.Code, w.Body)
	}
	if c := sessionCookie(t, w); c.MaxAge >= 0 || c.Value != "" {
		t.Fatalf("cookie not cleared: %+v", c)
	}
	if w := e.do("GET", "/api/me", nil, "", withCookie(tok)); w.Code != 401 {
		t.Fatalf("token valid after logout: %d", w.Code)
	}
	if w := e.do("POST", "/logout", nil, ""); w.Code != 200 {
		t.Fatalf("anonymous logout %d", w.Code)
	}
}

func TestLogoutAllEndsEverySessionOfTheUserOnly(t *testing.T) {
	e := newEnv(t, Config{})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	e.addUser("bob", "another horse battery", chat.RoleMember)
	phone := sessionCookie(t, e.loginJSON("alice", "correct horse battery")).Value
	laptop := sessionCookie(t, e.loginJSON("alice", "correct horse battery")).Value
	bob := sessionCookie(t, e.loginJSON("bob", "another horse battery")).Value
	if w := e.do("POST", "/api/account/logout-all", nil, ""); w.Code != 401 {
		t.Fatalf("anonymous sign-out everywhere: %d", w.Code)
	}
	w := e.do("POST", "/api/account/logout-all", nil, "", withCookie(phone))
	if w.Code != 200 {
		t.Fatalf("sign out everywhere: %d %s", w.Code, w.Body)
	}
	if c := sessionCookie(t, w); c.MaxAge >= 0 || c.Value != "" {
		t.Fatalf("cookie not cleared: %+v", c)
	}
	for name, tok := range map[string]string{"phone": phone, "laptop": laptop} {
		if w := e.do("GET", "/api/me", nil, "", withCookie(tok)); w.Code != 401 {
			t.Errorf("alice's %s session still valid: %d", name, w.Code)
		}
	}
	if w := e.do("GET", "/api/me", nil, "", withCookie(bob)); w.Code != 200 {
		t.Errorf("bob's session ended too: %d", w.Code)
	}
	audited := false
	for _, a := range e.store.Audit() {
		audited = audited || a.Action == "logout.all"
	}
	if !audited {
		t.Error("no audit entry")
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t, Config{ManagedUsers: []string{"bob"}})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	e.addUser("bob", "another horse battery", chat.RoleMember)
	phone := sessionCookie(t, e.loginJSON("alice", "correct horse battery")).Value
	laptop := sessionCookie(t, e.loginJSON("alice", "correct horse battery")).Value
	change := func(tok, body string) *httptest.ResponseRecorder {
		return e.do("POST", "/api/account/password", strings.NewReader(body), "application/json", withCookie(tok))
	}
	if w := e.do("POST", "/api/account/password", strings.NewReader(`{"current":"x","new":"y"}`), "application/json"); w.Code != 401 {
		t.Fatalf("anonymous change: %d", w.Code)
	}
	if w := change(phone, `{"current":"wrong horse battery","new":"a new long secret"}`); w.Code != 403 {
		t.Fatalf("wrong current password: %d %s", w.Code, w.Body)
	}
	if w := change(phone, `{"current":"correct horse battery","new":"short"}`); w.Code != 400 {
		t.Fatalf("short new password: %d %s", w.Code, w.Body)
	}
	if w := change(phone, `{"current":"correct horse battery","new":"correct horse battery"}`); w.Code != 400 {
		t.Fatalf("unchanged password: %d %s", w.Code, w.Body)
	}
	if w := e.do("GET", "/api/me", nil, "", withCookie(laptop)); w.Code != 200 {
		t.Fatalf("a refused change ended a session: %d", w.Code)
	}
	w := change(phone, `{"current":"correct horse battery","new":"a new long secret"}`)
	if w.Code != 200 {
		t.Fatalf("change: %d %s", w.Code, w.Body)
	}
	fresh := sessionCookie(t, w).Value
	for name, tok := range map[string]string{"phone (old cookie)": phone, "laptop": laptop} {
		if w := e.do("GET", "/api/me", nil, "", withCookie(tok)); w.Code != 401 {
			t.Errorf("%s session valid after the change: %d", name, w.Code)
		}
	}
	if w := e.do("GET", "/api/me", nil, "", withCookie(fresh)); w.Code != 200 {
		t.Errorf("the new session of this browser: %d", w.Code)
	}
	if w := e.loginJSON("alice", "correct horse battery"); w.Code != 401 {
		t.Errorf("old password still signs in: %d", w.Code)
	}
	if w := e.loginJSON("alice", "a new long secret"); w.Code != 200 {
		t.Errorf("new password does not sign in: %d", w.Code)
	}
	bob := sessionCookie(t, e.loginJSON("bob", "another horse battery")).Value
	if w := change(bob, `{"current":"another horse battery","new":"a new long secret"}`); w.Code != 409 {
		t.Errorf("managed account: %d %s", w.Code, w.Body)
	}
	for _, a := range e.store.Audit() {
		if strings.Contains(a.Detail+a.Target, "secret") || strings.Contains(a.Detail+a.Target, "horse") {
			t.Errorf("password in the audit log: %+v", a)
		}
	}
}

func TestSessionTimeoutsAndTouch(t *testing.T) {
	e := newEnv(t, Config{SessionIdle: time.Hour, SessionAbsolute: 3 * time.Hour})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	tok := sessionCookie(t, e.loginJSON("alice", "correct horse battery")).Value
	me := func() int { return e.do("GET", "/api/me", nil, "", withCookie(tok)).Code }
	for range 10 {
		if me() != 200 {
			t.Fatal("fresh session refused")
		}
	}
	if n := e.store.touches.Load(); n != 0 {
		t.Fatalf("%d touches within the first minute", n)
	}
	// Keep it alive with a request every 50 minutes: idle never exceeds 1h, touch happens each time.
	for i := range 3 {
		e.clock.Add(50 * time.Minute)
		if me() != 200 {
			t.Fatalf("session died at step %d", i)
		}
		me()
	}
	if n := e.store.touches.Load(); n != 3 {
		t.Fatalf("touches = %d, want 3 (at most once per minute)", n)
	}
	// Absolute timeout: 3h after creation it dies though it was active.
	e.clock.Add(31 * time.Minute)
	if me() != 401 {
		t.Fatal("session outlived its absolute timeout")
	}
	// Idle timeout.
	tok = sessionCookie(t, e.loginJSON("alice", "correct horse battery")).Value
	e.clock.Add(61 * time.Minute)
	if me() != 401 {
		t.Fatal("session outlived its idle timeout")
	}
	if err := (Config{SessionIdle: 48 * time.Hour, SessionAbsolute: time.Hour}).Validate(); err == nil {
		t.Fatal("idle > absolute accepted")
	}
}

func TestDisabledAccount(t *testing.T) {
	e := newEnv(t, Config{})
	acc := e.addUser("alice", "correct horse battery", chat.RoleMember)
	tok := sessionCookie(t, e.loginJSON("alice", "correct horse battery")).Value
	acc.Disabled = true
	e.store.UpdateAccount(context.Background(), acc)
	if w := e.do("GET", "/api/me", nil, "", withCookie(tok)); w.Code != 401 {
		t.Fatal("disabled account's session still valid")
	}
	if w := e.loginJSON("alice", "correct horse battery"); w.Code != 401 {
		t.Fatal("disabled account signed in")
	}
}

func TestFormLoginRedirect(t *testing.T) {
	e := newEnv(t, Config{})
	e.addUser("alice", "correct horse battery", chat.RoleMember)
	cases := map[string]string{
		"/c/default?x=1":        "/c/default?x=1",
		"":                      "/",
		"//evil.com":            "/",
		"https://evil.com":      "/",
		"/\\evil.com":           "/",
		"javascript:alert(1)":   "/",
		"/\t/evil.com":          "/",
		"\\\\evil.com":          "/",
		"http:/evil.com":        "/",
		"evil.com":              "/",
		"/%2F%2Fevil.com":       "/",         // decodes to //evil.com: refused to be safe
		"/ok/../..//evil.com":   "/evil.com", // http.Redirect cleans the path; still same-site
		"///evil.com":           "/",
		"/\nLocation: evil.com": "/",
	}
	for next, want := range cases {
		w := e.loginForm("alice", "correct horse battery", next)
		if w.Code != 302 || w.Header().Get("Location") != want {
			t.Errorf("next %q: %d Location %q, want %q", next, w.Code, w.Header().Get("Location"), want)
		}
	}
	// next from the query string works too.
	v := "username=alice&password=correct+horse+battery"
	w := e.do("POST", "/login?next=/c/x", strings.NewReader(v), "application/x-www-form-urlencoded", withHeader("Accept", "text/html"))
	if w.Code != 302 || w.Header().Get("Location") != "/c/x" {
		t.Fatalf("query next: %d %q", w.Code, w.Header().Get("Location"))
	}
	// miso-chat's return_to (form body and query), through the same SafeNext.
	for _, tc := range []struct{ body, query, want string }{
		{"&return_to=%2Fc%2Fy", "", "/c/y"},
		{"&return_to=https%3A%2F%2Fevil.com", "", "/"},
		{"&return_to=%2F%2Fevil.com", "", "/"},
		{"", "?return_to=/c/z", "/c/z"},
		{"&next=%2Fc%2Fn&return_to=%2Fc%2Fr", "", "/c/n"},
	} {
		w := e.do("POST", "/login"+tc.query, strings.NewReader(v+tc.body), "application/x-www-form-urlencoded")
		if w.Code != 302 || w.Header().Get("Location") != tc.want {
			t.Errorf("return_to %q%q: %d %q, want 302 %q", tc.body, tc.query, w.Code, w.Header().Get("Location"), tc.want)
		}
	}
	// A failed form sign-in still answers 401 like JSON.
	if w := e.loginForm("alice", "nope", "/x"); w.Code != 401 {
		t.Fatalf("failed form login %d", w.Code)
	}
}

func TestSafeNext(t *testing.T) {
	for _, bad := range []string{"//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)", "/\\/evil.com",
		"\\/evil.com", " /x", "/x\r\n", "data:text/html,x", "HTTPS://evil.com", "//", "/\\", "/ /evil.com", "/%2f%2fevil.com", "/%5cevil.com"} {
		if got := SafeNext(bad); got != "/" {
			t.Errorf("SafeNext(%q) = %q", bad, got)
		}
	}
	for _, good := range []string{"/", "/c/default", "/c/a?b=c#d", "/a%20b"} {
		if got := SafeNext(good); got != good {
			t.Errorf("SafeNext(%q) = %q", good, got)
		}
	}
}

func TestBadLoginRequests(t *testing.T) {
	e := newEnv(t, Config{})
	for _, c := range []struct{ body, ctype string }{
		{`{"username":"a"}`, "application/json"},
		{`not json`, "application/json"},
		{`username=a&password=b`, "text/plain"},
		{`{"username":"a","password":"` + strings.Repeat("x", 70<<10) + `"}`, "application/json"},
	} {
		if w := e.do("POST", "/login", strings.NewReader(c.body), c.ctype); w.Code != 400 {
			t.Errorf("%.40q: %d", c.body, w.Code)
		}
	}
	d := newEnv(t, Config{DisableLocal: true, ProxyAuth: ProxyAuthConfig{Headers: []string{"Remote-User"}, CIDRs: mustPrefixes("127.0.0.1/32")}})
	if w := d.loginJSON("a", "b"); w.Code != 404 {
		t.Fatalf("local disabled: %d", w.Code)
	}
}
