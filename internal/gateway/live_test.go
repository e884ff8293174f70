package gateway_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/gateway"
)

// TestLiveGateway is an opt-in smoke test against a real OpenClaw Gateway on loopback
// (e.g. started with docs/openclaw-live/start-gateway.sh). It runs only when
// GATEWAY_LIVE_URL and GATEWAY_LIVE_TOKEN are set; the e2e suite covers the real
// gateway in CI.
func TestLiveGateway(t *testing.T) {
	url, token := os.Getenv("GATEWAY_LIVE_URL"), os.Getenv("GATEWAY_LIVE_TOKEN")
	if url == "" || token == "" {
		t.Skip("GATEWAY_LIVE_URL / GATEWAY_LIVE_TOKEN not set")
	}
	rec := newRecorder()
	rec.timeout = 2 * time.Minute
	c, err := gateway.New(gateway.Config{URL: url, Token: token, StateDir: t.TempDir(), Approvals: true,
		ClientVersion: "0.0.0-test", DisplayName: "clawchat gateway live test", Handler: rec, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancelAll := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancelAll()
	runCtx, cancel := contextWithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	st := rec.waitState(t, gateway.StateConnected)
	t.Logf("connected: version=%s auth=%s scopes=%v policy=%+v defaults=%+v", st.ServerVersion, st.AuthMethod, st.Scopes, st.Policy, st.SessionDefaults)
	if _, err := c.Health(ctx); err != nil {
		t.Fatalf("health: %v", err)
	}
	if _, err := c.AgentsList(ctx); err != nil {
		t.Fatalf("agents.list: %v", err)
	}
	if _, err := c.SessionsList(ctx, gateway.SessionsListParams{Limit: 5, IncludeDerivedTitles: true, IncludeLastMessage: true, Search: "x"}); err != nil {
		t.Fatalf("sessions.list: %v", err)
	}
	if _, err := c.ExecApprovalList(ctx); err != nil {
		t.Fatalf("exec.approval.list: %v", err)
	}
	key := fmt.Sprintf("agent:main:clawchat-gwtest:%d", time.Now().UnixNano())
	runID := fmt.Sprintf("gwtest-%d", time.Now().UnixNano())
	ack, err := c.ChatSend(ctx, gateway.ChatSendParams{SessionKey: key, Message: "hello from the gateway test", IdempotencyKey: runID,
		Attachments: []gateway.ChatAttachment{{Type: "file", MimeType: "text/plain", FileName: "a.txt", Content: "aGVsbG8="}}})
	if err != nil {
		t.Fatalf("chat.send: %v", err)
	}
	if ack.RunID != runID || ack.Status != "started" {
		t.Errorf("ack = %+v", ack)
	}
	var final *gateway.ChatEvent
	rec.waitFor(t, "final chat event", func(r *recorder) bool {
		for _, e := range r.eventsNamed_locked("chat") {
			ce, err := gateway.DecodeChatEvent(e.Payload)
			if err == nil && ce.RunID == runID && ce.Terminal() {
				final = ce
				return true
			}
		}
		return false
	})
	txt, _ := final.MessageText()
	t.Logf("final: state=%s text=%q", final.State, txt)
	if !strings.Contains(txt, "hello from the gateway test") {
		t.Errorf("final text %q", txt)
	}
	rec.mu.Lock()
	for _, e := range rec.events {
		if e.Gap != nil {
			t.Logf("gap: %+v", e.Gap)
		}
		if os.Getenv("GATEWAY_LIVE_DUMP") != "" && (e.Name == "agent" || e.Name == "chat") {
			t.Logf("%d %s %.300s", e.Seq, e.Name, e.Payload)
		}
	}
	rec.mu.Unlock()
	hist, err := c.ChatHistory(ctx, gateway.ChatHistoryParams{SessionKey: key, Limit: 10, MaxChars: 1000})
	if err != nil {
		t.Fatalf("chat.history: %v", err)
	}
	if len(hist.Messages) < 2 {
		t.Errorf("history has %d messages", len(hist.Messages))
	}
	if _, err := c.ChatAbort(ctx, gateway.ChatAbortParams{SessionKey: key}); err != nil {
		t.Fatalf("chat.abort: %v", err)
	}
	label, archived := "gw test "+runID, true
	if _, err := c.SessionsPatch(ctx, gateway.SessionsPatchParams{Key: key, Label: &label}); err != nil {
		t.Fatalf("sessions.patch label: %v", err)
	}
	if _, err := c.SessionsPatch(ctx, gateway.SessionsPatchParams{Key: key, Archived: &archived, ExpectedSessionID: hist.SessionID}); err != nil {
		t.Fatalf("sessions.patch archived: %v", err)
	}
	del, err := c.SessionsDelete(ctx, gateway.SessionsDeleteParams{Key: key, ArchivedOnly: true})
	if err != nil {
		t.Fatalf("sessions.delete: %v", err)
	}
	if !del.Deleted {
		t.Errorf("delete = %+v", del)
	}
}
