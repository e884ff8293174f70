package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/push"
	"github.com/clawchat/clawchat/internal/testkit/pushtest"
	"github.com/clawchat/clawchat/internal/testkit/storetest"
)

// Web Push end to end: the real clawchat binary delivers to a local fake push service that
// checks the VAPID signature and decrypts the payload (RFC 8291). The clawchat process reaches
// the fake through an HTTPS proxy (HTTPS_PROXY) and trusts its certificate (SSL_CERT_FILE), so
// the production code path — allowlist, encryption, VAPID, TLS — runs unchanged.

type pushEnv struct {
	fake *pushtest.Server
	env  []string
}

func newPushEnv(t *testing.T) *pushEnv {
	t.Helper()
	pub, priv, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	fake := pushtest.NewServer(t, pub)
	certFile := filepath.Join(t.TempDir(), "push-ca.pem")
	if err := os.WriteFile(certFile, fake.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	proxy := newConnectProxy(t, fake.Addr())
	return &pushEnv{fake: fake, env: []string{
		"CLAWCHAT_VAPID_PUBLIC_KEY=" + pub,
		"CLAWCHAT_VAPID_PRIVATE_KEY=" + priv,
		"CLAWCHAT_VAPID_SUBJECT=mailto:ops@clawchat.example.org",
		"CLAWCHAT_PUSH_ALLOWED_HOSTS=" + pushtest.Host,
		"HTTPS_PROXY=http://" + proxy,
		"SSL_CERT_FILE=" + certFile,
	}}
}

// subscribe stores a browser-like subscription for the signed-in user.
func (p *pushEnv) subscribe(t *testing.T, c *apiClient) {
	t.Helper()
	var sub map[string]any
	if err := json.Unmarshal(p.fake.NewSubscription().JSON(), &sub); err != nil {
		t.Fatal(err)
	}
	if st := c.do("POST", "/api/push/subscriptions", sub, nil); st != http.StatusCreated {
		t.Fatalf("store push subscription: status %d", st)
	}
}

func (p *pushEnv) wait(t *testing.T, n int) []pushtest.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := p.fake.WaitDeliveries(ctx, n)
	if err != nil {
		t.Fatalf("waiting for %d push deliveries: %v (got %d)", n, err, len(p.fake.Deliveries()))
	}
	return d
}

func TestPushNotificationWhenAppIsClosed(t *testing.T) {
	g := sharedGateway(t)
	p := newPushEnv(t)
	srv := startServerWith(t, g, g.URL, p.env...)
	alice := signIn(t, srv.URL, "alice", alicePass)
	p.subscribe(t, alice)

	// No browser connection is open: the reply must reach the phone as a push notification.
	alice.send("pushed", "secret words in the reply [delay=5]")
	d := p.wait(t, 1)[0]
	var payload push.Payload
	if err := json.Unmarshal(d.Plaintext, &payload); err != nil {
		t.Fatalf("decrypted payload %q: %v", d.Plaintext, err)
	}
	if payload.Conversation != "pushed" || payload.URL != "/#/c/pushed" {
		t.Errorf("payload = %+v, want conversation pushed and its URL", payload)
	}
	if payload.Body != "" || strings.Contains(string(d.Plaintext), "secret words") {
		t.Errorf("payload carries message text by default: %s", d.Plaintext)
	}
	if d.Subject != "mailto:ops@clawchat.example.org" {
		t.Errorf("VAPID subject = %q", d.Subject)
	}
}

// TestPushExactlyOnceAcrossInstances: two instances share PostgreSQL; both see the run finish
// and neither has a browser connected, yet the phone gets one notification per reply.
func TestPushExactlyOnceAcrossInstances(t *testing.T) {
	g := sharedGateway(t)
	p := newPushEnv(t)
	dsn := storetest.PostgresURL(t)
	a := startServerWith(t, g, g.URL, append(p.env, "CLAWCHAT_DATABASE_URL="+dsn)...)
	b := startServerWith(t, g, g.URL, append(p.env, "CLAWCHAT_DATABASE_URL="+dsn)...)
	onA := signIn(t, a.URL, "alice", alicePass)
	onB := &apiClient{t: t, base: b.URL, cookie: onA.cookie}
	p.subscribe(t, onA)

	onB.send("once", "first reply [delay=5]")
	p.wait(t, 1)
	// A second reply is the barrier: a duplicate of the first would have been sent, within
	// milliseconds of the first final, long before the second run completes.
	onA.send("once", "second reply [delay=5]")
	p.wait(t, 2)
	if n := len(p.fake.Deliveries()); n != 2 {
		t.Fatalf("%d notifications for two replies across two instances, want 2", n)
	}
}

// newConnectProxy is an HTTP CONNECT proxy on loopback that tunnels every request to target.
func newConnectProxy(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					return
				}
				u, err := net.Dial("tcp", target)
				if err != nil {
					_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
					return
				}
				defer u.Close()
				if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
					return
				}
				done := make(chan struct{})
				go func() { _, _ = io.Copy(u, br); u.(*net.TCPConn).CloseWrite(); close(done) }()
				_, _ = io.Copy(c, u)
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}
