package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/gatewaytest"
)

func TestHandshake(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	h := start(t, srv, nil)
	st := h.rec.waitState(t, gateway.StateConnected)

	if !st.Ready || st.ServerVersion != "2026.9.6" || st.ConnID == "" || st.BootID != srv.BootID() {
		t.Errorf("status = %+v", st)
	}
	if diff := cmp.Diff([]string{"operator.read", "operator.write", "operator.admin"}, st.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	if st.Policy.MaxPayload != 25<<20 || st.Policy.TickInterval != 30*time.Second || st.Policy.AttachmentMaxImageBytes != 6<<20 {
		t.Errorf("policy = %+v", st.Policy)
	}
	if st.SessionDefaults.DefaultAgentID != "main" || st.SessionDefaults.MainSessionKey != "agent:main:main" {
		t.Errorf("session defaults = %+v", st.SessionDefaults)
	}
	if st.DeviceID != h.client.DeviceID() || len(st.DeviceID) != 64 {
		t.Errorf("device id %q", st.DeviceID)
	}

	recs := srv.Connects()
	if len(recs) != 1 {
		t.Fatalf("connects = %d", len(recs))
	}
	p := recs[0].Params
	if recs[0].Origin != "" {
		t.Errorf("Origin header sent: %q", recs[0].Origin)
	}
	if p.MinProtocol != 4 || p.MaxProtocol != 4 || p.Client.ID != "gateway-client" || p.Client.Mode != "backend" ||
		p.Client.Platform != runtime.GOOS || p.Client.Version != "1.2.3" || p.Client.DisplayName != "clawchat test" || p.Role != "operator" {
		t.Errorf("connect params = %+v", p)
	}
	if diff := cmp.Diff([]string{"tool-events"}, p.Caps); diff != "" {
		t.Errorf("caps: %s", diff)
	}
	if p.Auth == nil || p.Auth.Token != testToken || p.Auth.DeviceToken != "" || p.Auth.Password != "" {
		t.Errorf("auth = %+v", p.Auth)
	}
	if p.Device == nil || p.Device.ID != h.client.DeviceID() {
		t.Fatalf("device = %+v", p.Device)
	}
	if d := time.Since(time.UnixMilli(p.Device.SignedAt)); d < 0 || d > time.Minute {
		t.Errorf("signedAt %d is not now", p.Device.SignedAt)
	}
	if recs[0].Result != "ok" {
		t.Errorf("result %q", recs[0].Result)
	}
}

func TestApprovalsScopesAndCaps(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	h := start(t, srv, func(c *gateway.Config) { c.Approvals = true })
	h.rec.waitState(t, gateway.StateConnected)
	p := srv.Connects()[0].Params
	if diff := cmp.Diff([]string{"operator.read", "operator.write", "operator.admin", "operator.approvals"}, p.Scopes); diff != "" {
		t.Errorf("scopes: %s", diff)
	}
	if diff := cmp.Diff([]string{"tool-events", "exec-approvals"}, p.Caps); diff != "" {
		t.Errorf("caps: %s", diff)
	}
}

func TestPasswordAuth(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Password: "pw-secret-123"})
	h := start(t, srv, func(c *gateway.Config) { c.Token = ""; c.Password = "pw-secret-123" })
	st := h.rec.waitState(t, gateway.StateConnected)
	if st.AuthMethod != "password" {
		t.Errorf("auth method %q", st.AuthMethod)
	}
	if a := srv.Connects()[0].Params.Auth; a.Password != "pw-secret-123" || a.Token != "" {
		t.Errorf("auth = %+v", a)
	}
}

func TestNoScopesIsNotReady(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken, GrantScopes: []string{}})
	h := start(t, srv, nil)
	st := h.rec.waitState(t, gateway.StateNotReady)
	if st.Ready || !strings.Contains(st.Reason, "granted no operator scopes") || !strings.Contains(st.Reason, "not local") {
		t.Errorf("status = %+v", st)
	}
	if h.client.Status().State != gateway.StateNotReady {
		t.Errorf("Status() = %v", h.client.Status().State)
	}
}

