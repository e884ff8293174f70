package embed

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/store"
)

type fakeChat struct{}

func (f *fakeChat) ContextConversations(_ context.Context, _ chat.User, app, id string) ([]chat.ConversationView, error) {
	return []chat.ConversationView{{ID: "c-1", Context: &chat.HostContext{App: app, ID: id}}}, nil
}
func (f *fakeChat) CreateInContext(_ context.Context, _ chat.User, app, id, _ string) (chat.ConversationView, error) {
	return chat.ConversationView{ID: "c-1", Context: &chat.HostContext{App: app, ID: id}}, nil
}
func (f *fakeChat) SendWithContext(_ context.Context, _ chat.User, _, _, _, _ string) (string, string, error) {
	return "run-1", "started", nil
}
func (f *fakeChat) Get(_ context.Context, _ chat.User, id string) (chat.ConversationView, error) {
	return chat.ConversationView{ID: id, Context: &chat.HostContext{App: "compose", ID: "doc:abc123"}}, nil
}

func newService(t *testing.T, rpm int) (*Service, *store.DB, ed25519.PrivateKey, http.Handler) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	apps := []*App{
		{ID: "compose", Keys: []jose.JSONWebKey{{Key: pub}}, Origins: []string{"https://docs.example.com"}, RequestsPerMinute: rpm},
		{ID: "wiki", Keys: []jose.JSONWebKey{{Key: pub}}, Origins: []string{"https://wiki.example.com"}},
	}
	v, err := NewVerifier(VerifierConfig{Apps: apps, Audience: []string{testAud}, Replay: db})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Verifier: v, Store: db, Chat: &fakeChat{}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /embed/session", s.Exchange)
	authed := func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, ok := Authenticate(r)
			if !ok {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h(w, r.WithContext(chat.WithUser(r.Context(), u)))
		})
	}
	mux.Handle("GET /api/embed/conversations", authed(s.Conversations))
	mux.Handle("POST /api/embed/conversations", authed(s.Create))
	mux.Handle("POST /api/embed/conversations/{id}/messages", authed(s.Send))
	mux.Handle("GET /api/embed/conversations/{id}/contexts", authed(s.Contexts))
	return s, db, priv, s.Middleware(mux)
}

func call(t *testing.T, h http.Handler, method, path, bearer string, body any) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	r := httptest.NewRequest(method, path, bytes.NewReader(b))
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

func TestExchangeNamespacesAccountsPerApp(t *testing.T) {
	_, db, key, h := newService(t, 0)
	exp := time.Now().Add(5 * time.Minute)
	session := func(app, jti string) (string, string) {
		code, out := call(t, h, "POST", "/embed/session", "", map[string]string{"token": sign(t, jose.EdDSA, key, "", claimsFor(app, jti, exp))})
		if code != http.StatusOK {
			t.Fatalf("exchange %s: %d %v", app, code, out)
		}
		return out["session"].(string), out["user"].(map[string]any)["id"].(string)
	}
	_, a1 := session("compose", "jti-ns-0001")
	_, a2 := session("compose", "jti-ns-0002")
	_, w1 := session("wiki", "jti-ns-0003")
	if a1 != a2 {
		t.Errorf("the same user of the same app got two accounts: %s, %s", a1, a2)
	}
	if a1 == w1 {
		t.Errorf("vlad of compose and vlad of wiki share account %s", a1)
	}
	acc, err := db.Account(context.Background(), a1)
	if err != nil || acc.OIDCIssuer != "clawchat-embed:compose" || acc.OIDCSubject != "vlad" || acc.Role != chat.RoleMember || !strings.HasPrefix(acc.Username, "compose:") {
		t.Fatalf("account = %+v, %v", acc, err)
	}
}

