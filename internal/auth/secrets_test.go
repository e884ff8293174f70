package auth

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/chat"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Idle keep-alive connections of http.DefaultTransport (go-oidc's JWKS fetches, httptest).
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// TestSecretsNeverLeak drives every local sign-in path and checks that no password, password
// hash or session token appears in the logs, the audit log, error responses or the user JSON.
func TestSecretsNeverLeak(t *testing.T) {
	e := newEnv(t, Config{Throttle: ThrottleConfig{AccountFailures: 3}})
	const pw = "Sup3r-Secret-Passw0rd"
	acc := e.addUser("alice", pw, chat.RoleOwner)
	var bodies []string
	record := func(w interface {
		Header() http.Header
	}, body string) {
		bodies = append(bodies, body+fmt.Sprint(w.Header()))
	}
	w := e.loginJSON("alice", pw)
	tok := sessionCookie(t, w).Value // the Set-Cookie header is the one place the token may appear
	bodies = append(bodies, w.Body.String())
	for _, try := range []string{pw + "x", "Sup3r-Secret-Passw0rd-typo", pw + "x", pw} { // ends throttled
		w := e.loginJSON("alice", try)
		record(w, w.Body.String())
	}
	w = e.loginJSON("Sup3r-Secret-Passw0rd-in-username", "whatever")
	record(w, w.Body.String())
	me := e.do("GET", "/api/me", nil, "", withCookie(tok))
	record(me, me.Body.String())
	lo := e.do("POST", "/logout", nil, "", withCookie(tok))
	bodies = append(bodies, lo.Body.String())
	all := e.logs.String() + fmt.Sprint(e.store.Audit()) + strings.Join(bodies, "\n")
	for name, secret := range map[string]string{"password": pw, "hash": acc.PasswordHash, "hash salt part": strings.Split(acc.PasswordHash, "$")[4],
		"session token": tok, "session id": hashToken(tok)} {
		if strings.Contains(all, secret) {
			t.Errorf("%s leaked", name)
		}
	}
	// A password typed into the username field is recorded as a (truncated) username only in the
	// audit trail: that is the one place a mistyped secret can surface, and it is never in responses.
	if strings.Contains(strings.Join(bodies, "\n"), "in-username") {
		t.Error("username echoed in a response")
	}
	for _, must := range []string{`"action":"login.success"`, `"action":"login.failure"`, `"action":"login.throttled"`, `"action":"logout"`} {
		if !strings.Contains(e.logs.String(), must) {
			t.Errorf("log lacks %s", must)
		}
	}
}
