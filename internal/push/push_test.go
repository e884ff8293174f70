package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/push"
	"github.com/clawchat/clawchat/internal/testkit/pushtest"
	"github.com/clawchat/clawchat/internal/testkit/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(storetest.Main(m)) }

// claims is a ClaimOnce shared by several fake stores, like one database behind two instances.
type claims struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (c *claims) claim(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[key] {
		return false
	}
	c.seen[key] = true
	return true
}

// memStore is an in-memory push.Store.
type memStore struct {
	mu      sync.Mutex
	subs    map[string]chat.PushSubscription
	touched map[string]int
	claims  *claims
}

func newStore(c *claims) *memStore {
	if c == nil {
		c = &claims{seen: map[string]bool{}}
	}
	return &memStore{subs: map[string]chat.PushSubscription{}, touched: map[string]int{}, claims: c}
}

func (m *memStore) SavePushSubscription(_ context.Context, s chat.PushSubscription) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.subs[s.Endpoint]; ok && old.UserID != s.UserID { // like store.DB
		return chat.ErrConflict
	}
	m.subs[s.Endpoint] = s
	return nil
}

func (m *memStore) PushSubscriptions(_ context.Context, userID string) ([]chat.PushSubscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []chat.PushSubscription
	for _, s := range m.subs {
		if s.UserID == userID {
			out = append(out, s)
		}
	}
	return out, nil
}

func (m *memStore) DeletePushSubscription(_ context.Context, endpoint string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.subs, endpoint)
	return nil
}

func (m *memStore) TouchPushSubscription(_ context.Context, endpoint string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.subs[endpoint]; ok {
		s.LastUsedAt = at
		m.subs[endpoint] = s
		m.touched[endpoint]++
	}
	return nil
}

func (m *memStore) ClaimOnce(_ context.Context, key string, _ time.Duration) (bool, error) {
	return m.claims.claim(key), nil
}

func (m *memStore) has(endpoint string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.subs[endpoint]
	return ok
}

type recorder struct {
	mu  sync.Mutex
	got map[string]int
}

func (r *recorder) PushResult(o string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string]int{}
	}
	r.got[o]++
}

func (r *recorder) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps(r.got)
}

