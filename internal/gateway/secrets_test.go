package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/gatewaytest"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsNeverLogged runs a full connect / auth failure / pairing / device token /
// revocation / fallback cycle with debug logging and checks that no secret and no
// message body shows up in the logs, in statuses or in returned errors.
func TestSecretsNeverLogged(t *testing.T) {
	const body = "MESSAGE-BODY-do-not-log-4711"
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	jsonLogs := &syncBuffer{}
	jsonLogger := slog.New(slog.NewJSONHandler(jsonLogs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: "the-other-token", Pairing: true})
	srv.Handle("chat.send", func(c *gatewaytest.Call) (any, error) {
		// a gateway that echoes what it got into its error message
		return nil, &gateway.Error{Code: "INVALID_REQUEST", Message: "bad request: token " + testToken,
			Details: json.RawMessage(`{"code":"X","token":"` + testToken + `"}`)}
	})
	srv.Handle("chat.history", func(c *gatewaytest.Call) (any, error) {
		return map[string]any{"sessionKey": 5, "messages": body}, nil // wrong types: decode error
	})
	h := start(t, srv, func(c *gateway.Config) {
		c.Logger = logger
		c.Handler = h2(c.Handler, jsonLogger)
	})
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	h.rec.waitState(t, gateway.StateAuthFailed)
	srv.SetToken(testToken)
	h.rec.waitState(t, gateway.StatePairingRequired)
	rid := srv.PendingPairings()[0].RequestID
	if err := srv.Approve(rid); err != nil {
		t.Fatal(err)
	}
	h.rec.waitState(t, gateway.StateConnected)
	deviceToken := srv.DeviceToken(h.client.DeviceID())
	if deviceToken == "" {
		t.Fatal("no device token issued")
	}
	h.rec.clearStatuses()
	srv.DropAll()
	h.rec.waitState(t, gateway.StateConnected) // with the device token

	_, err := h.client.ChatSend(ctxT(t), gateway.ChatSendParams{SessionKey: "agent:main:x", Message: body, IdempotencyKey: "k1"})
	if err == nil {
		t.Fatal("chat.send succeeded")
	}
	collect(err)
	_, err = h.client.ChatHistory(ctxT(t), gateway.ChatHistoryParams{SessionKey: "agent:main:x"})
	if err == nil {
		t.Fatal("chat.history decoded a malformed result")
	}
	collect(err)
	collect(h.client.Request(ctxT(t), "x", map[string]any{"body": body, "bad": make(chan int)}, nil))

	h.rec.clearStatuses()
	srv.RevokeDevice(h.client.DeviceID())
	h.rec.waitState(t, gateway.StatePairingRequired)
	h.stop()
	collect(h.client.Request(ctxT(t), "chat.send", map[string]string{"message": body}, nil))

	// the secrets
	seedFile, err := os.ReadFile(filepath.Join(h.cfg.StateDir, "device.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dev struct{ Seed string }
	if err := json.Unmarshal(seedFile, &dev); err != nil || dev.Seed == "" {
		t.Fatalf("device.json: %v", err)
	}
	seedRaw, _ := base64.RawURLEncoding.DecodeString(dev.Seed)
	secrets := map[string]string{
		"shared token":       testToken,
		"device token":       deviceToken,
		"device seed":        dev.Seed,
		"device seed (std)":  base64.StdEncoding.EncodeToString(seedRaw),
		"device seed (hex)":  fmt.Sprintf("%x", seedRaw),
		"message body":       body,
		"server-side secret": "the-other-token",
	}

	var haystacks []string
	haystacks = append(haystacks, logs.String(), jsonLogs.String())
	for _, e := range errs {
		haystacks = append(haystacks, e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e))
		var ge *gateway.Error
		if errors.As(e, &ge) {
			haystacks = append(haystacks, string(ge.Details), ge.Message)
		}
	}
	h.rec.mu.Lock()
	for _, s := range h.rec.statuses {
		haystacks = append(haystacks, fmt.Sprintf("%+v", s))
	}
	h.rec.mu.Unlock()
	haystacks = append(haystacks, fmt.Sprintf("%+v", h.client.Status()))

	for name, secret := range secrets {
		for i, hs := range haystacks {
			if strings.Contains(hs, secret) {
				t.Errorf("%s found in output %d: %s", name, i, hs)
			}
		}
	}
	// sanity: the logs did cover the cycle
	for _, want := range []string{"pairing required", "device token stored", "device token rejected", "connect refused", "approve_command"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q; the test did not exercise the cycle", want)
		}
	}
	if n := strings.Count(logs.String(), "request_id="+rid); n != 1 {
		t.Errorf("pairing warning for %s logged %d times, want once", rid, n)
	}
	if !strings.Contains(errs[0].Error(), "[REDACTED]") {
		t.Errorf("echoed token not redacted: %v", errs[0])
	}
}

// h2 wraps a handler and also logs every status through logger (as a consumer might).
func h2(next gateway.Handler, logger *slog.Logger) gateway.Handler {
	return gateway.HandlerFuncs{
		Event: func(e gateway.Event) { next.HandleEvent(e) },
		Status: func(s gateway.Status) {
			logger.Info("status", slog.Any("status", s))
			next.HandleStatus(s)
		},
	}
}

func TestConfigLogValueHidesSecrets(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	cfg := gateway.Config{URL: "ws://127.0.0.1:18789/?q=1", Token: testToken, Password: "pw-1234567"}
	logger.Info("config", slog.Any("cfg", cfg))
	logger.Info("auth", slog.Any("auth", gateway.ConnectAuth{Token: testToken, DeviceToken: "devtok-123456", Password: "pw-1234567"}))
	for _, s := range []string{testToken, "pw-1234567", "devtok-123456"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("secret %q logged: %s", s, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "token_set=true") {
		t.Errorf("log value missing fields: %s", buf.String())
	}
}
