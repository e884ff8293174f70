package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/websec"
)

// fastParams keep tests quick; production parameters are covered by TestHasherParams.
var fastParams = argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// countingStore counts TouchSession calls.
type countingStore struct {
	*MemoryStore
	touches atomic.Int64
}

func (c *countingStore) TouchSession(ctx context.Context, id string, at time.Time) error {
	c.touches.Add(1)
	return c.MemoryStore.TouchSession(ctx, id, at)
}

type env struct {
	t     *testing.T
	svc   *Service
	store *countingStore
	clock *fakeClock
	logs  *syncBuffer
	mux   *http.ServeMux
}

func newEnv(t *testing.T, cfg Config) *env { t.Helper(); return newEnvClock(t, cfg, newClock()) }

func newEnvClock(t *testing.T, cfg Config, clock *fakeClock) *env {
	t.Helper()
	h, err := newHasher(fastParams, 2)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: &countingStore{MemoryStore: NewMemoryStore()}, clock: clock, logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc, err = New(context.Background(), cfg, Deps{Store: e.store, Logger: log, Now: e.clock.Now, hasher: h})
	if err != nil {
		t.Fatal(err)
	}
	e.mux = newMux(e.svc)
	return e
}

func newMux(svc *Service) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", svc.Login)
	mux.HandleFunc("POST /logout", svc.Logout)
	mux.Handle("POST /api/account/logout-all", svc.RequireUser(http.HandlerFunc(svc.LogoutAll)))
	mux.Handle("POST /api/account/password", svc.RequireUser(http.HandlerFunc(svc.ChangePassword)))
	mux.Handle("GET /api/me", svc.RequireUser(http.HandlerFunc(svc.Me)))
	mux.HandleFunc("GET /auth/oidc/login", svc.OIDCLogin)
	mux.HandleFunc("GET /auth/oidc/callback", svc.OIDCCallback)
	return mux
}

func (e *env) addUser(name, pw string, role chat.Role) chat.Account {
	e.t.Helper()
	hash, err := e.svc.hasher.Hash(context.Background(), pw)
	if err != nil {
		e.t.Fatal(err)
	}
	acc := chat.Account{ID: NewAccountID(), Username: name, Role: role, PasswordHash: hash, CreatedAt: e.clock.Now()}
	if err := e.store.CreateAccount(context.Background(), acc); err != nil {
		e.t.Fatal(err)
	}
	return acc
}

type reqOpt func(*http.Request)

func withCookie(v string) reqOpt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: SessionCookie, Value: v}) }
}
func withRemote(a string) reqOpt    { return func(r *http.Request) { r.RemoteAddr = a } }
func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

func (e *env) do(method, target string, body io.Reader, ctype string, opts ...reqOpt) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	r.RemoteAddr = "192.0.2.10:40000"
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	return w
}

func (e *env) loginJSON(user, pw string, opts ...reqOpt) *httptest.ResponseRecorder {
	b, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	return e.do("POST", "/login", bytes.NewReader(b), "application/json", opts...)
}

func (e *env) loginForm(user, pw, next string, opts ...reqOpt) *httptest.ResponseRecorder {
	v := url.Values{"username": {user}, "password": {pw}}
	if next != "" {
		v.Set("next", next)
	}
	return e.do("POST", "/login", strings.NewReader(v.Encode()), "application/x-www-form-urlencoded",
		append([]reqOpt{withHeader("Accept", "text/html")}, opts...)...)
}

func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", w.Result().Header["Set-Cookie"])
	return nil
}

func mustPrefixes(s string) []netip.Prefix {
	ps, err := websec.ParsePrefixes(s)
	if err != nil {
		panic(err)
	}
	return ps
}

func newReq(remote string, kv ...string) *http.Request {
	r := httptest.NewRequest("GET", "/ws", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Set(kv[i], kv[i+1])
	}
	return r
}
