package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// miso-chat compatibility: clawchat configured only with miso-chat's environment variables, in
// front of the real Gateway, answers what miso-chat's post-deploy smoke script
// (scripts/post-deploy-smoke.sh: health, login-options, form login, /api/auth, send) and its web
// client (sessions, history, reactions) send and read. The requests are written here in Go from
// miso-chat's routes and README; no miso-chat code is used.

// misoCurl is a curl-like client with a cookie jar (curl -c/-b) that never follows redirects
// (curl without -L) and sends no Origin or Sec-Fetch-* headers.
type misoCurl struct {
	t       *testing.T
	base    string
	cookies map[string]string
}

func (c *misoCurl) do(method, path, ctype string, body io.Reader) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "*/*")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 20 * time.Second}
	res, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, ck := range res.Cookies() {
		c.cookies[ck.Name] = ck.Value
	}
	return res, b
}

// json does a request and decodes the answer; like `curl -fsS … | jq`, a status ≥ 400 fails.
func (c *misoCurl) json(method, path string, in any, out any) {
	c.t.Helper()
	var body io.Reader
	ctype := ""
	if in != nil {
		b, _ := json.Marshal(in)
		body, ctype = bytes.NewReader(b), "application/json"
	}
	res, b := c.do(method, path, ctype, body)
	if res.StatusCode >= 400 {
		c.t.Fatalf("%s %s: %s %s", method, path, res.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		c.t.Fatalf("%s %s: %q: %v", method, path, b, err)
	}
}

func (c *misoCurl) formLogin(user, pass, returnTo string) *http.Response {
	c.t.Helper()
	v := url.Values{"username": {user}, "password": {pass}, "return_to": {returnTo}}
	res, _ := c.do("POST", "/login", "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
	return res
}

func TestMisoChatCompatibility(t *testing.T) {
	g := sharedGateway(t)
	const adminPass = "miso-admin-password-123"
	port := freeLoopbackPort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	gwHTTP := "http://" + strings.TrimPrefix(g.URL, "ws://") // miso-chat's GATEWAY_URL is http(s)
	srv := &server{
		t: t, bin: buildClawchat(t), URL: base, log: &lockedBuffer{},
		env: []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + t.TempDir(),
			"CLAWCHAT_DATA_DIR=" + t.TempDir(), // miso-chat keeps no state that clawchat could read
			// miso-chat's variables only, as its README and pre-merge smoke set them:
			fmt.Sprintf("PORT=%d", port),
			"GATEWAY_URL=" + gwHTTP,
			"GATEWAY_TOKEN=" + g.Token,
			"LOCAL_USERS=admin:" + adminPass,
			"SESSION_SECRET=ci-pre-merge-session-secret-0123456789012345678901234567",
			"SESSION_COOKIE_SECURE=false", // plain http on loopback, as miso-chat's docs say
			"SESSION_COOKIE_SAMESITE=strict",
			"CSRF_TRUSTED_ORIGINS=https://chat.example.com",
		},
	}
	srv.start()
	t.Cleanup(srv.stop)
	for _, want := range []string{
		"GATEWAY_URL is deprecated (a miso-chat name): use OPENCLAW_GATEWAY_URL instead",
		"LOCAL_USERS is deprecated (a miso-chat name): use CLAWCHAT_LOCAL_USERS instead",
		"SESSION_SECRET (a miso-chat name) is accepted and ignored",
	} {
		if !strings.Contains(srv.log.String(), want) {
			t.Errorf("no notice %q in the log:\n%s", want, srv.log.String())
		}
	}
	if strings.Contains(srv.log.String(), adminPass) || strings.Contains(srv.log.String(), g.Token) {
		t.Error("a secret reached the log")
	}
	c := &misoCurl{t: t, base: base, cookies: map[string]string{}}

	// [1/4] health: status == "healthy", version shown when present.
	var health struct {
		Status, Version, Gateway string
	}
	c.json("GET", "/api/health", nil, &health)
	if health.Status != "healthy" || health.Version == "" || health.Gateway != "connected" {
		t.Errorf("/api/health = %+v", health)
	}

	// [2/4] auth mode.
	var opts struct {
		RequiresAuth     *bool  `json:"requiresAuth"`
		AuthMode         string `json:"authMode"`
		LocalAuthEnabled bool   `json:"localAuthEnabled"`
	}
	c.json("GET", "/api/login-options", nil, &opts)
	if opts.RequiresAuth == nil || !*opts.RequiresAuth || !opts.LocalAuthEnabled || opts.AuthMode != "local" {
		t.Fatalf("/api/login-options = %+v", opts)
	}
	var auth struct {
		Authenticated bool `json:"authenticated"`
		User          struct {
			Username string `json:"username"`
		} `json:"user"`
	}
	c.json("GET", "/api/auth", nil, &auth)
	if auth.Authenticated {
		t.Fatal("/api/auth says authenticated before sign-in")
	}

	// A wrong password does not pass the script's check (no 302 to the app).
	if res := c.formLogin("admin", "wrong-password-000", "/"); res.StatusCode == http.StatusFound && !strings.HasPrefix(res.Header.Get("Location"), "/login?error=") {
		t.Errorf("wrong password: %s Location %q", res.Status, res.Header.Get("Location"))
	}
	// An off-site return_to is not honoured.
	if res := c.formLogin("admin", adminPass, "https://evil.example/"); res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/" {
		t.Errorf("off-site return_to: %s Location %q", res.Status, res.Header.Get("Location"))
	}

	// [3/4] form login: 302, not to /login?error=, then /api/auth says authenticated.
	res := c.formLogin("admin", adminPass, "/")
	if res.StatusCode != http.StatusFound || strings.HasPrefix(res.Header.Get("Location"), "/login?error=") || res.Header.Get("Location") != "/" {
		t.Fatalf("login: %s Location %q", res.Status, res.Header.Get("Location"))
	}
	c.json("GET", "/api/auth", nil, &auth)
	if !auth.Authenticated || auth.User.Username != "admin" {
		t.Fatalf("/api/auth after sign-in = %+v", auth)
	}

	// The web client opens its event stream before sending.
	events := (&apiClient{t: t, base: base, cookie: "clawchat_session=" + c.cookies["clawchat_session"]}).events("")
	defer events.close()

	// [4/4] send: success == true (the script's default session key is "default").
	const msg = "deploy smoke ping 2026-12-03T14:00:00Z"
	var sent struct {
		Success bool   `json:"success"`
		OK      bool   `json:"ok"`
		RunID   string `json:"runId"`
		Error   any    `json:"error"`
	}
	c.json("POST", "/api/sessions/default/send", map[string]string{"message": msg}, &sent)
	if !sent.Success || !sent.OK || sent.RunID == "" {
		t.Fatalf("send = %+v", sent)
	}
	events.waitFor(90*time.Second, "the reply", hasEvent("run.final", sent.RunID))

	// The web client: the session list, the history, reactions.
	var list struct {
		Sessions []struct {
			Key, SessionKey, DisplayName string
		} `json:"sessions"`
	}
	c.json("GET", "/api/sessions", nil, &list)
	if len(list.Sessions) != 1 || list.Sessions[0].Key != "default" || list.Sessions[0].SessionKey != "default" || list.Sessions[0].DisplayName == "" {
		t.Fatalf("/api/sessions = %+v", list)
	}
	var hist struct {
		SessionKey string `json:"sessionKey"`
		Messages   []struct {
			ID        string     `json:"id"`
			Role      string     `json:"role"`
			Content   string     `json:"content"`
			Timestamp *time.Time `json:"timestamp"`
		} `json:"messages"`
	}
	c.json("GET", "/api/sessions/default/history", nil, &hist)
	var reply string
	for _, m := range hist.Messages {
		if m.Role == "assistant" && strings.HasPrefix(m.Content, "Echo: "+msg) && m.Timestamp != nil {
			reply = m.ID
		}
	}
	if hist.SessionKey != "default" || reply == "" {
		t.Fatalf("history has no assistant reply with content and timestamp: %+v", hist)
	}
	// The text alias of send (miso-chat's client sends {text} in places).
	c.json("POST", "/api/sessions/default/send", map[string]string{"text": "second"}, &sent)
	if !sent.Success {
		t.Errorf("send {text} = %+v", sent)
	}
	events.waitFor(90*time.Second, "the second reply", hasEvent("run.final", sent.RunID))

	var toggled struct {
		Success   bool                `json:"success"`
		MessageID string              `json:"messageId"`
		Action    string              `json:"action"`
		Emoji     string              `json:"emoji"`
		Reactions map[string][]string `json:"reactions"`
	}
	c.json("POST", "/api/messages/"+reply+"/reactions", map[string]string{"emoji": "👍", "sessionKey": "default"}, &toggled)
	if !toggled.Success || toggled.MessageID != reply || toggled.Action != "added" || toggled.Emoji != "👍" {
		t.Errorf("toggle = %+v", toggled)
	}
	var all struct {
		SessionKey string                         `json:"sessionKey"`
		Reactions  map[string]map[string][]string `json:"reactions"`
	}
	c.json("GET", "/api/reactions/default", nil, &all)
	if all.SessionKey != "default" || len(all.Reactions[reply]["👍"]) != 1 || all.Reactions[reply]["👍"][0] != "admin" {
		t.Errorf("/api/reactions/default = %+v", all)
	}
	var one struct {
		MessageID string              `json:"messageId"`
		Reactions map[string][]string `json:"reactions"`
	}
	c.json("GET", "/api/messages/"+reply+"/reactions?sessionKey=default", nil, &one)
	if one.MessageID != reply || len(one.Reactions["👍"]) != 1 {
		t.Errorf("message reactions = %+v", one)
	}
	c.json("POST", "/api/messages/"+reply+"/reactions", map[string]string{"emoji": "👍", "sessionKey": "default"}, &toggled)
	if !toggled.Success || toggled.Action != "removed" {
		t.Errorf("second toggle = %+v", toggled)
	}
}
