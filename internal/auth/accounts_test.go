package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/google/go-cmp/cmp"

	"github.com/clawchat/clawchat/internal/chat"
)

func TestParseLocalUsers(t *testing.T) {
	got, err := ParseLocalUsers("alice:pw1, Bob:p:w:2", false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]LocalUser{{"alice", "pw1"}, {"bob", "p:w:2"}}, got); diff != "" {
		t.Fatal(diff)
	}
	got, err = ParseLocalUsers("# comment\nadmin:Long:Secret,Passw0rd\r\n\n  carol:x y z\n", true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]LocalUser{{"admin", "Long:Secret,Passw0rd"}, {"carol", "x y z"}}, got); diff != "" {
		t.Fatal(diff)
	}
	for _, bad := range []string{"alice", "alice:", ":pw", "al ice:pw", "a:1,a:2"} {
		_, err := ParseLocalUsers(bad, false)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "pw") && bad != "al ice:pw" {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	if _, err := ParseLocalUsers("alice:s3cret-value", false); err != nil {
		t.Fatal(err)
	}
	_, err = ParseLocalUsers("alice:s3cret-value,alice:s3cret-value", false)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("duplicate: %v", err)
	}
	u := LocalUser{"alice", "s3cret-value"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "user", u)
	if s := buf.String() + fmt.Sprint(u) + fmt.Sprintf("%v %+v %#v %s", u, u, u, u); strings.Contains(s, "s3cret") {
		t.Fatalf("LocalUser prints its password: %s", s)
	}
	if diff := cmp.Diff([]string{"alice", "bob"}, ParseOwners(" Alice, bob ")); diff != "" {
		t.Fatal(diff)
	}
}

func fastHasher(t *testing.T) *Hasher {
	h, err := newHasher(fastParams, 2)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	st := NewMemoryStore()
	h := fastHasher(t)
	log := slog.New(slog.DiscardHandler)
	users, _ := ParseLocalUsers("alice:pw-a,bob:pw-b", false)
	if err := bootstrap(ctx, st, h, users, nil, log); err != nil {
		t.Fatal(err)
	}
	a, _ := st.AccountByUsername(ctx, "alice")
	b, _ := st.AccountByUsername(ctx, "bob")
	if a.Role != chat.RoleOwner || b.Role != chat.RoleMember {
		t.Fatalf("roles %s %s", a.Role, b.Role)
	}
	if !regexp.MustCompile(`^[a-z0-9]{12,}$`).MatchString(a.ID) || a.ID == b.ID {
		t.Fatalf("ids %q %q", a.ID, b.ID)
	}
	st.CreateSession(ctx, chat.Session{ID: "s-bob", UserID: b.ID, ExpiresAt: time.Now().Add(time.Hour)})
	st.CreateSession(ctx, chat.Session{ID: "s-alice", UserID: a.ID, ExpiresAt: time.Now().Add(time.Hour)})
	// Restart with the same env: nothing changes, no sessions revoked.
	if err := bootstrap(ctx, st, h, users, nil, log); err != nil {
		t.Fatal(err)
	}
	if a2, _ := st.AccountByUsername(ctx, "alice"); a2.PasswordHash != a.PasswordHash {
		t.Fatal("unchanged password rehashed")
	}
	// bob's password changes and CLAWCHAT_OWNERS makes him the only owner.
	users, _ = ParseLocalUsers("alice:pw-a,bob:new-pw-b", false)
	if err := bootstrap(ctx, st, h, users, []string{"bob"}, log); err != nil {
		t.Fatal(err)
	}
	a, _ = st.AccountByUsername(ctx, "alice")
	b, _ = st.AccountByUsername(ctx, "bob")
	if a.Role != chat.RoleMember || b.Role != chat.RoleOwner {
		t.Fatalf("roles after owners: %s %s", a.Role, b.Role)
	}
	if ok, _, _ := h.Verify(ctx, "new-pw-b", b.PasswordHash); !ok {
		t.Fatal("password not updated")
	}
	if _, err := st.Session(ctx, "s-bob"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatal("password change kept bob's session")
	}
	if _, err := st.Session(ctx, "s-alice"); err != nil {
		t.Fatal("alice's session revoked")
	}
	var actions []string
	for _, e := range st.Audit() {
		actions = append(actions, e.Action+" "+e.Target)
	}
	want := []string{"user.create alice", "user.create bob", "role.change alice", "user.password bob", "role.change bob"}
	if diff := cmp.Diff(want, actions); diff != "" {
		t.Fatal(diff)
	}
}

