// Package pushtest is a fake Web Push service for tests. It runs an httptest TLS server on
// loopback, makes browser-like subscriptions whose endpoints point at it, and for every delivery
// verifies the VAPID JWT (ES256, aud = endpoint origin, exp, sub) and decrypts the aes128gcm body
// (RFC 8188/8291) with the subscriber's private key, exactly as a browser and push service would.
//
// Endpoints use the host name Host ("push.example.com", covered by the httptest certificate) on
// the default https port, so they pass the same validation as real ones once a test allows
// Host. Client() returns an *http.Client that routes every connection to the fake's loopback
// listener; it never dials anything else.
package pushtest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Host is the host name of every endpoint the fake hands out.
const Host = "push.example.com"

// Subscription is a browser-side subscription: what PushSubscription.toJSON() would give, plus
// the private key the fake uses to decrypt.
type Subscription struct {
	Endpoint string
	P256dh   string // base64url uncompressed public key
	Auth     string // base64url 16-byte secret
	priv     *ecdh.PrivateKey
	auth     []byte
}

// JSON returns the subscription as PushSubscription.toJSON() does.
func (s *Subscription) JSON() []byte {
	b, _ := json.Marshal(map[string]any{
		"endpoint":       s.Endpoint,
		"expirationTime": nil,
		"keys":           map[string]string{"p256dh": s.P256dh, "auth": s.Auth},
	})
	return b
}

// Delivery is one accepted (or deliberately refused) push request.
type Delivery struct {
	Endpoint  string
	Status    int    // what the fake answered
	Plaintext []byte // the decrypted message, padding removed
	TTL       string
	Urgency   string
	Topic     string
	Subject   string // the VAPID JWT "sub"
	Audience  string // the VAPID JWT "aud"
	Expiry    time.Time
}

// Server is the fake push service. Its methods are safe for concurrent use.
type Server struct {
	t      testing.TB
	ts     *httptest.Server
	vapid  string // expected VAPID public key (base64url), "" to accept any
	mu     sync.Mutex
	subs   map[string]*Subscription // by path
	status map[string]int           // by endpoint: forced answer
	got    []Delivery
	notify chan struct{}
}

// NewServer starts a fake push service that expects JWTs signed by vapidPublicKey (base64url;
// "" accepts any key). It is closed by t.Cleanup. Malformed deliveries are answered 400 and fail t.
func NewServer(t testing.TB, vapidPublicKey string) *Server {
	t.Helper()
	s := &Server{
		t:      t,
		vapid:  strings.TrimRight(vapidPublicKey, "="),
		subs:   map[string]*Subscription{},
		status: map[string]int{},
		notify: make(chan struct{}, 1),
	}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0) // clients closing idle TLS conns is not news
	s.ts.StartTLS()
	t.Cleanup(s.ts.Close)
	return s
}

// Client returns an HTTP client that trusts the fake's certificate and connects every request
// to the fake's loopback listener, whatever the URL's host.
func (s *Server) Client() *http.Client {
	tr := s.ts.Client().Transport.(*http.Transport).Clone()
	addr := s.ts.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	tr.Proxy = nil
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// NewSubscription makes a fresh browser-like subscription (new P-256 key pair and auth secret)
// whose endpoint points at the fake.
func (s *Server) NewSubscription() *Subscription {
	s.t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		s.t.Fatalf("pushtest: key: %v", err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	id := make([]byte, 24)
	_, _ = rand.Read(id)
	path := "/wpush/v2/" + base64.RawURLEncoding.EncodeToString(id)
	sub := &Subscription{
		Endpoint: "https://" + Host + path,
		P256dh:   base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:     base64.RawURLEncoding.EncodeToString(auth),
		priv:     priv,
		auth:     auth,
	}
	s.mu.Lock()
	s.subs[path] = sub
	s.mu.Unlock()
	return sub
}

// SetStatus makes the fake answer every later delivery to endpoint with status (for example
// 404, 410, 429 or 500) after verifying and recording it. 0 restores the normal 201.
func (s *Server) SetStatus(endpoint string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		delete(s.status, endpoint)
	} else {
		s.status[endpoint] = status
	}
}

// Deliveries returns a copy of everything received so far, in arrival order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.got...)
}