func TestPartialScopesIsNotReady(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken, GrantScopes: []string{"operator.read"}})
	h := start(t, srv, nil)
	st := h.rec.waitState(t, gateway.StateNotReady)
	if !strings.Contains(st.Reason, "operator.write") {
		t.Errorf("reason %q", st.Reason)
	}
}

// TestAdminScopeIsOptional: a Gateway that does not grant operator.admin still makes the
// connection ready (owners chat); only members' sends depend on it (bridge/policy).
func TestAdminScopeIsOptional(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken, GrantScopes: []string{"operator.read", "operator.write"}})
	h := start(t, srv, nil)
	st := h.rec.waitState(t, gateway.StateConnected)
	if !st.Ready || slices.Contains(st.Scopes, gateway.ScopeAdmin) {
		t.Errorf("status = %+v", st)
	}
	if p := srv.Connects()[0].Params; !slices.Contains(p.Scopes, gateway.ScopeAdmin) {
		t.Errorf("operator.admin was not requested: %v", p.Scopes)
	}
	// NoAdmin leaves it out of the request.
	srv2 := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	h2 := start(t, srv2, func(c *gateway.Config) { c.NoAdmin = true })
	h2.rec.waitState(t, gateway.StateConnected)
	if p := srv2.Connects()[0].Params; slices.Contains(p.Scopes, gateway.ScopeAdmin) {
		t.Errorf("NoAdmin still requested operator.admin: %v", p.Scopes)
	}
}

func TestRequestBeforeConnect(t *testing.T) {
	c, err := gateway.New(gateway.Config{URL: "ws://127.0.0.1:1", Token: testToken, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Request(context.Background(), "health", nil, nil)
	if !errors.Is(err, gateway.ErrNotConnected) {
		t.Fatalf("err = %v, want ErrNotConnected", err)
	}
	if c.Status().State != gateway.StateIdle {
		t.Errorf("state %v", c.Status().State)
	}
}

func TestRequestOutOfOrder(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	release := make(chan struct{})
	srv.Handle("slow", func(c *gatewaytest.Call) (any, error) {
		<-release
		return map[string]string{"who": "slow"}, nil
	})
	srv.Handle("fast", func(c *gatewaytest.Call) (any, error) {
		return map[string]string{"who": "fast"}, nil
	})
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	ctx := ctxT(t)

	slowDone := make(chan error, 1)
	var slowRes struct{ Who string }
	go func() { slowDone <- h.client.Request(ctx, "slow", map[string]int{"n": 1}, &slowRes) }()
	// wait until the slow request reached the server
	for len(srv.Calls("slow")) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("slow request never arrived")
		case <-time.After(time.Millisecond):
		}
	}
	var fastRes struct{ Who string }
	if err := h.client.Request(ctx, "fast", nil, &fastRes); err != nil || fastRes.Who != "fast" {
		t.Fatalf("fast: %v %+v", err, fastRes)
	}
	select {
	case err := <-slowDone:
		t.Fatalf("slow answered before release: %v", err)
	default:
	}
	close(release)
	if err := <-slowDone; err != nil || slowRes.Who != "slow" {
		t.Fatalf("slow: %v %+v", err, slowRes)
	}
}

