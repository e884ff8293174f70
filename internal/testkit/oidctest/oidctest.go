// Package oidctest runs a real OpenID provider for clawchat's end-to-end tests: the npm
// package oidc-provider (OpenID Certified), installed once into the shared test cache and run
// under the Node.js 24 that internal/testkit/ochar installs. The provider has a static account table,
// confidential clients (client_secret_basic), PKCE required, the claims openid, email,
// profile and groups in the ID token, its built-in development login page (any login name
// from the table, any password) and consent page, and RP-initiated logout. Accounts can be
// made to receive deliberately broken ID tokens (wrong audience or issuer, expired, replayed
// nonce) so that a relying party's checks can be tested against a real provider.
//
// It is test support: the server never imports it. The process is stopped by PID only.
package oidctest

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

//go:embed provider.mjs
var providerScript []byte

// Options configure Start. Clients and Accounts are required.
type Options struct {
	// CacheDir is the install cache ("" = ochar.DefaultCacheDir, i.e. $CLAWCHAT_TEST_CACHE or
	// ~/.cache/clawchat).
	CacheDir string
	// Install, when set, is used instead of calling EnsureInstalled.
	Install *Install
	// Progress receives install progress lines (nil: discarded; Start logs them to t).
	Progress io.Writer
	// Clients are the registered relying parties.
	Clients []Client
	// Accounts is the account table; Account.Subject is also the login name.
	Accounts []Account
	// IDTokenTTL is the lifetime of issued ID tokens (default 10 minutes; rounded up to whole
	// seconds, at least 1s: oidc-provider refuses zero or negative lifetimes, see
	// Tamper.ExpiredBy for already-expired tokens).
	IDTokenTTL time.Duration
	// ReadyTimeout bounds the wait for the discovery document (default 30s).
	ReadyTimeout time.Duration
}

// Client is one registered confidential client (token_endpoint_auth_method
// client_secret_basic, response type code, grant type authorization_code).
type Client struct {
	ID, Secret             string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
}

// Account is one end-user. Claims are released by scope: email and email_verified (email),
// preferred_username and name (profile), groups (groups). Empty fields are omitted.
type Account struct {
	Subject       string   `json:"sub"` // the sub claim and the login name on the login page
	Email         string   `json:"email,omitempty"`
	EmailVerified bool     `json:"emailVerified,omitempty"`
	Username      string   `json:"username,omitempty"` // preferred_username
	Name          string   `json:"name,omitempty"`
	Groups        []string `json:"groups,omitempty"`
	// Tamper, when not zero, makes every ID token issued to this account deliberately broken.
	Tamper Tamper `json:"tamper,omitzero"`
}

// Tamper describes deliberate defects of an account's ID tokens. The provider issues the
// token as usual and then rewrites the named claims and signs it again with its own key, so
// the signature stays valid and the named defect is the only one.
type Tamper struct {
	// Audience replaces aud.
	Audience string `json:"audience,omitempty"`
	// Issuer replaces iss.
	Issuer string `json:"issuer,omitempty"`
	// ExpiredBy, when positive, sets exp that far in the past (whole seconds) and iat one
	// minute before it.
	ExpiredBy time.Duration `json:"-"`
	// ReplayNonce puts the nonce of this account's previous ID token into the next one (the
	// first token keeps its own nonce).
	ReplayNonce bool `json:"replayNonce,omitempty"`
}

// MarshalJSON encodes ExpiredBy as whole seconds for the script.
func (t Tamper) MarshalJSON() ([]byte, error) {
	type plain Tamper
	return json.Marshal(struct {
		plain
		ExpiredBy int64 `json:"expiredBy,omitempty"`
	}{plain(t), ceilSeconds(t.ExpiredBy)})
}

// Provider is a running oidc-provider started by Start or StartContext. Its fields are fixed;
// methods are safe for concurrent use.
type Provider struct {
	// Issuer is http://127.0.0.1:PORT (no trailing slash).
	Issuer string
	// Port is the loopback port it listens on.
	Port int

	dir      string
	cmd      *exec.Cmd
	done     chan struct{}
	log      *lockedBuffer
	stopOnce sync.Once
	stopErr  error
}

