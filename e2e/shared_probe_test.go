package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clawchat/clawchat/internal/gateway"
)

// TestSharedGatewayProbe pins what OpenClaw 2026.9.6 does with the session-sharing parts of its
// protocol (participants, sharingRole, visibility, session.typing, sessions.viewerPresence.set),
// as recorded in docs/shared-conversations.md. Shared conversations are built on clawchat's own
// membership because of these observations; if a Gateway upgrade changes them, this test says so.
func TestSharedGatewayProbe(t *testing.T) {
	g := sharedGateway(t)
	c := startClient(t, g.URL, g.Token)
	c.waitState(connectTimeout, gateway.StateConnected)
	other := startClient(t, g.URL, g.Token) // a second operator connection, as another instance
	other.waitState(connectTimeout, gateway.StateConnected)
	key := strings.ToLower("agent:main:clawchat:alice:c-probe-" + newRunID()[4:12])
	ctx := ctxT(t, 2*time.Minute)
	for i, who := range []string{"Alice", "Bob"} {
		runID := newRunID()
		p := gateway.ChatSendParams{SessionKey: key, Message: "hi from " + who + " [words=2]", IdempotencyKey: runID,
			SystemInputProvenance:   &gateway.InputProvenance{Kind: "external_user", SourceChannel: "clawchat"},
			SystemProvenanceReceipt: "[clawchat sender] " + who}
		if _, err := c.ChatSend(ctx, p); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		c.waitTerminal(runTimeout, runID)
	}
	row := func() map[string]any {
		var res struct {
			Sessions []map[string]any `json:"sessions"`
		}
		if err := c.Request(ctx, gateway.MethodSessionsList, map[string]any{"limit": 5, "search": key}, &res); err != nil {
			t.Fatalf("sessions.list: %v", err)
		}
		for _, s := range res.Sessions {
			if s["key"] == key {
				return s
			}
		}
		t.Fatalf("session %s not listed", key)
		return nil
	}
	r := row()
	// Two different clawchat users wrote; the Gateway knows one participant: the operator
	// connection, as an unattributed observation. It cannot carry clawchat's membership.
	parts, _ := json.Marshal(r["participants"])
	if r["participantCount"] != float64(1) || !strings.Contains(string(parts), `"id":"gateway-client"`) ||
		!strings.Contains(string(parts), `"type":"observation"`) {
		t.Errorf("participants %s (count %v), want the one gateway-client observation", parts, r["participantCount"])
	}
	if r["sharingRole"] != "admin" || r["visibility"] != "shared" {
		t.Errorf("sharingRole %v visibility %v, want admin (the caller's scope) and shared (the default)", r["sharingRole"], r["visibility"])
	}
	sid, _ := r["sessionId"].(string)
	// session.typing answers ok but broadcasts nothing, for a real and for a made-up sessionId.
	for _, id := range []string{sid, "no-such-session"} {
		var res struct {
			OK        bool `json:"ok"`
			Broadcast bool `json:"broadcast"`
		}
		if err := c.Request(ctx, "session.typing", map[string]any{"sessionKey": key, "sessionId": id, "typing": true, "preview": "hel"}, &res); err != nil {
			t.Fatalf("session.typing: %v", err)
		}
		if !res.OK || res.Broadcast {
			t.Errorf("session.typing(%s) = %+v, want ok without broadcast", id, res)
		}
	}
	// sessions.viewerPresence.set is in the schema but not served by 2026.9.6.
	err := c.Request(ctx, "sessions.viewerPresence.set", map[string]any{"sessionKeys": []string{key}}, nil)
	if err == nil || !strings.Contains(err.Error(), "unknown method") {
		t.Errorf("sessions.viewerPresence.set: err %v, want unknown method", err)
	}
	// Neither connection got a typing, presence or sharing event: a condition we can await is
	// that a later chat run reaches the other connection, so anything sent before it has too.
	runID := newRunID()
	if _, err := c.ChatSend(ctx, gateway.ChatSendParams{SessionKey: key, Message: "last [words=1]", IdempotencyKey: runID}); err != nil {
		t.Fatal(err)
	}
	other.waitTerminal(runTimeout, runID)
	for _, cl := range []*client{c, other} {
		cl.mu.Lock()
		for _, e := range cl.events {
			if strings.Contains(e.Name, "typing") || strings.Contains(e.Name, "presence") || strings.Contains(e.Name, "sharing") {
				t.Errorf("unexpected event %s %s", e.Name, e.Payload)
			}
		}
		cl.mu.Unlock()
	}
}