func TestRequestIDsUnique(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	srv.Handle("echo", func(c *gatewaytest.Call) (any, error) { return json.RawMessage(c.Params), nil })
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	ctx := ctxT(t)
	errs := make(chan error, 50)
	for i := range 50 {
		go func() {
			var got struct{ N int }
			err := h.client.Request(ctx, "echo", map[string]int{"n": i}, &got)
			if err == nil && got.N != i {
				err = fmt.Errorf("request %d got answer %d", i, got.N)
			}
			errs <- err
		}()
	}
	for range 50 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestRequestTimeout(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	block := make(chan struct{})
	defer close(block)
	srv.Handle("stuck", func(c *gatewaytest.Call) (any, error) { <-block; return nil, nil })
	h := start(t, srv, func(c *gateway.Config) { c.RequestTimeout = 50 * time.Millisecond })
	h.rec.waitState(t, gateway.StateConnected)
	err := h.client.Request(ctxT(t), "stuck", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	// the connection is still usable
	if _, err := h.client.Health(ctxT(t)); err != nil {
		t.Fatalf("health after timeout: %v", err)
	}
}

func TestRequestCtxDeadlineEarlier(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	block := make(chan struct{})
	defer close(block)
	srv.Handle("stuck", func(c *gatewaytest.Call) (any, error) { <-block; return nil, nil })
	h := start(t, srv, nil) // RequestTimeout 5s
	h.rec.waitState(t, gateway.StateConnected)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := h.client.Request(ctx, "stuck", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > 2*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(began))
	}
}

func TestRequestCancel(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	block := make(chan struct{})
	defer close(block)
	srv.Handle("stuck", func(c *gatewaytest.Call) (any, error) { <-block; return nil, nil })
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.client.Request(ctx, "stuck", nil, nil) }()
	for len(srv.Calls("stuck")) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if _, err := h.client.Health(ctxT(t)); err != nil {
		t.Fatalf("connection broken by a cancelled request: %v", err)
	}
}

func TestGatewayErrorResponse(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	srv.Handle("sessions.list", func(c *gatewaytest.Call) (any, error) {
		return nil, &gateway.Error{Code: "FORBIDDEN", Message: "missing scope: operator.read",
			Details: json.RawMessage(`{"code":"MISSING_SCOPE","missingScope":"operator.read"}`)}
	})
	srv.Handle("busy", func(c *gatewaytest.Call) (any, error) {
		return nil, &gateway.Error{Code: "UNAVAILABLE", Message: "busy", Retryable: true, RetryAfter: 250 * time.Millisecond}
	})
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	_, err := h.client.SessionsList(ctxT(t), gateway.SessionsListParams{Limit: 5})
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Code != "FORBIDDEN" || ge.DetailsCode != "MISSING_SCOPE" || ge.Method != "sessions.list" {
		t.Fatalf("err = %#v", err)
	}
	err = h.client.Request(ctxT(t), "busy", nil, nil)
	if !errors.As(err, &ge) || !ge.Retryable || ge.RetryAfter != 250*time.Millisecond {
		t.Fatalf("err = %#v", err)
	}
}

func TestPendingFailOnDropAndReconnect(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	block := make(chan struct{})
	defer close(block)
	srv.Handle("stuck", func(c *gatewaytest.Call) (any, error) { <-block; return nil, nil })
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	firstConn := h.client.Status().ConnID

	done := make(chan error, 1)
	go func() { done <- h.client.Request(ctxT(t), "stuck", nil, nil) }()
	for len(srv.Calls("stuck")) == 0 {
		time.Sleep(time.Millisecond)
	}
	h.rec.clearStatuses()
	srv.DropAll()
	if err := <-done; !errors.Is(err, gateway.ErrNotConnected) {
		t.Fatalf("pending err = %v", err)
	}
	h.rec.waitState(t, gateway.StateDisconnected)
	st := h.rec.waitState(t, gateway.StateConnected)
	if st.ConnID == firstConn {
		t.Errorf("same connId after reconnect")
	}
	if _, err := h.client.Health(ctxT(t)); err != nil {
		t.Fatalf("health after reconnect: %v", err)
	}
}

