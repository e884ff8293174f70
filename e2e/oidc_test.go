package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clawchat/clawchat/internal/testkit/oidctest"
)

// OIDC sign-in end to end: the real clawchat binary against a real OpenID provider (npm
// oidc-provider, run by internal/testkit/oidctest under Node 24), through its login and consent pages,
// in headless Chromium and with a plain HTTP client that plays a browser. The provider can
// issue deliberately broken ID tokens for some accounts (see oidctest.Tamper), signed with its
// real key, so that each of clawchat's checks is tested on its own.

const (
	oidcClientID = "clawchat"
	oidcLabel    = "TestIdP"
)

// oidcStack is one provider and one clawchat configured for it.
type oidcStack struct {
	p      *oidctest.Provider
	srv    *server
	secret string
}

// startOIDCStack starts the provider (its client's redirect URI points at a port chosen for
// clawchat) and then clawchat, which discovers the provider at start-up.
//
// Allowlist: group staff, group admins (owners), the e-mail mia@example.org / una@example.org,
// and the subject sam-sub (owner). CLAWCHAT_OWNERS=alice names the local account alice only.
func startOIDCStack(t *testing.T) *oidcStack {
	t.Helper()
	g := sharedGateway(t)
	port := freeLoopbackPort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	st := &oidcStack{secret: "oidc-secret-" + rand.Text()}
	staff := []string{"staff"}
	st.p = oidctest.Start(t, oidctest.Options{
		Clients: []oidctest.Client{{ID: oidcClientID, Secret: st.secret,
			RedirectURIs: []string{base + "/auth/oidc/callback"}, PostLogoutRedirectURIs: []string{base + "/"}}},
		Accounts: []oidctest.Account{
			{Subject: "ann", Username: "ann", Name: "Ann Member", Email: "ann@example.com", EmailVerified: true, Groups: staff},
			{Subject: "bea", Username: "bea", Groups: staff},
			{Subject: "olga", Username: "olga", Groups: []string{"admins"}},
			{Subject: "oscar", Username: "oscar", Groups: []string{"staff", "admins"}},
			{Subject: "eve", Username: "eve", Email: "eve@example.net", EmailVerified: true, Groups: []string{"contractors"}},
			{Subject: "una", Username: "una", Email: "una@example.org", EmailVerified: false},
			{Subject: "mia", Username: "mia", Email: "mia@example.org", EmailVerified: true},
			{Subject: "aud", Username: "aud", Groups: staff, Tamper: oidctest.Tamper{Audience: "another-client"}},
			{Subject: "iss", Username: "iss", Groups: staff, Tamper: oidctest.Tamper{Issuer: "http://127.0.0.1:9/another-issuer"}},
			{Subject: "old", Username: "old", Groups: staff, Tamper: oidctest.Tamper{ExpiredBy: 10 * time.Minute}},
			{Subject: "replay", Username: "replay", Groups: staff, Tamper: oidctest.Tamper{ReplayNonce: true}},
			// Issue 16: an IdP user who picks the username of a clawchat owner (CLAWCHAT_OWNERS=alice)
			// and an owner named by subject.
			{Subject: "mallory-sub", Username: "alice", Groups: staff},
			{Subject: "sam-sub", Username: "sam"},
		},
	})
	st.srv = &server{
		t: t, bin: buildClawchat(t), URL: base, log: &lockedBuffer{},
		env: []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + t.TempDir(),
			fmt.Sprintf("CLAWCHAT_LISTEN=127.0.0.1:%d", port),
			"CLAWCHAT_DATA_DIR=" + t.TempDir(),
			"CLAWCHAT_PUBLIC_URL=" + base,
			"CLAWCHAT_LOCAL_USERS=alice:" + alicePass,
			"CLAWCHAT_OWNERS=alice",
			"OPENCLAW_GATEWAY_URL=" + g.URL,
			"OPENCLAW_GATEWAY_TOKEN=" + g.Token,
			"CLAWCHAT_OIDC_ISSUER=" + st.p.Issuer,
			"CLAWCHAT_OIDC_CLIENT_ID=" + oidcClientID,
			"CLAWCHAT_OIDC_CLIENT_SECRET=" + st.secret,
			"CLAWCHAT_OIDC_SCOPES=openid,profile,email,groups",
			"CLAWCHAT_OIDC_ALLOWED_GROUPS=staff",
			"CLAWCHAT_OIDC_OWNER_GROUPS=admins",
			"CLAWCHAT_OIDC_OWNER_SUBJECTS=sam-sub",
			"CLAWCHAT_OIDC_ALLOWED_EMAILS=mia@example.org,una@example.org",
			"CLAWCHAT_OIDC_LABEL=" + oidcLabel,
		},
	}
	st.srv.start()
	t.Cleanup(st.srv.stop)
	return st
}