func TestBearerSessionGrantsOnlyTokenContexts(t *testing.T) {
	_, _, key, h := newService(t, 0)
	code, out := call(t, h, "POST", "/embed/session", "", map[string]string{"token": sign(t, jose.EdDSA, key, "", claimsFor("compose", "jti-grant-001", time.Now().Add(5*time.Minute)))})
	if code != http.StatusOK {
		t.Fatalf("exchange: %d %v", code, out)
	}
	tok := out["session"].(string)
	if code, _ := call(t, h, "GET", "/api/embed/conversations?context=doc:abc123", tok, nil); code != http.StatusOK {
		t.Errorf("granted context: %d", code)
	}
	code, notGranted := call(t, h, "GET", "/api/embed/conversations?context=doc:other", tok, nil)
	if code != http.StatusNotFound {
		t.Errorf("ungranted context: %d", code)
	}
	if code, again := call(t, h, "POST", "/api/embed/conversations", tok, map[string]string{"context": "doc:other"}); code != http.StatusNotFound || !jsonEqual(again, notGranted) {
		t.Errorf("create in an ungranted context: %d %v", code, again)
	}
	if code, _ := call(t, h, "GET", "/api/embed/conversations?context=doc:abc123", tok+"x", nil); code != http.StatusUnauthorized {
		t.Errorf("a wrong bearer token: %d", code)
	}
	// A send records the fenced context for its author.
	if code, out := call(t, h, "POST", "/api/embed/conversations/c-1/messages", tok, map[string]any{"text": "hi", "clientId": "m1", "context": map[string]any{"selection": "teh"}}); code != http.StatusAccepted || out["contextSent"] != true {
		t.Fatalf("send: %d %v", code, out)
	}
	code, out = call(t, h, "GET", "/api/embed/conversations/c-1/contexts", tok, nil)
	list, _ := out["contexts"].([]any)
	if code != http.StatusOK || len(list) != 1 || !strings.Contains(list[0].(map[string]any)["context"].(string), `"selection": "teh"`) {
		t.Fatalf("contexts: %d %v", code, out)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestPerAppRateLimit(t *testing.T) {
	_, _, key, h := newService(t, 40) // burst 10
	var limited int
	for i := range 15 {
		code, _ := call(t, h, "POST", "/embed/session", "", map[string]string{"token": sign(t, jose.EdDSA, key, "", claimsFor("compose", "jti-rate-"+string(rune('a'+i))+"-0001", time.Now().Add(5*time.Minute)))})
		if code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("15 exchanges at once were never limited (burst 10)")
	}
	// Another app is not affected.
	if code, out := call(t, h, "POST", "/embed/session", "", map[string]string{"token": sign(t, jose.EdDSA, key, "", claimsFor("wiki", "jti-rate-wiki-1", time.Now().Add(5*time.Minute)))}); code != http.StatusOK {
		t.Fatalf("wiki: %d %v", code, out)
	}
}

func TestFrameCSP(t *testing.T) {
	s, _, _, _ := newService(t, 0)
	static := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/embed.html" {
			t.Errorf("static got %s", r.URL.Path)
		}
	})
	for app, want := range map[string]string{"compose": "frame-ancestors https://docs.example.com", "nope": "frame-ancestors 'none'", "": "frame-ancestors 'none'"} {
		w := httptest.NewRecorder()
		w.Header().Set("X-Frame-Options", "DENY")
		s.Frame(static).ServeHTTP(w, httptest.NewRequest("GET", "/embed?app="+app, nil))
		if csp := w.Header().Get("Content-Security-Policy"); !strings.HasSuffix(csp, want) {
			t.Errorf("app %q: CSP %q", app, csp)
		}
		if xfo := w.Header().Get("X-Frame-Options"); (app == "compose") != (xfo == "") {
			t.Errorf("app %q: X-Frame-Options %q", app, xfo)
		}
	}
}

func TestRevalidateEndsWithTheSessionOrTheAccount(t *testing.T) {
	s, db, key, h := newService(t, 0)
	now := time.Now()
	s.now = func() time.Time { return now }
	code, out := call(t, h, "POST", "/embed/session", "", map[string]string{"token": sign(t, jose.EdDSA, key, "", claimsFor("compose", "jti-reval-001", now.Add(5*time.Minute)))})
	if code != http.StatusOK {
		t.Fatalf("exchange: %d %v", code, out)
	}
	cred := "e:" + hashToken(out["session"].(string))
	u, ok := s.Revalidate(context.Background(), cred)
	if !ok || u.Embed == nil || u.Embed.App != "compose" || u.Role != chat.RoleMember {
		t.Fatalf("revalidate = %+v %v", u, ok)
	}
	if _, ok := s.Revalidate(context.Background(), "s:"+hashToken(out["session"].(string))); ok {
		t.Fatal("a cookie credential passed as an embed one")
	}
	// The account goes: the session is over.
	if err := db.DeleteAccount(context.Background(), u.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Revalidate(context.Background(), cred); ok {
		t.Fatal("the session outlived its account")
	}
	// Expiry.
	code, out = call(t, h, "POST", "/embed/session", "", map[string]string{"token": sign(t, jose.EdDSA, key, "", claimsFor("compose", "jti-reval-002", now.Add(5*time.Minute)))})
	if code != http.StatusOK {
		t.Fatalf("exchange: %d %v", code, out)
	}
	cred = "e:" + hashToken(out["session"].(string))
	if _, ok := s.Revalidate(context.Background(), cred); !ok {
		t.Fatal("a fresh session is not valid")
	}
	now = now.Add(2 * time.Hour) // past CLAWCHAT_EMBED_SESSION_TTL's default
	if _, ok := s.Revalidate(context.Background(), cred); ok {
		t.Fatal("the session outlived its TTL")
	}
}