func TestRequestTooLarge(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken, MaxPayload: 64 << 10})
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	err := h.client.Request(ctxT(t), "chat.send", map[string]string{"message": strings.Repeat("x", 70<<10)}, nil)
	if !errors.Is(err, gateway.ErrFrameTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func TestEventsInOrderWithEnvelopeGap(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	for i := range 5 {
		srv.Broadcast("presence", map[string]int{"i": i})
	}
	srv.BroadcastSkipSeq("presence", map[string]int{"i": 5}, 3)
	srv.Broadcast("presence", map[string]int{"i": 6})
	h.rec.waitFor(t, "7 events", func(r *recorder) bool { return len(r.events) >= 7 })
	evs := h.rec.eventsNamed("presence")
	for i, e := range evs {
		var p struct{ I int }
		_ = json.Unmarshal(e.Payload, &p)
		if p.I != i {
			t.Fatalf("event %d has i=%d (out of order)", i, p.I)
		}
		wantSeq := int64(i + 1)
		if i >= 5 {
			wantSeq += 3
		}
		if e.Seq != wantSeq {
			t.Errorf("event %d seq %d want %d", i, e.Seq, wantSeq)
		}
		if i == 5 {
			if e.Gap == nil || e.Gap.Kind != gateway.GapEnvelope || e.Gap.Expected != 6 || e.Gap.Received != 9 {
				t.Errorf("gap = %+v", e.Gap)
			}
		} else if e.Gap != nil {
			t.Errorf("unexpected gap on event %d: %+v", i, e.Gap)
		}
	}
}

func TestAgentRunSeqDedupeAndGap(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	agent := func(run string, seq int, stream, phase string) map[string]any {
		return map[string]any{"runId": run, "seq": seq, "stream": stream, "ts": 1, "sessionKey": "agent:main:x", "data": map[string]any{"phase": phase}}
	}
	srv.Broadcast("agent", agent("r1", 1, "lifecycle", "start"))
	srv.Broadcast("agent", agent("r1", 2, "assistant", ""))
	srv.Broadcast("agent", agent("r1", 2, "assistant", "")) // duplicate: dropped
	srv.Broadcast("agent", agent("r2", 7, "assistant", "")) // new run mid-way: no gap
	srv.Broadcast("agent", agent("r1", 5, "assistant", "")) // forward gap
	// chat events are never deduped, even with a repeated seq
	srv.Broadcast("chat", map[string]any{"runId": "r1", "sessionKey": "agent:main:x", "seq": 5, "state": "delta", "deltaText": "a"})
	srv.Broadcast("chat", map[string]any{"runId": "r1", "sessionKey": "agent:main:x", "seq": 5, "state": "final"})
	srv.Broadcast("agent", agent("r1", 6, "lifecycle", "end")) // forgets r1
	srv.Broadcast("agent", agent("r1", 1, "lifecycle", "error"))
	srv.Broadcast("tick", map[string]int64{"ts": 1})
	h.rec.waitFor(t, "tick", func(r *recorder) bool { return len(r.eventsNamed_locked("tick")) > 0 })

	var got []string
	for _, e := range h.rec.eventsNamed("agent") {
		ae, err := gateway.DecodeAgentEvent(e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%s/%d", ae.RunID, ae.Seq)
		if e.Gap != nil {
			s += fmt.Sprintf(" gap(%s %d>%d)", e.Gap.Kind, e.Gap.Expected, e.Gap.Received)
		}
		got = append(got, s)
	}
	want := []string{"r1/1", "r1/2", "r2/7", "r1/5 gap(run 3>5)", "r1/6", "r1/1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("agent events (-want +got):\n%s", diff)
	}
	if n := len(h.rec.eventsNamed("chat")); n != 2 {
		t.Errorf("chat events = %d, want 2", n)
	}
}

func TestMalformedFramesIgnored(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	for _, raw := range []string{"hello?", "", "[]", "null", `{"type":"event"}`, `{"type":"res"}`, `{"type":"req","id":"x","method":"m"}`,
		`{"type":"event","event":"x","seq":-1}`, `{"type":"event","event":"x","seq":"nope"}`, `{"type":"res","id":"nobody","ok":true}`, "{\"type\":\"event\",\"event\":\"\xff\"}"} {
		srv.SendRaw([]byte(raw))
	}
	srv.Broadcast("after", map[string]bool{"ok": true})
	h.rec.waitFor(t, "event after garbage", func(r *recorder) bool { return len(r.eventsNamed_locked("after")) == 1 })
	if st := h.client.Status(); st.State != gateway.StateConnected {
		t.Errorf("state %v", st.State)
	}
}

func TestOversizedFrameReconnects(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken, MaxPayload: 64 << 10})
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	h.rec.clearStatuses()
	srv.SendRaw([]byte(`{"type":"event","event":"big","payload":"` + strings.Repeat("x", 200<<10) + `"}`))
	h.rec.waitState(t, gateway.StateDisconnected)
	h.rec.waitState(t, gateway.StateConnected)
	if len(h.rec.eventsNamed("big")) != 0 {
		t.Errorf("oversized event delivered")
	}
}