// authorize signs in as login on the provider with a fresh cookie jar (a fresh browser) and
// returns the jar and the callback URL the provider sent it to, not yet requested.
func (st *oidcStack) authorize(t *testing.T, login string) (*cookiejar.Jar, *url.URL) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cb, err := st.p.Authorize(ctx, jar, st.srv.URL+"/auth/oidc/login", login)
	if err != nil {
		t.Fatalf("sign in as %s at the provider: %v", login, err)
	}
	if want := st.srv.URL + "/auth/oidc/callback"; cb.Scheme+"://"+cb.Host+cb.Path != want {
		t.Fatalf("provider redirected to %s, want %s", cb, want)
	}
	if cb.Query().Get("code") == "" || cb.Query().Get("state") == "" {
		t.Fatalf("callback %s lacks code or state", cb)
	}
	return jar, cb
}

// callback requests u with jar like a browser would and returns where clawchat sends it and
// whether the answer started a session.
func (st *oidcStack) callback(t *testing.T, jar http.CookieJar, u *url.URL) (location string, session bool) {
	t.Helper()
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(u.String())
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %s, want 303", res.Status)
	}
	for _, c := range res.Cookies() {
		if c.Name == "clawchat_session" && c.Value != "" && c.MaxAge >= 0 {
			session = true
		}
	}
	return res.Header.Get("Location"), session
}

// me returns the status of GET /api/me with jar and the user it names.
func (st *oidcStack) me(t *testing.T, jar http.CookieJar) (int, struct{ ID, Name, Role string }) {
	t.Helper()
	var out struct {
		User struct{ ID, Name, Role string } `json:"user"`
	}
	res, err := (&http.Client{Jar: jar}).Get(st.srv.URL + "/api/me")
	if err != nil {
		t.Fatalf("GET /api/me: %v", err)
	}
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out.User
}

// signInOK runs the whole flow for login and fails unless it ends signed in on "/".
func (st *oidcStack) signInOK(t *testing.T, login string) *cookiejar.Jar {
	t.Helper()
	jar, cb := st.authorize(t, login)
	if loc, session := st.callback(t, jar, cb); loc != "/" || !session {
		t.Fatalf("%s: callback sent the browser to %q (session %v), want / with a session", login, loc, session)
	}
	return jar
}

// refused runs the whole flow for login and fails unless clawchat refuses it with code.
func (st *oidcStack) refused(t *testing.T, login, code string) {
	t.Helper()
	jar, cb := st.authorize(t, login)
	if loc, session := st.callback(t, jar, cb); loc != "/?auth_error="+code || session {
		t.Errorf("%s: callback sent the browser to %q (session %v), want /?auth_error=%s without a session", login, loc, session, code)
	}
	if status, _ := st.me(t, jar); status != http.StatusUnauthorized {
		t.Errorf("%s: /api/me answers %d after a refused sign-in, want 401", login, status)
	}
}

// waitLog waits until clawchat's log contains s (log lines are written asynchronously to the
// redirect the test already saw).
func (st *oidcStack) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(st.srv.log.String(), s) {
		if time.Now().After(deadline) {
			t.Errorf("clawchat's log does not say %q:\n%s", s, st.srv.log.String())
			return
		}
		time.Sleep(20 * time.Millisecond) // the log is a plain buffer: poll it
	}
}