func maps(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

type env struct {
	fake  *pushtest.Server
	store *memStore
	svc   *push.Service
	rec   *recorder
	logs  *bytes.Buffer
	pub   string
}

func newEnv(t *testing.T, mod func(*push.Config)) *env {
	t.Helper()
	pub, priv, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{fake: pushtest.NewServer(t, pub), store: newStore(nil), rec: &recorder{}, logs: &bytes.Buffer{}, pub: pub}
	cfg := push.Config{
		PublicKey:    pub,
		PrivateKey:   priv,
		Subscriber:   "mailto:ops@clawchat.example.org",
		AllowedHosts: []string{pushtest.Host},
		Store:        e.store,
		HTTPClient:   e.fake.Client(),
		Logger:       slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Recorder:     e.rec,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.svc, err = push.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) subscribe(t *testing.T, user string) *pushtest.Subscription {
	t.Helper()
	sub := e.fake.NewSubscription()
	if err := e.svc.Subscribe(t.Context(), user, sub.JSON()); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return sub
}

func decode(t *testing.T, d pushtest.Delivery) push.Payload {
	t.Helper()
	var p push.Payload
	dec := json.NewDecoder(bytes.NewReader(d.Plaintext))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("payload %q: %v", d.Plaintext, err)
	}
	return p
}

const secretText = "the launch code is 0000-SECRET"

func TestNotifyDeliversEncryptedPayloadWithoutText(t *testing.T) {
	e := newEnv(t, nil)
	a1 := e.subscribe(t, "alice")
	a2 := e.subscribe(t, "alice")
	e.subscribe(t, "bob")

	if err := e.svc.NotifyReplyFinished(t.Context(), "alice", "trip", "run-1", "Trip planning", secretText); err != nil {
		t.Fatal(err)
	}
	got := e.fake.Deliveries()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2 (alice's two browsers only)", len(got))
	}
	endpoints := map[string]bool{}
	for _, d := range got {
		endpoints[d.Endpoint] = true
		want := push.Payload{Title: "Trip planning", Conversation: "trip", URL: "/#/c/trip", Tag: "clawchat:trip"}
		if diff := cmp.Diff(want, decode(t, d)); diff != "" {
			t.Errorf("payload mismatch (-want +got):\n%s", diff)
		}
		if bytes.Contains(d.Plaintext, []byte("SECRET")) {
			t.Errorf("message text in payload without IncludeText: %q", d.Plaintext)
		}
		if d.Audience != "https://"+pushtest.Host || d.Subject != "mailto:ops@clawchat.example.org" {
			t.Errorf("VAPID aud=%q sub=%q", d.Audience, d.Subject)
		}
		if d.TTL != "86400" || d.Urgency != "normal" || len(d.Topic) == 0 || len(d.Topic) > 32 {
			t.Errorf("headers TTL=%q Urgency=%q Topic=%q", d.TTL, d.Urgency, d.Topic)
		}
	}
	if !endpoints[a1.Endpoint] || !endpoints[a2.Endpoint] {
		t.Errorf("deliveries went to %v", endpoints)
	}
	if diff := cmp.Diff(map[string]int{push.OutcomeSent: 2}, e.rec.counts()); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if e.store.touched[a1.Endpoint] != 1 {
		t.Errorf("subscription not touched after delivery")
	}
}

func TestNotifyIncludesTextWhenEnabled(t *testing.T) {
	e := newEnv(t, func(c *push.Config) { c.IncludeText = true })
	e.subscribe(t, "alice")
	long := secretText + " " + strings.Repeat("é", 2000)
	if err := e.svc.NotifyReplyFinished(t.Context(), "alice", "trip", "run-1", "", long); err != nil {
		t.Fatal(err)
	}
	got := e.fake.Deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	p := decode(t, got[0])
	if !strings.HasPrefix(p.Body, secretText) || !strings.HasSuffix(p.Body, "…") || len(p.Body) > 1000 {
		t.Errorf("body = %q (len %d), want truncated text", p.Body[:40], len(p.Body))
	}
	if p.Title != "clawchat" {
		t.Errorf("empty title became %q", p.Title)
	}
}

func TestNotifyPrunesGoneSubscriptions(t *testing.T) {
	for _, tc := range []struct {
		status  int
		kept    bool
		outcome string
	}{
		{http.StatusGone, false, push.OutcomeGone},
		{http.StatusNotFound, false, push.OutcomeGone},
		{http.StatusTooManyRequests, true, push.OutcomeRateLimited},
		{http.StatusInternalServerError, true, push.OutcomeFailed},
		{http.StatusForbidden, true, push.OutcomeRejected},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			e := newEnv(t, nil)
			bad := e.subscribe(t, "alice")
			good := e.subscribe(t, "alice")
			e.fake.SetStatus(bad.Endpoint, tc.status)
			if err := e.svc.NotifyReplyFinished(t.Context(), "alice", "c1", "run-1", "t", ""); err != nil {
				t.Fatal(err)
			}
			if got := e.store.has(bad.Endpoint); got != tc.kept {
				t.Errorf("after %d: subscription kept = %v, want %v", tc.status, got, tc.kept)
			}
			if !e.store.has(good.Endpoint) {
				t.Error("healthy subscription was deleted")
			}
			if diff := cmp.Diff(map[string]int{push.OutcomeSent: 1, tc.outcome: 1}, e.rec.counts()); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotifyExactlyOnceAcrossInstances(t *testing.T) {
	pub, priv, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	fake := pushtest.NewServer(t, pub)
	shared := &claims{seen: map[string]bool{}}
	// Two instances with their own store handles on one database: same rows, same claims.
	db := newStore(shared)
	var svcs []*push.Service
	for range 2 {
		s, err := push.New(push.Config{
			PublicKey: pub, PrivateKey: priv, Subscriber: "https://clawchat.example.org/contact",
			AllowedHosts: []string{pushtest.Host}, Store: db, HTTPClient: fake.Client(),
		})
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, s)
	}
	sub := fake.NewSubscription()
	if err := svcs[0].Subscribe(t.Context(), "alice", sub.JSON()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range svcs {
		for range 3 { // each instance sees the run finish (and maybe retries)
			wg.Go(func() {
				if err := s.NotifyReplyFinished(t.Context(), "alice", "c1", "run-42", "t", ""); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	if n := len(fake.Deliveries()); n != 1 {
		t.Fatalf("%d deliveries for one run across two instances, want 1", n)
	}
	if err := svcs[1].NotifyReplyFinished(t.Context(), "alice", "c1", "run-43", "t", ""); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Deliveries()); n != 2 {
		t.Fatalf("a new run was not delivered: %d deliveries", n)
	}
	if d := fake.Deliveries()[0]; d.Subject != "https://clawchat.example.org/contact" {
		t.Errorf("https subscriber became %q", d.Subject)
	}
}

func TestNotifyWithoutSubscriptionsDoesNotClaim(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.svc.NotifyReplyFinished(t.Context(), "alice", "c1", "run-1", "t", ""); err != nil {
		t.Fatal(err)
	}
	if len(e.store.claims.seen) != 0 {
		t.Errorf("claimed %v with no subscriptions", e.store.claims.seen)
	}
}

func TestCheckEndpoint(t *testing.T) {
	pub, priv, _ := push.GenerateKeys()
	s, err := push.New(push.Config{PublicKey: pub, PrivateKey: priv, Subscriber: "mailto:a@example.org", Store: newStore(nil)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		endpoint string
		ok       bool
	}{
		{"https://fcm.googleapis.com/fcm/send/abc:def", true},
		{"https://updates.push.services.mozilla.com/wpush/v2/gAAAA", true},
		{"https://web.push.apple.com/QGuQyavXutnMH", true},
		{"https://api.push.apple.com/3/device/x", true},
		{"https://wns2-by3p.notify.windows.com/w/?token=x", true},
		{"https://FCM.GoogleAPIs.com./fcm/send/x", true},
		{"https://fcm.googleapis.com:443/fcm/send/x", true},
		{"http://fcm.googleapis.com/fcm/send/x", false},                    // not https
		{"https://fcm.googleapis.com:8443/fcm/send/x", false},              // other port
		{"https://user:pw@fcm.googleapis.com/fcm/send/x", false},           // credentials
		{"https://127.0.0.1/x", false},                                     // IP literal
		{"https://[::1]/x", false},                                         // IPv6 literal
		{"https://10.0.0.1/x", false},                                      // private IP
		{"https://169.254.169.254/latest/meta-data", false},                // metadata service
		{"https://localhost/x", false},                                     // localhost
		{"https://evil.example.com/x", false},                              // other host
		{"https://fcm.googleapis.com.evil.example/x", false},               // suffix trick
		{"https://push.apple.com/x", false},                                // bare domain of a *. pattern
		{"https://evilpush.apple.com/x", false},                            // not a sub-domain
		{"https://notify.windows.com.attacker.example/x", false},           // suffix trick
		{"fcm.googleapis.com/fcm/send/x", false},                           // not absolute
		{"", false},                                                        //
		{"https://fcm.googleapis.com/" + strings.Repeat("a", 3000), false}, // too long
	} {
		err := s.CheckEndpoint(tc.endpoint)
		if (err == nil) != tc.ok {
			t.Errorf("CheckEndpoint(%.60q) = %v, want ok=%v", tc.endpoint, err, tc.ok)
		}
		if err != nil && !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("CheckEndpoint(%.60q) error %v does not wrap chat.ErrInvalid", tc.endpoint, err)
		}
	}
}

func TestSubscribeValidatesKeysAndCapsPerUser(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	e := newEnv(t, func(c *push.Config) {
		c.MaxPerUser = 3
		c.Now = func() time.Time { now = now.Add(time.Minute); return now }
	})
	good := e.fake.NewSubscription()
	for name, raw := range map[string]string{
		"not json":     `{`,
		"short p256dh": `{"endpoint":"` + good.Endpoint + `","keys":{"p256dh":"AAAA","auth":"` + good.Auth + `"}}`,
		"bad point":    `{"endpoint":"` + good.Endpoint + `","keys":{"p256dh":"BA` + strings.Repeat("A", 85) + `","auth":"` + good.Auth + `"}}`,
		"short auth":   `{"endpoint":"` + good.Endpoint + `","keys":{"p256dh":"` + good.P256dh + `","auth":"AAAA"}}`,
		"no keys":      `{"endpoint":"` + good.Endpoint + `"}`,
		"http":         `{"endpoint":"http://` + pushtest.Host + `/x","keys":{"p256dh":"` + good.P256dh + `","auth":"` + good.Auth + `"}}`,
	} {
		if err := e.svc.Subscribe(t.Context(), "alice", []byte(raw)); !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("%s: Subscribe = %v, want ErrInvalid", name, err)
		}
	}
	var subs []*pushtest.Subscription
	for range 4 {
		subs = append(subs, e.subscribe(t, "alice"))
	}
	// Re-subscribing an existing browser is an update, not a new one.
	if err := e.svc.Subscribe(t.Context(), "alice", subs[3].JSON()); err != nil {
		t.Fatal(err)
	}
	list, _ := e.store.PushSubscriptions(t.Context(), "alice")
	if len(list) != 3 {
		t.Fatalf("%d subscriptions kept, want cap 3", len(list))
	}
	if e.store.has(subs[0].Endpoint) {
		t.Error("the least recently used subscription was not evicted")
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	e := newEnv(t, func(c *push.Config) { c.IncludeText = true })
	gone := e.subscribe(t, "alice")
	rejected := e.subscribe(t, "alice")
	e.subscribe(t, "alice")
	e.fake.SetStatus(gone.Endpoint, http.StatusGone)
	e.fake.SetStatus(rejected.Endpoint, http.StatusForbidden)
	if err := e.svc.NotifyReplyFinished(t.Context(), "alice", "c1", "run-1", "t", secretText); err != nil {
		t.Fatal(err)
	}
	// A network failure: an instance whose client cannot reach the push service.
	broken := newEnv(t, func(c *push.Config) {
		c.HTTPClient = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("connection refused")
		})}
		c.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	bsub := broken.subscribe(t, "alice")
	if err := broken.svc.NotifyReplyFinished(t.Context(), "alice", "c1", "run-2", "t", secretText); err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "push delivery failed") || !strings.Contains(logs, "rejected") || !strings.Contains(logs, "gone") {
		t.Fatalf("expected failure logs, got:\n%s", logs)
	}
	for _, sub := range []*pushtest.Subscription{gone, rejected, bsub} {
		path := strings.TrimPrefix(sub.Endpoint, "https://"+pushtest.Host)
		for what, secret := range map[string]string{"auth": sub.Auth, "p256dh": sub.P256dh, "endpoint path": path} {
			if strings.Contains(logs, secret) {
				t.Errorf("logs contain the %s:\n%s", what, logs)
			}
		}
	}
	if strings.Contains(logs, "SECRET") {
		t.Errorf("logs contain the message text:\n%s", logs)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRedirectsAreNotFollowed(t *testing.T) {
	calls := 0
	e2 := newEnv(t, func(c *push.Config) {
		c.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls++
			return &http.Response{StatusCode: http.StatusTemporaryRedirect, Header: http.Header{"Location": {"https://169.254.169.254/"}},
				Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		})}
	})
	e2.subscribe(t, "alice")
	if err := e2.svc.NotifyReplyFinished(t.Context(), "alice", "c1", "run-1", "t", ""); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("%d requests, want 1 (redirect must not be followed)", calls)
	}
	if diff := cmp.Diff(map[string]int{push.OutcomeRejected: 1}, e2.rec.counts()); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	pub, priv, _ := push.GenerateKeys()
	pub2, _, _ := push.GenerateKeys()
	st := newStore(nil)
	for name, cfg := range map[string]push.Config{
		"no subscriber":        {PublicKey: pub, PrivateKey: priv, Store: st},
		"localhost subscriber": {PublicKey: pub, PrivateKey: priv, Subscriber: "mailto:me@localhost", Store: st},
		"bare subscriber":      {PublicKey: pub, PrivateKey: priv, Subscriber: "me@example.org", Store: st},
		"mismatched keys":      {PublicKey: pub2, PrivateKey: priv, Subscriber: "mailto:a@example.org", Store: st},
		"no keys":              {Subscriber: "mailto:a@example.org", Store: st},
		"no store":             {PublicKey: pub, PrivateKey: priv, Subscriber: "mailto:a@example.org"},
		"bad pattern":          {PublicKey: pub, PrivateKey: priv, Subscriber: "mailto:a@example.org", Store: st, AllowedHosts: []string{"*"}},
	} {
		if _, err := push.New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		} else if strings.Contains(err.Error(), priv) {
			t.Errorf("%s: error quotes the private key", name)
		}
	}
	if len(pub) != 87 || len(priv) != 43 {
		t.Errorf("key lengths %d/%d, want 87/43 (base64url of 65 and 32 bytes)", len(pub), len(priv))
	}
}

func TestHandlers(t *testing.T) {
	e := newEnv(t, nil)
	sub := e.fake.NewSubscription()
	as := func(user string, r *http.Request) *http.Request {
		if user == "" {
			return r
		}
		return r.WithContext(chat.WithUser(r.Context(), chat.User{ID: user, Name: user, Role: chat.RoleMember}))
	}
	do := func(h http.HandlerFunc, user, method, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h(w, as(user, httptest.NewRequest(method, "/api/push/subscriptions", strings.NewReader(body))))
		return w
	}

	if w := do(e.svc.PostSubscription, "", "POST", string(sub.JSON())); w.Code != 401 || !strings.Contains(w.Body.String(), `"unauthorized"`) {
		t.Errorf("anonymous POST: %d %s", w.Code, w.Body)
	}
	if w := do(e.svc.DeleteSubscription, "", "DELETE", `{"endpoint":"x"}`); w.Code != 401 {
		t.Errorf("anonymous DELETE: %d", w.Code)
	}
	bad := strings.Replace(string(sub.JSON()), pushtest.Host, "attacker.example", 1)
	w := do(e.svc.PostSubscription, "alice", "POST", bad)
	if w.Code != 400 || !strings.Contains(w.Body.String(), `"bad_request"`) {
		t.Errorf("disallowed host: %d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), sub.Auth) || strings.Contains(w.Body.String(), "attacker") {
		t.Errorf("error echoes input: %s", w.Body)
	}
	if w := do(e.svc.PostSubscription, "alice", "POST", string(sub.JSON())); w.Code != 201 {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	// Issue 16: bob posting alice's endpoint (with his own keys) does not take it over.
	taken := strings.Replace(string(sub.JSON()), sub.Auth, "AAAAAAAAAAAAAAAAAAAAAA", 1)
	if w := do(e.svc.PostSubscription, "bob", "POST", taken); w.Code != 409 || !strings.Contains(w.Body.String(), `"conflict"`) {
		t.Errorf("bob posting alice's endpoint: %d %s, want 409", w.Code, w.Body)
	}
	if subs, _ := e.store.PushSubscriptions(context.Background(), "alice"); len(subs) != 1 || subs[0].Auth != sub.Auth {
		t.Errorf("alice's subscription after bob's attempt: %+v", subs)
	}
	if w := do(e.svc.PostSubscription, "alice", "POST", `{"endpoint":"`+strings.Repeat("a", 9000)+`"}`); w.Code != 413 {
		t.Errorf("huge body: %d", w.Code)
	}
	del := `{"endpoint":"` + sub.Endpoint + `"}`
	if w := do(e.svc.DeleteSubscription, "bob", "DELETE", del); w.Code != 204 || !e.store.has(sub.Endpoint) {
		t.Errorf("bob deleting alice's subscription: %d, still there = %v", w.Code, e.store.has(sub.Endpoint))
	}
	if w := do(e.svc.DeleteSubscription, "alice", "DELETE", del); w.Code != 204 || e.store.has(sub.Endpoint) {
		t.Errorf("alice deleting her subscription: %d, still there = %v", w.Code, e.store.has(sub.Endpoint))
	}
	if w := do(e.svc.DeleteSubscription, "alice", "DELETE", `{}`); w.Code != 400 {
		t.Errorf("DELETE without endpoint: %d", w.Code)
	}
}