// Start installs oidc-provider when missing, starts it and stops it in t.Cleanup; it fails the
// test (never skips) when the provider cannot start. On failure of the test the provider's
// output is logged.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	if opts.Progress == nil {
		opts.Progress = tWriter{t}
	}
	p, err := StartContext(t.Context(), opts)
	if err != nil {
		t.Fatalf("start oidc-provider: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop oidc-provider: %v", err)
		}
		if t.Failed() {
			t.Logf("oidc-provider output:\n%s", p.Logs())
		}
	})
	return p
}

// StartContext is Start without a testing.TB: the caller must call Stop. ctx bounds the
// install and the startup only, not the provider's life.
func StartContext(ctx context.Context, opts Options) (*Provider, error) {
	if len(opts.Clients) == 0 || len(opts.Accounts) == 0 {
		return nil, errors.New("oidctest: Options need at least one client and one account")
	}
	in := opts.Install
	if in == nil {
		i, err := EnsureInstalled(ctx, opts.CacheDir, opts.Progress)
		if err != nil {
			return nil, err
		}
		in = &i
	}
	ttl := opts.IDTokenTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	ready := opts.ReadyTimeout
	if ready <= 0 {
		ready = 30 * time.Second
	}
	type jsonClient struct {
		ID                     string   `json:"id"`
		Secret                 string   `json:"secret"`
		RedirectURIs           []string `json:"redirectURIs"`
		PostLogoutRedirectURIs []string `json:"postLogoutRedirectURIs"`
	}
	cfg := struct {
		ModuleDir  string       `json:"moduleDir"`
		IDTokenTTL int64        `json:"idTokenTTL"`
		Clients    []jsonClient `json:"clients"`
		Accounts   []Account    `json:"accounts"`
	}{ModuleDir: in.ModuleDir, IDTokenTTL: max(ceilSeconds(ttl), 1), Accounts: opts.Accounts}
	for _, c := range opts.Clients {
		cfg.Clients = append(cfg.Clients, jsonClient(c))
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("oidctest: config: %w", err)
	}
	dir, err := os.MkdirTemp("", "oidctest-")
	if err != nil {
		return nil, fmt.Errorf("oidctest: %w", err)
	}
	script, cfgPath := filepath.Join(dir, "provider.mjs"), filepath.Join(dir, "config.json")
	if err := os.WriteFile(script, providerScript, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("oidctest: %w", err)
	}
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil { // holds client secrets
		os.RemoveAll(dir)
		return nil, fmt.Errorf("oidctest: %w", err)
	}

	p := &Provider{dir: dir, done: make(chan struct{}), log: &lockedBuffer{}}
	p.cmd = exec.Command(in.Node, script, cfgPath)
	p.cmd.Dir = dir
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "NODE_ENV=test"}
	p.cmd.Stderr = p.log
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("oidctest: %w", err)
	}
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("oidctest: start node: %w", err)
	}
	portc := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if port, ok := strings.CutPrefix(line, "READY "); ok {
				if n, err := strconv.Atoi(port); err == nil {
					select {
					case portc <- n:
					default:
					}
				}
			}
			fmt.Fprintln(p.log, line)
		}
		io.Copy(io.Discard, stdout) // after a scanner error, drain so the process never blocks
		_ = p.cmd.Wait()
		close(p.done)
	}()

	fail := func(err error) (*Provider, error) {
		p.Stop()
		return nil, fmt.Errorf("%w\n%s", err, tail(p.Logs(), 4000))
	}
	timer := time.NewTimer(ready)
	defer timer.Stop()
	select {
	case p.Port = <-portc:
	case <-p.done:
		return fail(errors.New("oidctest: oidc-provider exited during startup"))
	case <-timer.C:
		return fail(fmt.Errorf("oidctest: oidc-provider not listening after %s", ready))
	case <-ctx.Done():
		return fail(fmt.Errorf("oidctest: startup: %w", ctx.Err()))
	}
	p.Issuer = "http://127.0.0.1:" + strconv.Itoa(p.Port)
	for {
		if err := p.discoveryOK(ctx); err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return fail(errors.New("oidctest: oidc-provider exited during startup"))
		case <-timer.C:
			return fail(fmt.Errorf("oidctest: no discovery document after %s", ready))
		case <-ctx.Done():
			return fail(fmt.Errorf("oidctest: startup: %w", ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// discoveryOK checks that the discovery document names the expected issuer.
func (p *Provider) discoveryOK(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK || doc.Issuer != p.Issuer {
		return fmt.Errorf("discovery: %s, issuer %q", res.Status, doc.Issuer)
	}
	return nil
}

// PID returns the node process's id.
func (p *Provider) PID() int { return p.cmd.Process.Pid }

// Logs returns what the provider printed so far (it never prints client secrets).
func (p *Provider) Logs() string { return p.log.String() }

// Stop ends the provider by PID (SIGTERM, SIGKILL after 5s) and removes its run directory.
// It is idempotent.
func (p *Provider) Stop() error {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if err := os.RemoveAll(p.dir); err != nil {
			p.stopErr = fmt.Errorf("oidctest: remove run dir: %w", err)
		}
	})
	return p.stopErr
}

var (
	reForm  = regexp.MustCompile(`(?is)<form\b[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>`)
	reInput = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	reAttr  = regexp.MustCompile(`(?is)\b(name|value|type)="([^"]*)"`)
)

// Authorize walks one authorization-code sign-in with a plain HTTP client, the way a browser
// would: it GETs start (typically the relying party's login route, which redirects to the
// provider), follows redirects, signs in on the provider's login page as login (any password)
// and grants consent when asked. It returns the URL the provider finally redirects to outside
// itself (the relying party's callback with code and state, or with error) without requesting
// it. jar holds the cookies of both sites (the relying party's pre-login cookie and the
// provider's session); pass the same jar to request the callback.
func (p *Provider) Authorize(ctx context.Context, jar http.CookieJar, start, login string) (*url.URL, error) {
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	method, target, form := http.MethodGet, start, url.Values(nil)
	for range 20 {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, target, body)
		if err != nil {
			return nil, fmt.Errorf("oidctest: authorize: %w", err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("oidctest: authorize: %w", err)
		}
		page, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		fromProvider := req.URL.Host == "127.0.0.1:"+strconv.Itoa(p.Port)
		switch {
		case res.StatusCode/100 == 3:
			loc, err := res.Location()
			if err != nil {
				return nil, fmt.Errorf("oidctest: authorize: %s from %s without Location", res.Status, req.URL.Path)
			}
			if fromProvider && loc.Host != req.URL.Host {
				return loc, nil
			}
			method, target, form = http.MethodGet, loc.String(), nil
		case res.StatusCode == http.StatusOK && fromProvider:
			m := reForm.FindSubmatch(page)
			if m == nil {
				return nil, fmt.Errorf("oidctest: authorize: no form on %s: %s", req.URL.Path, tail(string(page), 500))
			}
			action, err := req.URL.Parse(html.UnescapeString(string(m[1])))
			if err != nil {
				return nil, fmt.Errorf("oidctest: authorize: form action: %w", err)
			}
			form = url.Values{}
			for _, in := range reInput.FindAll(m[2], -1) {
				attrs := map[string]string{}
				for _, a := range reAttr.FindAllSubmatch(in, -1) {
					attrs[strings.ToLower(string(a[1]))] = html.UnescapeString(string(a[2]))
				}
				switch {
				case attrs["name"] == "login":
					form.Set("login", login)
				case attrs["type"] == "password":
					form.Set(attrs["name"], "any-password")
				case attrs["name"] != "":
					form.Set(attrs["name"], attrs["value"])
				}
			}
			method, target = http.MethodPost, action.String()
		default:
			return nil, fmt.Errorf("oidctest: authorize: %s %s: %s: %s", method, req.URL.Path, res.Status, tail(string(page), 500))
		}
	}
	return nil, errors.New("oidctest: authorize: too many steps (is the login name in the account table?)")
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// lockedBuffer is a goroutine-safe log sink.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