func TestOIDCAgainstRealProvider(t *testing.T) {
	st := startOIDCStack(t)

	t.Run("member signs in and the callback cannot be replayed", func(t *testing.T) {
		jar, cb := st.authorize(t, "ann")
		loc, session := st.callback(t, jar, cb)
		if loc != "/" || !session {
			t.Fatalf("callback sent the browser to %q (session %v), want / with a session", loc, session)
		}
		status, u := st.me(t, jar)
		if status != http.StatusOK || u.Role != "member" || u.ID == "" {
			t.Errorf("/api/me: %d %+v, want a member", status, u)
		}
		// The same callback URL again (same code, state and so nonce): in the same browser and
		// in another one.
		if loc, session := st.callback(t, jar, cb); loc != "/?auth_error=oidc_state" || session {
			t.Errorf("replayed callback: %q (session %v), want /?auth_error=oidc_state without a session", loc, session)
		}
		other, _ := cookiejar.New(nil)
		if loc, session := st.callback(t, other, cb); loc != "/?auth_error=oidc_state" || session {
			t.Errorf("replayed callback in another browser: %q (session %v), want oidc_state without a session", loc, session)
		}
		// Signing in again links to the same account (issuer + subject).
		_, again := st.me(t, st.signInOK(t, "ann"))
		if again.ID != u.ID {
			t.Errorf("second sign-in as ann got account %q, want the first one %q", again.ID, u.ID)
		}
	})

	t.Run("bad state is refused", func(t *testing.T) {
		jar, cb := st.authorize(t, "ann")
		for name, mutate := range map[string]func(url.Values){
			"forged": func(q url.Values) { q.Set("state", rand.Text()) },
			"empty":  func(q url.Values) { q.Set("state", "") },
			"absent": func(q url.Values) { q.Del("state") },
		} {
			bad := *cb
			q := bad.Query()
			mutate(q)
			bad.RawQuery = q.Encode()
			// Each answer clears the pre-login cookie, so give every try a copy of the jar.
			j, _ := cookiejar.New(nil)
			j.SetCookies(&url.URL{Scheme: "http", Host: cb.Host, Path: "/auth/oidc/"}, jar.Cookies(&url.URL{Scheme: "http", Host: cb.Host, Path: "/auth/oidc/callback"}))
			if loc, session := st.callback(t, j, &bad); loc != "/?auth_error=oidc_state" || session {
				t.Errorf("%s state: %q (session %v), want /?auth_error=oidc_state without a session", name, loc, session)
			}
		}
		// The genuine state, but delivered to another browser (login CSRF): refused, and the
		// state is spent, so the right browser cannot use it afterwards either.
		other, _ := cookiejar.New(nil)
		if loc, session := st.callback(t, other, cb); loc != "/?auth_error=oidc_state" || session {
			t.Errorf("callback in a browser that did not start the sign-in: %q (session %v), want oidc_state", loc, session)
		}
		if loc, session := st.callback(t, jar, cb); loc != "/?auth_error=oidc_state" || session {
			t.Errorf("callback after the state was spent: %q (session %v), want oidc_state", loc, session)
		}
	})

	t.Run("replayed nonce is refused", func(t *testing.T) {
		// The provider puts the nonce of replay's previous ID token into the next one.
		st.signInOK(t, "replay")
		st.refused(t, "replay", "oidc_failed")
	})

	t.Run("wrong audience is refused", func(t *testing.T) {
		st.refused(t, "aud", "oidc_failed")
		st.waitLog(t, "expected audience")
	})

	t.Run("wrong issuer is refused", func(t *testing.T) {
		st.refused(t, "iss", "oidc_failed")
		st.waitLog(t, "issued by a different provider")
	})

	t.Run("expired ID token is refused", func(t *testing.T) {
		st.refused(t, "old", "oidc_failed")
		st.waitLog(t, "id token expired")
	})

	t.Run("allowlist", func(t *testing.T) {
		st.refused(t, "eve", "not_allowed") // groups and e-mail not on the list
		st.refused(t, "una", "not_allowed") // listed e-mail, but not verified
		if status, u := st.me(t, st.signInOK(t, "mia")); status != http.StatusOK || u.Role != "member" {
			t.Errorf("mia (listed, verified e-mail): /api/me %d %+v, want a member", status, u)
		}
	})

	t.Run("owner group maps to owner", func(t *testing.T) {
		for _, login := range []string{"olga", "oscar"} {
			if status, u := st.me(t, st.signInOK(t, login)); status != http.StatusOK || u.Role != "owner" {
				t.Errorf("%s (admins): /api/me %d %+v, want an owner", login, status, u)
			}
		}
	})

	t.Run("logout returns the provider's end-session URL", func(t *testing.T) {
		jar := st.signInOK(t, "ann")
		req, _ := http.NewRequest(http.MethodPost, st.srv.URL+"/logout", nil)
		res, err := (&http.Client{Jar: jar}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			OK       bool   `json:"ok"`
			Redirect string `json:"redirect"`
		}
		_ = json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		end, err := url.Parse(out.Redirect)
		if res.StatusCode != http.StatusOK || !out.OK || err != nil || end.Scheme+"://"+end.Host+end.Path != st.p.Issuer+"/session/end" {
			t.Fatalf("POST /logout: %s %+v, want ok and a redirect to %s/session/end", res.Status, out, st.p.Issuer)
		}
		q := end.Query()
		if q.Get("client_id") != oidcClientID || q.Get("post_logout_redirect_uri") != st.srv.URL+"/" || jwtSubject(q.Get("id_token_hint")) != "ann" {
			t.Errorf("end-session query %v: want client_id, post_logout_redirect_uri and ann's ID token as hint", q)
		}
		if status, _ := st.me(t, jar); status != http.StatusUnauthorized {
			t.Errorf("/api/me after logout: %d, want 401", status)
		}
		// The provider accepts the URL (hint and post-logout URI) and, once confirmed, sends
		// the browser back to clawchat.
		if back := endSession(t, jar, end); back != st.srv.URL+"/" {
			t.Errorf("after the provider's logout the browser goes to %q, want %s/", back, st.srv.URL)
		}
	})

	t.Run("browser: member signs in through the provider's login page and chats", func(t *testing.T) {
		b := newBrowser(t)
		st.browserSSO(t, b, "bea")
		b.wait(t, "signed-in app with a connected socket", `!!document.querySelector('.app') && !!document.querySelector('.status.ok')`, 30*time.Second)
		if role := browserFetch(t, b, `fetch('/api/me').then(r => r.json()).then(j => j.user.role)`); role != "member" {
			t.Errorf("/api/me role in the browser = %q, want member", role)
		}
		b.newChat(t)
		b.send(t, "hello from single sign-on")
		b.wait(t, "reply", `(() => { const m = document.querySelector('.msg.assistant'); return m && !m.classList.contains('streaming') && m.querySelector('.md')?.textContent.includes('Echo: hello from single sign-on'); })()`, 60*time.Second)
	})

	t.Run("browser: owner group gets the owner role", func(t *testing.T) {
		b := newBrowser(t)
		st.browserSSO(t, b, "oscar")
		b.wait(t, "signed-in app", `!!document.querySelector('.app')`, 30*time.Second)
		if role := browserFetch(t, b, `fetch('/api/me').then(r => r.json()).then(j => j.user.role)`); role != "owner" {
			t.Errorf("/api/me role in the browser = %q, want owner", role)
		}
	})

	t.Run("browser: user outside the allowlist is refused", func(t *testing.T) {
		b := newBrowser(t)
		st.browserSSO(t, b, "eve")
		// The sign-in page reads auth_error=not_allowed, says why, and drops it from the URL.
		b.wait(t, "back on clawchat's sign-in page saying the account is not allowed",
			fmt.Sprintf(`location.origin === %q && !!document.querySelector('a.button.oidc') && (document.querySelector('.error[role=alert]')?.textContent ?? '').includes('not allowed')`, st.srv.URL), 30*time.Second)
		if status := browserFetch(t, b, `fetch('/api/me').then(r => String(r.status))`); status != "401" {
			t.Errorf("/api/me in the refused browser answers %s, want 401", status)
		}
	})

	t.Run("secrets stay out of clawchat's log", func(t *testing.T) {
		log := st.srv.log.String()
		if strings.Contains(log, st.secret) {
			t.Error("clawchat's log contains the OIDC client secret")
		}
		if m := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.eyJ`).FindString(log); m != "" {
			t.Errorf("clawchat's log contains a JWT: %s…", m)
		}
	})
}

// browserSSO opens clawchat in b, clicks "Sign in with <label>", signs in on the provider's
// login page as login and grants consent.
func (st *oidcStack) browserSSO(t *testing.T, b *browser, login string) {
	t.Helper()
	b.do(t, "open clawchat", chromedp.Navigate(st.srv.URL+"/"))
	b.wait(t, "the single sign-on button", `document.querySelector('a.button.oidc')?.textContent === 'Sign in with `+oidcLabel+`'`, 20*time.Second)
	b.do(t, "click Sign in with "+oidcLabel, chromedp.Click(chromedp.CSS("a.button.oidc")))
	waitAcrossNavigation(t, b, "the provider's login page", fmt.Sprintf(`location.origin === %q && !!document.querySelector('input[name=login]')`, st.p.Issuer), 20*time.Second)
	b.do(t, "sign in at the provider",
		chromedp.SendKeys(chromedp.CSS("input[name=login]"), login),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), "any password"),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
	)
	waitAcrossNavigation(t, b, "the provider's consent page", `!!document.querySelector('input[name=prompt][value=consent]')`, 20*time.Second)
	b.do(t, "consent", chromedp.Click(chromedp.CSS("button[type=submit]")))
	waitAcrossNavigation(t, b, "back on clawchat", fmt.Sprintf(`location.origin === %q`, st.srv.URL), 20*time.Second)
}

// waitAcrossNavigation polls a JavaScript predicate until it is true, like browser.wait, but
// survives the page being replaced while it polls (cross-origin navigations between clawchat
// and the provider destroy the execution context chromedp.Poll runs in).
func waitAcrossNavigation(t *testing.T, b *browser, what, js string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond) // a page load in another process: nothing to wait on
	}
	where, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href + "\n" + (document.body ? document.body.innerText.slice(0, 2000) : "")`))
	t.Fatalf("waiting for %s (last error %v); page:\n%s", what, last, where)
}