func TestFirstRun(t *testing.T) {
	ctx := context.Background()
	st := NewMemoryStore()
	h := fastHasher(t)
	var out bytes.Buffer
	if err := firstRun(ctx, st, h, &out); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out.String())
	if m == nil || len(m[1]) < 20 || !strings.Contains(out.String(), "admin") {
		t.Fatalf("output %q", out.String())
	}
	acc, err := st.AccountByUsername(ctx, "admin")
	if err != nil || acc.Role != chat.RoleOwner {
		t.Fatalf("admin %+v %v", acc, err)
	}
	if ok, _, _ := h.Verify(ctx, m[1], acc.PasswordHash); !ok {
		t.Fatal("printed password does not match")
	}
	out.Reset()
	if err := firstRun(ctx, st, h, &out); err != nil || out.Len() != 0 {
		t.Fatalf("second run printed %q (%v)", out.String(), err)
	}
	for _, e := range st.Audit() {
		if strings.Contains(e.Detail+e.Target, m[1]) {
			t.Fatal("password in audit")
		}
	}
}

func TestUserCommand(t *testing.T) {
	ctx := context.Background()
	st := NewMemoryStore()
	h := fastHasher(t)
	run := func(stdin string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := userCommand(ctx, st, h, args, strings.NewReader(stdin), &out, &errb)
		return out.String() + errb.String(), err
	}
	if _, err := run("", "user", "add", "alice"); err == nil {
		t.Fatal("empty password accepted")
	}
	if _, err := run("short\n", "add", "alice"); err == nil {
		t.Fatal("short password accepted")
	}
	if _, err := run("x\n", "add", "alice", "hunter2hunter2"); err == nil {
		t.Fatal("password in argv accepted")
	}
	if out, err := run("alice-password\n", "user", "add", "Alice", "--role", "owner"); err != nil || !strings.Contains(out, "created alice (owner)") {
		t.Fatalf("add: %q %v", out, err)
	}
	if _, err := run("alice-password\n", "add", "alice"); err == nil {
		t.Fatal("duplicate add accepted")
	}
	if _, err := run("bob-password\n", "add", "bob", "--role=admin"); err == nil {
		t.Fatal("bad role accepted")
	}
	run("bob-password\n", "add", "bob")
	alice, _ := st.AccountByUsername(ctx, "alice")
	st.CreateSession(ctx, chat.Session{ID: "s1", UserID: alice.ID, ExpiresAt: time.Now().Add(time.Hour)})
	if out, err := run("another-password\n", "passwd", "alice"); err != nil || !strings.Contains(out, "signed out") {
		t.Fatalf("passwd: %q %v", out, err)
	}
	if _, err := st.Session(ctx, "s1"); err == nil {
		t.Fatal("password change did not revoke sessions")
	}
	alice, _ = st.AccountByUsername(ctx, "alice")
	if ok, _, _ := h.Verify(ctx, "another-password", alice.PasswordHash); !ok {
		t.Fatal("new password does not verify")
	}
	if out, err := run("", "role", "bob", "owner"); err != nil || !strings.Contains(out, "bob is now owner") {
		t.Fatalf("role: %q %v", out, err)
	}
	out, err := run("", "list")
	if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "bob") || strings.Contains(out, "argon2") {
		t.Fatalf("list: %q %v", out, err)
	}
	if _, err := run("", "del", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AccountByUsername(ctx, "bob"); err == nil {
		t.Fatal("bob not deleted")
	}
	if _, err := run("", "frobnicate"); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
	var actions []string
	for _, e := range st.Audit() {
		if e.Actor != "cli" {
			t.Errorf("audit actor %q", e.Actor)
		}
		if strings.Contains(e.Detail, "password-") {
			t.Errorf("secret in audit: %+v", e)
		}
		actions = append(actions, e.Action+" "+e.Target)
	}
	want := []string{"user.create alice", "user.create bob", "user.password alice", "role.change bob", "user.delete bob"}
	if diff := cmp.Diff(want, actions); diff != "" {
		t.Fatal(diff)
	}
}