func TestRestartReconnectsWithNewBoot(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	h := start(t, srv, nil)
	st := h.rec.waitState(t, gateway.StateConnected)
	oldBoot := st.BootID
	h.rec.clearStatuses()
	srv.Broadcast("x", nil)
	srv.Restart(200 * time.Millisecond)
	d := h.rec.waitState(t, gateway.StateDisconnected)
	if d.RetryIn < 200*time.Millisecond || !strings.Contains(d.Reason, "shut down") || d.CloseCode != 1012 {
		t.Errorf("disconnected status = %+v", d)
	}
	st = h.rec.waitState(t, gateway.StateConnected)
	if st.BootID == oldBoot || st.BootID != srv.BootID() {
		t.Errorf("boot id %q (old %q)", st.BootID, oldBoot)
	}
	// the envelope seq restarts without a gap being reported
	srv.Broadcast("after-restart", nil)
	h.rec.waitFor(t, "after-restart", func(r *recorder) bool { return len(r.eventsNamed_locked("after-restart")) == 1 })
	e := h.rec.eventsNamed("after-restart")[0]
	if e.Seq != 1 || e.Gap != nil {
		t.Errorf("event after restart: seq %d gap %+v", e.Seq, e.Gap)
	}
}

func TestAuthFailedKeepsRetrying(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: "the-right-token"})
	h := start(t, srv, nil)
	st := h.rec.waitState(t, gateway.StateAuthFailed)
	if !strings.Contains(st.Reason, "AUTH_TOKEN_MISMATCH") || st.RetryIn <= 0 {
		t.Errorf("status = %+v", st)
	}
	h.rec.waitFor(t, "3 failures", func(r *recorder) bool {
		n := 0
		for _, s := range r.statuses {
			if s.State == gateway.StateAuthFailed {
				n++
			}
		}
		return n >= 3
	})
	srv.SetToken(testToken)
	h.rec.waitState(t, gateway.StateConnected)
}

func TestAuthRateLimitedWaits(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	srv.SetAuthRateLimit(300 * time.Millisecond)
	h := start(t, srv, nil)
	st := h.rec.waitState(t, gateway.StateAuthFailed)
	if st.RetryIn < 300*time.Millisecond || !strings.Contains(st.Reason, "rate-limited") {
		t.Errorf("status = %+v", st)
	}
	srv.SetAuthRateLimit(0)
	h.rec.waitState(t, gateway.StateConnected)
	// No attempt was made inside a retry-after window.
	recs := srv.Connects()
	for i := 1; i < len(recs); i++ {
		if recs[i-1].Result == "AUTH_RATE_LIMITED" && recs[i].At.Sub(recs[i-1].At) < 300*time.Millisecond {
			t.Errorf("attempt %d came %v after a rate-limited one", i, recs[i].At.Sub(recs[i-1].At))
		}
	}
	if len(recs) < 2 || recs[0].Result != "AUTH_RATE_LIMITED" || recs[len(recs)-1].Result != "ok" {
		t.Errorf("connects: %d", len(recs))
	}
}