// browserFetch evaluates a promise-returning expression in b's page and returns its string.
func browserFetch(t *testing.T, b *browser, js string) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// jwtSubject returns the sub claim of a JWT without verifying it ("" when malformed).
func jwtSubject(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal(b, &c)
	return c.Sub
}

var (
	reLogoutForm = regexp.MustCompile(`<form[^>]*\baction="([^"]+)"[^>]*\bid="op.logoutForm"|<form[^>]*\bid="op.logoutForm"[^>]*\baction="([^"]+)"`)
	reXSRF       = regexp.MustCompile(`name="xsrf" value="([^"]+)"`)
)

// endSession follows the provider's RP-initiated logout like a browser: it opens end, confirms
// "Yes, sign me out" and returns where the provider sends the browser afterwards.
func endSession(t *testing.T, jar http.CookieJar, end *url.URL) string {
	t.Helper()
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(end.String())
	if err != nil {
		t.Fatalf("end session: %v", err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fm, xm := reLogoutForm.FindSubmatch(page), reXSRF.FindSubmatch(page)
	if res.StatusCode != http.StatusOK || fm == nil || xm == nil {
		t.Fatalf("end session page: %s, form %v, xsrf %v:\n%s", res.Status, fm != nil, xm != nil, page)
	}
	action := string(fm[1]) + string(fm[2])
	target, err := end.Parse(action)
	if err != nil {
		t.Fatalf("logout form action %q: %v", action, err)
	}
	res, err = hc.PostForm(target.String(), url.Values{"xsrf": {string(xm[1])}, "logout": {"yes"}})
	if err != nil {
		t.Fatalf("confirm logout: %v", err)
	}
	res.Body.Close()
	for range 5 { // the provider may pass through its own routes first
		loc, err := res.Location()
		if err != nil {
			t.Fatalf("confirm logout: %s without a redirect", res.Status)
		}
		if loc.Host != end.Host {
			return loc.String()
		}
		if res, err = hc.Get(loc.String()); err != nil {
			t.Fatalf("logout redirect: %v", err)
		}
		res.Body.Close()
	}
	t.Fatal("logout: too many redirects at the provider")
	return ""
}
