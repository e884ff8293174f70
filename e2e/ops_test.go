package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/push"
	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// Operations end-to-end tests: the smoke command against a running deployment, readiness
// following the Gateway, and secrets never leaving the server.

// runSmoke runs `clawchat smoke` with the password on stdin and returns its output.
func runSmoke(t *testing.T, srv *server, user, password string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, srv.bin, "smoke", "--url", srv.URL, "--user", user, "--password-stdin")
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), password) {
		t.Errorf("smoke printed the password:\n%s", out)
	}
	return string(out), err
}

func TestSmokeCommand(t *testing.T) {
	g := ownGateway(t, ochar.Options{})
	srv := startServer(t, g)

	out, err := runSmoke(t, srv, "alice", alicePass)
	if err != nil || !strings.Contains(out, "smoke: ok") {
		t.Fatalf("smoke against a healthy deployment: %v\n%s", err, out)
	}

	out, err = runSmoke(t, srv, "alice", "wrong-password-123")
	if err == nil || !strings.Contains(out, "wrong user name or password") {
		t.Errorf("smoke with a wrong password: err=%v\n%s", err, out)
	}

	// The Gateway goes down: readiness turns 503 and smoke says why.
	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, srv.URL+"/readyz", http.StatusServiceUnavailable, 2*time.Minute)
	out, err = runSmoke(t, srv, "alice", alicePass)
	if err == nil || !strings.Contains(out, "Gateway connection is down") {
		t.Errorf("smoke with the gateway down: err=%v\n%s", err, out)
	}
}

// TestReadinessFollowsGateway: /readyz is 200 with the Gateway up, 503 while it is down, and 200
// again once it is back, with no restart of clawchat.
func TestReadinessFollowsGateway(t *testing.T) {
	g := ownGateway(t, ochar.Options{})
	srv := startServer(t, g)
	waitStatus(t, srv.URL+"/readyz", http.StatusOK, time.Minute)
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, srv.URL+"/readyz", http.StatusServiceUnavailable, time.Minute)
	if st := getStatus(t, srv.URL+"/healthz"); st != http.StatusOK {
		t.Errorf("/healthz = %d while the gateway is down, want 200", st)
	}
	if err := g.Restart(ctxT(t, 3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, srv.URL+"/readyz", http.StatusOK, 2*time.Minute)
}

// TestSecretsNeverLeave runs a session through every kind of route and checks that no response
// body or header, and no log line, carries any of the deployment's secrets.
func TestSecretsNeverLeave(t *testing.T) {
	g := sharedGateway(t)
	vapidPub, vapidPriv, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	srv := startServerWith(t, g, g.URL, "CLAWCHAT_LOG_LEVEL=debug",
		"CLAWCHAT_VAPID_PUBLIC_KEY="+vapidPub, "CLAWCHAT_VAPID_PRIVATE_KEY="+vapidPriv,
		"CLAWCHAT_VAPID_SUBJECT=mailto:ops@clawchat.example.org")
	secrets := map[string]string{
		"gateway token":     g.Token,
		"alice password":    alicePass,
		"bob password":      bobPass,
		"VAPID private key": vapidPriv,
	}
	alice := signIn(t, srv.URL, "alice", alicePass)
	cookieValue := strings.TrimPrefix(alice.cookie, "clawchat_session=")

	var seen bytes.Buffer
	record := func(method, path string, body io.Reader, hdr map[string]string) {
		req, _ := http.NewRequest(method, srv.URL+path, body)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for k, vs := range res.Header {
			if k == "Set-Cookie" {
				continue // carries the new session token by design
			}
			seen.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
		seen.Write(b)
	}
	withCookie := map[string]string{"Cookie": alice.cookie, "Content-Type": "application/json"}
	r := alice.send("secrets", "tell me the token [delay=5]")
	ev := alice.events("")
	ev.waitFor(90*time.Second, "final", hasEvent("run.final", r.RunID))
	for _, p := range []string{"/", "/healthz", "/readyz", "/api/health", "/api/config", "/api/me", "/api/sessions",
		"/api/sessions/secrets/history", "/metrics", "/api/sessions/nope/history", "/api/reactions/secrets",
		"/api/auth", "/api/login-options"} {
		record("GET", p, nil, withCookie)
	}
	record("POST", "/login", strings.NewReader(`{"username":"alice","password":"wrong-`+alicePass+`"}`), map[string]string{"Content-Type": "application/json"})
	record("POST", "/login", strings.NewReader(`{"username":"nobody","password":"x"}`), map[string]string{"Content-Type": "application/json"})
	record("POST", "/api/sessions/secrets/send", strings.NewReader(`{"message":"`+strings.Repeat("x", 40<<10)+`"}`), withCookie)
	record("POST", "/api/sessions/BAD/send", strings.NewReader(`{"message":"hi"}`), withCookie)
	record("GET", "/api/sessions", nil, map[string]string{"Cookie": "clawchat_session=forged"})
	record("POST", "/logout", strings.NewReader(`{}`), withCookie)
	for _, e := range ev.snapshot() {
		seen.WriteString(e.Name + " ")
		for k, v := range e.Data {
			seen.WriteString(k + "=" + strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmtAny(v), "\n", " "), "\r", "")) + " ")
		}
	}
	srv.stop() // flush the log
	logs := srv.log.String()
	for name, s := range secrets {
		if strings.Contains(seen.String(), s) {
			t.Errorf("a response carries the %s", name)
		}
		if strings.Contains(logs, s) {
			t.Errorf("the log carries the %s", name)
		}
	}
	if strings.Contains(logs, cookieValue) {
		t.Errorf("the log carries a session token")
	}
	if strings.Contains(seen.String(), "/tmp/") || strings.Contains(seen.String(), "__openclaw__/cap") {
		t.Errorf("a response carries a server path or a Gateway capability URL")
	}
}

func fmtAny(v any) string {
	switch x := v.(type) {
	case string:
		return x
	default:
		b, _ := jsonMarshal(x)
		return string(b)
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

func waitStatus(t *testing.T, url string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if getStatus(t, url) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %d within %s", url, want, timeout)
		}
		time.Sleep(200 * time.Millisecond) // readiness has no push signal
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
