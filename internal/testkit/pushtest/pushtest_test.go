package pushtest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/clawchat/clawchat/internal/testkit/pushtest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recTB records the fake's complaints instead of failing the test.
type recTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func send(t *testing.T, fake *pushtest.Server, sub *pushtest.Subscription, pub, priv, subscriber string) int {
	t.Helper()
	resp, err := webpush.SendNotificationWithContext(t.Context(), []byte(`{"hello":"world"}`), &webpush.Subscription{
		Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth},
	}, &webpush.Options{HTTPClient: fake.Client(), Subscriber: subscriber, TTL: 60, VAPIDPublicKey: pub, VAPIDPrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestFakeDecryptsAndVerifies(t *testing.T) {
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	fake := pushtest.NewServer(t, pub)
	sub := fake.NewSubscription()
	if code := send(t, fake, sub, pub, priv, "ops@example.org"); code != http.StatusCreated {
		t.Fatalf("status %d", code)
	}
	d := fake.Deliveries()
	if len(d) != 1 || string(d[0].Plaintext) != `{"hello":"world"}` || d[0].Subject != "mailto:ops@example.org" {
		t.Fatalf("deliveries %+v", d)
	}
	fake.SetStatus(sub.Endpoint, http.StatusGone)
	if code := send(t, fake, sub, pub, priv, "ops@example.org"); code != http.StatusGone {
		t.Errorf("forced status: %d", code)
	}
}

func TestFakeRefusesWrongVAPIDKeyAndWrongRecipient(t *testing.T) {
	priv, pub, _ := webpush.GenerateVAPIDKeys()
	_, otherPub, _ := webpush.GenerateVAPIDKeys()
	rec := &recTB{TB: t}
	fake := pushtest.NewServer(rec, otherPub)
	sub := fake.NewSubscription()
	if code := send(t, fake, sub, pub, priv, "ops@example.org"); code != http.StatusUnauthorized {
		t.Errorf("JWT from an unexpected key: status %d, want 401", code)
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "VAPID") {
		t.Errorf("fake complaints: %q", rec.errs)
	}

	// A message encrypted for another subscription's keys does not decrypt.
	rec2 := &recTB{TB: t}
	fake2 := pushtest.NewServer(rec2, "")
	a, b := fake2.NewSubscription(), fake2.NewSubscription()
	mixed := &pushtest.Subscription{Endpoint: a.Endpoint, P256dh: b.P256dh, Auth: b.Auth}
	if code := send(t, fake2, mixed, pub, priv, "ops@example.org"); code != http.StatusBadRequest {
		t.Errorf("wrongly encrypted message: status %d, want 400", code)
	}
	if len(rec2.errs) != 1 || !strings.Contains(rec2.errs[0], "decrypt") {
		t.Errorf("fake complaints: %q", rec2.errs)
	}
	if len(fake2.Deliveries()) != 0 {
		t.Error("refused message was recorded as delivered")
	}
}