// WaitDeliveries waits until at least n deliveries have arrived or ctx is done, and returns them.
func (s *Server) WaitDeliveries(ctx context.Context, n int) ([]Delivery, error) {
	for {
		if d := s.Deliveries(); len(d) >= n {
			return d, nil
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return s.Deliveries(), fmt.Errorf("pushtest: %d deliveries, want %d: %w", len(s.Deliveries()), n, ctx.Err())
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, format string, args ...any) {
		s.t.Errorf("pushtest: "+format, args...)
		http.Error(w, fmt.Sprintf(format, args...), status)
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "method %s", r.Method)
		return
	}
	s.mu.Lock()
	sub := s.subs[r.URL.Path]
	s.mu.Unlock()
	if sub == nil {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		fail(http.StatusBadRequest, "Content-Encoding %q, want aes128gcm", ce)
		return
	}
	if r.Header.Get("TTL") == "" {
		fail(http.StatusBadRequest, "missing TTL header")
		return
	}
	claims, err := s.verifyVAPID(r.Header.Get("Authorization"), "https://"+r.Host)
	if err != nil {
		fail(http.StatusUnauthorized, "VAPID: %v", err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8192))
	if err != nil {
		fail(http.StatusBadRequest, "read body: %v", err)
		return
	}
	if len(body) > 4096 {
		fail(http.StatusRequestEntityTooLarge, "body %d bytes > 4096", len(body))
		return
	}
	plain, err := Decrypt(body, sub.priv, sub.auth)
	if err != nil {
		fail(http.StatusBadRequest, "decrypt: %v", err)
		return
	}
	d := Delivery{
		Endpoint:  sub.Endpoint,
		Status:    http.StatusCreated,
		Plaintext: plain,
		TTL:       r.Header.Get("TTL"),
		Urgency:   r.Header.Get("Urgency"),
		Topic:     r.Header.Get("Topic"),
		Subject:   claims.Subject,
		Audience:  strings.Join(claims.Audience, ","),
	}
	if claims.ExpiresAt != nil {
		d.Expiry = claims.ExpiresAt.Time
	}
	s.mu.Lock()
	if st, ok := s.status[sub.Endpoint]; ok {
		d.Status = st
	}
	s.got = append(s.got, d)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(d.Status)
}

// verifyVAPID checks "vapid t=<jwt>, k=<key>" (RFC 8292): ES256 signed by k, aud equal to the
// endpoint's origin, exp present and at most 24 h ahead, sub a mailto: or https: contact.
func (s *Server) verifyVAPID(header, origin string) (*jwt.RegisteredClaims, error) {
	rest, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return nil, errors.New("authorization scheme is not vapid")
	}
	var tok, key string
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			tok = v
		case "k":
			key = v
		}
	}
	if tok == "" || key == "" {
		return nil, errors.New("missing t or k")
	}
	key = strings.TrimRight(key, "=")
	if s.vapid != "" && key != s.vapid {
		return nil, errors.New("k is not the expected VAPID public key")
	}
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil {
		return nil, fmt.Errorf("k: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("k: %w", err)
	}
	var claims jwt.RegisteredClaims
	_, err = jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(origin), jwt.WithExpirationRequired())
	if err != nil {
		return nil, err
	}
	if claims.ExpiresAt.After(time.Now().Add(24*time.Hour + time.Minute)) {
		return nil, errors.New("exp more than 24h ahead")
	}
	if !strings.HasPrefix(claims.Subject, "mailto:") && !strings.HasPrefix(claims.Subject, "https:") {
		return nil, fmt.Errorf("sub %q: want a mailto: or https: URL", claims.Subject)
	}
	if strings.HasPrefix(claims.Subject, "mailto:mailto:") {
		return nil, fmt.Errorf("sub %q: mailto: appears twice", claims.Subject)
	}
	return &claims, nil
}

// Decrypt opens an aes128gcm message (RFC 8188 header: salt(16) | rs(4) | idlen(1) | keyid) for
// the user agent with private key priv and auth secret auth (RFC 8291), checks the padding
// delimiters of every record and returns the plaintext.
func Decrypt(body []byte, priv *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short header")
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idlen := int(body[20])
	if rs < 18 || len(body) < 21+idlen {
		return nil, errors.New("bad header")
	}
	asPublic := body[21 : 21+idlen]
	ct := body[21+idlen:]
	asKey, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, fmt.Errorf("keyid is not a P-256 point: %w", err)
	}
	secret, err := priv.ECDH(asKey)
	if err != nil {
		return nil, err
	}
	keyInfo := "WebPush: info\x00" + string(priv.PublicKey().Bytes()) + string(asPublic)
	ikm, err := hkdf.Key(sha256.New, secret, auth, keyInfo, 32)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	baseNonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(ct) == 0 {
		return nil, errors.New("no records")
	}
	var out []byte
	for seq := uint64(0); len(ct) > 0; seq++ {
		n := min(int(rs), len(ct))
		rec := ct[:n]
		ct = ct[n:]
		nonce := append([]byte(nil), baseNonce...)
		for i := range 8 {
			nonce[11-i] ^= byte(seq >> (8 * i))
		}
		p, err := gcm.Open(nil, nonce, rec, nil)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", seq, err)
		}
		// Strip zero padding, then the delimiter: 2 for the last record, 1 otherwise.
		i := len(p) - 1
		for i >= 0 && p[i] == 0 {
			i--
		}
		if i < 0 {
			return nil, fmt.Errorf("record %d: no delimiter", seq)
		}
		last := len(ct) == 0
		if (last && p[i] != 2) || (!last && p[i] != 1) {
			return nil, fmt.Errorf("record %d: bad delimiter %d", seq, p[i])
		}
		out = append(out, p[:i]...)
	}
	return out, nil
}

// Addr returns the fake's loopback listener address (host:port).
func (s *Server) Addr() string { return s.ts.Listener.Addr().String() }

// CertPEM returns the fake's TLS certificate in PEM form, for a process that must trust it
// (for example through SSL_CERT_FILE). The certificate covers Host.
func (s *Server) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
}