func TestPairingFlow(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken, Pairing: true})
	h := start(t, srv, nil)
	st := h.rec.waitState(t, gateway.StatePairingRequired)
	pend := srv.PendingPairings()
	if len(pend) != 1 || pend[0].DeviceID != h.client.DeviceID() {
		t.Fatalf("pending = %+v", pend)
	}
	rid := pend[0].RequestID
	if st.PairingRequestID != rid || st.ApproveCommand != "openclaw devices approve "+rid || !strings.Contains(st.Reason, rid) {
		t.Errorf("status = %+v", st)
	}
	if err := srv.Approve(rid); err != nil {
		t.Fatal(err)
	}
	st = h.rec.waitState(t, gateway.StateConnected)
	if st.PairingRequestID != "" || st.ApproveCommand != "" {
		t.Errorf("pairing fields not cleared: %+v", st)
	}
	// device token persisted, 0600, with scopes
	path := filepath.Join(h.cfg.StateDir, "device-token.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("device-token.json mode %v", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	var saved struct {
		DeviceToken string
		Scopes      []string
	}
	_ = json.Unmarshal(b, &saved)
	if saved.DeviceToken != srv.DeviceToken(h.client.DeviceID()) || len(saved.Scopes) != 3 {
		t.Errorf("saved = %+v", saved)
	}
	// next connection uses the device token only
	h.rec.clearStatuses()
	srv.DropAll()
	st = h.rec.waitState(t, gateway.StateConnected)
	if st.AuthMethod != "device-token" {
		t.Errorf("auth method after reconnect = %q", st.AuthMethod)
	}
	recs := srv.Connects()
	last := recs[len(recs)-1].Params
	if last.Auth.DeviceToken != saved.DeviceToken || last.Auth.Token != "" || last.Device == nil {
		t.Errorf("reconnect auth = %+v", last.Auth)
	}
	// pairing warnings were logged once per request id: covered in TestSecretsNeverLogged
}

func TestDeviceTokenRevokedFallsBackToSharedSecret(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken, Pairing: true})
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StatePairingRequired)
	if err := srv.Approve(srv.PendingPairings()[0].RequestID); err != nil {
		t.Fatal(err)
	}
	h.rec.waitState(t, gateway.StateConnected)
	srv.DropAll() // reconnect once with the device token
	h.rec.clearStatuses()
	h.rec.waitState(t, gateway.StateConnected)
	h.rec.clearStatuses()

	srv.RevokeDevice(h.client.DeviceID())
	rv := h.rec.waitState(t, gateway.StateRevoked)
	if rv.CloseCode != 4001 || !strings.Contains(rv.Reason, "device removed") {
		t.Errorf("revoked status = %+v", rv)
	}
	af := h.rec.waitState(t, gateway.StateAuthFailed)
	if !strings.Contains(af.Reason, "AUTH_DEVICE_TOKEN_MISMATCH") {
		t.Errorf("auth failed reason %q", af.Reason)
	}
	pr := h.rec.waitState(t, gateway.StatePairingRequired)
	if pr.PairingRequestID == "" {
		t.Errorf("no new pairing request id")
	}
	if _, err := os.Stat(filepath.Join(h.cfg.StateDir, "device-token.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("device token file still present: %v", err)
	}
	recs := srv.Connects()
	last := recs[len(recs)-1].Params
	if last.Auth.Token != testToken || last.Auth.DeviceToken != "" {
		t.Errorf("fallback auth = %+v", last.Auth)
	}
}

