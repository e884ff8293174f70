package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/clawchat/clawchat/internal/chat"
)

func TestProxyAuth(t *testing.T) {
	e := newEnv(t, Config{Owners: []string{"boss@example.com"}, ProxyAuth: ProxyAuthConfig{
		Headers: []string{"Remote-User", "Tailscale-User-Login"}, CIDRs: mustPrefixes("10.0.0.0/8")}})
	// Untrusted peer: header ignored.
	if w := e.do("GET", "/api/me", nil, "", withRemote("192.0.2.1:1"), withHeader("Remote-User", "alice")); w.Code != 401 {
		t.Fatalf("untrusted peer: %d", w.Code)
	}
	// X-Forwarded-For from a trusted address does not make an untrusted peer trusted.
	if w := e.do("GET", "/api/me", nil, "", withRemote("192.0.2.1:1"), withHeader("X-Forwarded-For", "10.0.0.5"), withHeader("Remote-User", "alice")); w.Code != 401 {
		t.Fatalf("spoofed XFF: %d", w.Code)
	}
	if n, _ := e.store.CountAccounts(context.Background()); n != 0 {
		t.Fatal("account provisioned from an untrusted request")
	}
	w := e.do("GET", "/api/me", nil, "", withRemote("10.1.2.3:1"), withHeader("Remote-User", "Alice"))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"name":"alice","role":"member"`) {
		t.Fatalf("trusted proxy: %d %s", w.Code, w.Body)
	}
	w = e.do("GET", "/api/me", nil, "", withRemote("10.1.2.3:1"), withHeader("Tailscale-User-Login", "boss@example.com"))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"role":"owner"`) {
		t.Fatalf("owner by name: %d %s", w.Code, w.Body)
	}
	// Same identity again: no second account.
	e.do("GET", "/api/me", nil, "", withRemote("10.1.2.3:1"), withHeader("Remote-User", "alice"))
	if n, _ := e.store.CountAccounts(context.Background()); n != 2 {
		t.Fatalf("%d accounts", n)
	}
	prov := 0
	for _, a := range e.store.Audit() {
		if a.Action == "user.provision" {
			prov++
		}
	}
	if prov != 2 {
		t.Fatalf("%d provision audit entries", prov)
	}
	acc, _ := e.store.AccountByUsername(context.Background(), "alice")
	acc.Disabled = true
	e.store.UpdateAccount(context.Background(), acc)
	if w := e.do("GET", "/api/me", nil, "", withRemote("10.1.2.3:1"), withHeader("Remote-User", "alice")); w.Code != 401 {
		t.Fatalf("disabled proxy user: %d", w.Code)
	}
	if u, ok := e.svc.Authenticate(newReq("10.1.2.3:1", "Remote-User", "bad name!")); ok {
		t.Fatalf("invalid name accepted: %+v", u)
	}
	if err := (Config{ProxyAuth: ProxyAuthConfig{Headers: []string{"Remote-User"}}}).Validate(); err == nil {
		t.Fatal("proxy headers without CIDRs accepted")
	}
	_ = chat.RoleOwner
}

// Sibling of issue 16 item 1: a username chosen at the IdP must not be reachable by a proxy
// header naming the same user.
func TestProxyAuthNeverSignsIntoSSOAccounts(t *testing.T) {
	e := newEnv(t, Config{ProxyAuth: ProxyAuthConfig{Headers: []string{"Remote-User"}, CIDRs: mustPrefixes("10.0.0.0/8")}})
	now := e.clock.Now().UTC()
	if err := e.store.CreateAccount(context.Background(), chat.Account{ID: NewAccountID(), Username: "carol", Role: chat.RoleOwner,
		OIDCIssuer: "https://idp", OIDCSubject: "carol-sub", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if w := e.do("GET", "/api/me", nil, "", withRemote("10.1.2.3:1"), withHeader("Remote-User", "carol")); w.Code != 401 {
		t.Fatalf("proxy header naming a single-sign-on account: %d %s, want 401", w.Code, w.Body)
	}
}