func TestHasherParams(t *testing.T) {
	if _, err := NewHasher(&fastParams, 1); err == nil {
		t.Fatal("weak parameters accepted")
	}
	h, err := NewHasher(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	p, _, _, err := argon2id.DecodeHash(hash)
	if err != nil || p.Memory < 19*1024 || p.Iterations < 2 || p.Parallelism < 1 {
		t.Fatalf("params %+v %v", p, err)
	}
	// The semaphore bounds concurrent hashes: with the only slot taken, Hash waits for ctx.
	h.sem <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hash ran past the semaphore: %v", err)
	}
	if ok, _, err := h.Verify(ctx, "pw", hash); ok || err == nil {
		t.Fatal("verify ran past the semaphore")
	}
	<-h.sem
	// Old, weaker hashes verify and ask for a rehash.
	weak, _ := argon2id.CreateHash("pw", &fastParams)
	ok, rehash, err := h.Verify(context.Background(), "pw", weak)
	if !ok || !rehash || err != nil {
		t.Fatalf("weak hash: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	if ok, _, _ := h.Verify(context.Background(), "pw", "garbage"); ok {
		t.Fatal("garbage hash verified")
	}
}

func TestRehashOnLogin(t *testing.T) {
	e := newEnv(t, Config{})
	weak, _ := argon2id.CreateHash("correct horse battery", &argon2id.Params{Memory: 32, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32})
	e.store.CreateAccount(context.Background(), chat.Account{ID: "a1", Username: "old", Role: chat.RoleMember, PasswordHash: weak})
	if w := e.loginJSON("old", "correct horse battery"); w.Code != 200 {
		t.Fatal(w.Code)
	}
	acc, _ := e.store.Account(context.Background(), "a1")
	if acc.PasswordHash == weak {
		t.Fatal("weak hash not upgraded")
	}
}

// Sibling of issue 16 item 1: a username chosen at the IdP must not collect a local password or
// the owner role from CLAWCHAT_LOCAL_USERS / CLAWCHAT_OWNERS.
func TestBootstrapLeavesSSOAccountsAlone(t *testing.T) {
	ctx := context.Background()
	st := NewMemoryStore()
	h := fastHasher(t)
	log := slog.New(slog.DiscardHandler)
	now := time.Now().UTC()
	sso := chat.Account{ID: NewAccountID(), Username: "boss", Role: chat.RoleMember, OIDCIssuer: "https://idp", OIDCSubject: "mallory", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateAccount(ctx, sso); err != nil {
		t.Fatal(err)
	}
	if err := bootstrap(ctx, st, h, nil, []string{"boss"}, log); err != nil {
		t.Fatal(err)
	}
	if a, _ := st.AccountByUsername(ctx, "boss"); a.Role != chat.RoleMember {
		t.Fatal("CLAWCHAT_OWNERS made a single-sign-on account owner")
	}
	users, _ := ParseLocalUsers("boss:pw-boss", false)
	if err := bootstrap(ctx, st, h, users, []string{"boss"}, log); err == nil || !strings.Contains(err.Error(), "single-sign-on") {
		t.Fatalf("bootstrap over a single-sign-on account: %v, want a refusal", err)
	}
	if a, _ := st.AccountByUsername(ctx, "boss"); a.PasswordHash != "" || a.Role != chat.RoleMember {
		t.Fatal("CLAWCHAT_LOCAL_USERS gave a single-sign-on account a password or the owner role")
	}
}