func TestDeviceIdentityPersisted(t *testing.T) {
	dir := t.TempDir()
	cfg := gateway.Config{URL: "ws://127.0.0.1:18789", Token: testToken, StateDir: dir}
	a, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.DeviceID() != b.DeviceID() || len(a.DeviceID()) != 64 {
		t.Errorf("device ids %q %q", a.DeviceID(), b.DeviceID())
	}
	fi, err := os.Stat(filepath.Join(dir, "device.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("device.json mode %v", fi.Mode().Perm())
	}
	c, err := gateway.New(gateway.Config{URL: "ws://127.0.0.1:18789", Token: testToken, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if c.DeviceID() == a.DeviceID() {
		t.Errorf("two state dirs share a device id")
	}
	// a corrupt identity file is an error, not a silent new identity
	if err := os.WriteFile(filepath.Join(dir, "device.json"), []byte(`{"seed":"short"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := gateway.New(cfg); err == nil {
		t.Errorf("New accepted a corrupt device.json")
	}
}

func TestConfigValidation(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		cfg  gateway.Config
		ok   bool
	}{
		{"loopback ws", gateway.Config{URL: "ws://127.0.0.1:18789", Token: "t"}, true},
		{"localhost ws", gateway.Config{URL: "ws://localhost:18789/", Token: "t"}, true},
		{"ipv6 loopback", gateway.Config{URL: "ws://[::1]:18789", Token: "t"}, true},
		{"rfc1918", gateway.Config{URL: "ws://192.168.1.20:18789", Token: "t"}, true},
		{"10/8", gateway.Config{URL: "ws://10.0.0.2:18789", Token: "t"}, true},
		{"ula", gateway.Config{URL: "ws://[fd00::1]:18789", Token: "t"}, true},
		{"link-local", gateway.Config{URL: "ws://169.254.1.1:18789", Token: "t"}, true},
		{"public ws refused", gateway.Config{URL: "ws://203.0.113.7:18789", Token: "t"}, false},
		{"hostname ws refused", gateway.Config{URL: "ws://gateway.example.com", Token: "t"}, false},
		{"public ws allowed insecure", gateway.Config{URL: "ws://203.0.113.7:18789", Token: "t", AllowInsecure: true}, true},
		{"wss public", gateway.Config{URL: "wss://gateway.example.com", Token: "t"}, true},
		{"http scheme", gateway.Config{URL: "http://127.0.0.1:18789", Token: "t"}, false},
		{"no secret", gateway.Config{URL: "ws://127.0.0.1:18789"}, false},
		{"both secrets", gateway.Config{URL: "ws://127.0.0.1:18789", Token: "t", Password: "p"}, false},
		{"password only", gateway.Config{URL: "ws://127.0.0.1:18789", Password: "p"}, true},
		{"userinfo", gateway.Config{URL: "ws://u:p@127.0.0.1:18789", Token: "t"}, false},
		{"bad scope", gateway.Config{URL: "ws://127.0.0.1:18789", Token: "t", Scopes: []string{"a|b"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.StateDir = dir
			_, err := gateway.New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Errorf("New() err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := gateway.New(gateway.Config{URL: "ws://127.0.0.1:1", Token: "t"}); err == nil {
		t.Errorf("missing StateDir accepted")
	}
}

func TestRunTwice(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	if err := h.client.Run(context.Background()); err == nil {
		t.Errorf("second Run returned nil")
	}
	h.stop()
	if st := h.client.Status(); st.State != gateway.StateStopped {
		t.Errorf("state after stop = %v", st.State)
	}
	if err := h.client.Request(ctxT(t), "health", nil, nil); !errors.Is(err, gateway.ErrNotConnected) {
		t.Errorf("request after stop: %v", err)
	}
}

func TestStatusOrderAndSnapshotsIndependent(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	h := start(t, srv, nil)
	h.rec.waitState(t, gateway.StateConnected)
	h.rec.mu.Lock()
	var states []gateway.State
	for _, s := range h.rec.statuses {
		states = append(states, s.State)
	}
	h.rec.mu.Unlock()
	if !slices.Equal(states, []gateway.State{gateway.StateConnecting, gateway.StateConnected}) {
		t.Errorf("states = %v", states)
	}
	s1 := h.client.Status()
	s1.Scopes[0] = "mutated"
	if h.client.Status().Scopes[0] == "mutated" {
		t.Errorf("Status() shares its slices")
	}
}

func TestStartupUnavailableWaitsRetryAfter(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	var n int
	var mu sync.Mutex
	srv.SetConnectHook(func(p *gateway.ConnectParams) *gateway.Error {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 1 {
			return &gateway.Error{Code: "UNAVAILABLE", Message: "gateway starting; retry shortly", Retryable: true,
				RetryAfter: 400 * time.Millisecond, Details: json.RawMessage(`{"reason":"startup-sidecars"}`)}
		}
		return nil
	})
	h := start(t, srv, nil)
	st := h.rec.waitState(t, gateway.StateDisconnected)
	if st.RetryIn < 400*time.Millisecond || !strings.Contains(st.Reason, "gateway starting") || st.CloseCode != 0 {
		t.Errorf("status %+v", st)
	}
	h.rec.waitState(t, gateway.StateConnected)
}

func TestScopeUpgradeUsesSharedSecret(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken, Pairing: true})
	dir := t.TempDir()
	h := start(t, srv, func(c *gateway.Config) { c.StateDir = dir })
	h.rec.waitState(t, gateway.StatePairingRequired)
	if err := srv.Approve(srv.PendingPairings()[0].RequestID); err != nil {
		t.Fatal(err)
	}
	h.rec.waitState(t, gateway.StateConnected)
	h.stop()

	// Same device, now also asking for approvals: the stored device token does not
	// cover it, so the client uses the shared token and the gateway asks for a
	// scope upgrade instead of failing AUTH_SCOPE_MISMATCH.
	h2 := start(t, srv, func(c *gateway.Config) { c.StateDir = dir; c.Approvals = true })
	st := h2.rec.waitState(t, gateway.StatePairingRequired)
	recs := srv.Connects()
	last := recs[len(recs)-1]
	if last.Params.Auth.Token != testToken || last.Params.Auth.DeviceToken != "" || last.Result != "PAIRING_REQUIRED" {
		t.Errorf("last connect %+v result %s", last.Params.Auth, last.Result)
	}
	if err := srv.Approve(st.PairingRequestID); err != nil {
		t.Fatal(err)
	}
	st = h2.rec.waitState(t, gateway.StateConnected)
	if len(st.Scopes) != 4 {
		t.Errorf("scopes %v", st.Scopes)
	}
}

func TestConnectionOutlivesHandshakeTimeout(t *testing.T) {
	srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken})
	h := start(t, srv, func(c *gateway.Config) { c.HandshakeTimeout = 100 * time.Millisecond })
	h.rec.waitState(t, gateway.StateConnected)
	time.Sleep(400 * time.Millisecond) // the handshake context is long expired
	if _, err := h.client.Health(ctxT(t)); err != nil {
		t.Fatalf("health: %v", err)
	}
	if n := h.rec.countState(gateway.StateDisconnected); n != 0 {
		t.Errorf("%d disconnects", n)
	}
}

// TestProtocolMismatchIsIncompatible: both refusal forms (the protocol-3 form of OpenClaw
// before 2026.5.12, with details.expectedProtocol and no details.code, and the newer
// PROTOCOL_MISMATCH form) end in StateIncompatible with an actionable reason, the Gateway's
// message in the log, and a slow retry.
func TestProtocolMismatchIsIncompatible(t *testing.T) {
	for _, tc := range []struct {
		proto      int
		wantResult string
		wantReason string
	}{
		{3, "INVALID_REQUEST", "the Gateway speaks protocol 3; upgrade OpenClaw to 2026.5.12 or later"},
		{5, "PROTOCOL_MISMATCH", "the Gateway speaks protocol 5; upgrade clawchat (it speaks protocol 4)"},
	} {
		t.Run(strconv.Itoa(tc.proto), func(t *testing.T) {
			srv := gatewaytest.NewServer(t, gatewaytest.Options{Token: testToken, Protocol: tc.proto})
			var logs syncBuffer
			h := start(t, srv, func(c *gateway.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			st := h.rec.waitState(t, gateway.StateIncompatible)
			if st.Reason != tc.wantReason || st.GatewayProtocol != tc.proto || st.Ready {
				t.Errorf("status = %+v", st)
			}
			if st.RetryIn != gateway.IncompatibleRetryDelay {
				t.Errorf("retry in %v, want %v", st.RetryIn, gateway.IncompatibleRetryDelay)
			}
			recs := srv.Connects()
			if len(recs) != 1 || recs[0].Result != tc.wantResult {
				t.Errorf("connects = %+v", recs)
			}
			if l := logs.String(); !strings.Contains(l, `gateway_message="protocol mismatch"`) || !strings.Contains(l, "gateway_protocol="+strconv.Itoa(tc.proto)) {
				t.Errorf("log does not carry the Gateway's message and version:\n%s", l)
			}
		})
	}
}
