package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/fakemodel"
	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// TestGatewayDevicePairingFromRemote runs the Gateway in its own network namespace, so
// clawchat connects from a non-loopback address (see internal/testkit/ochar/netns.go), and walks
// through device pairing: device-less connection gets no scopes; the client's device is
// asked to pair; the operator approves it with the CLI; the client connects, later with its
// device token, and chats; revoking the device is reported.
func TestGatewayDevicePairingFromRemote(t *testing.T) {
	needGateway(t)
	if err := ochar.NetnsAvailable(); err != nil {
		t.Skipf("device pairing needs a non-local peer, made with network namespaces: %v", err)
	}
	t.Parallel() // own gateway: overlaps with the other own-gateway tests
	g := ownGateway(t, ochar.Options{Netns: true})
	want := []string{"operator.read", "operator.write", "operator.admin"} // clawchat's default request (docs/security.md)

	t.Run("no device: no scopes", func(t *testing.T) {
		// The client always sends a device identity, so this case uses raw frames.
		scopes := rawConnectWithoutDevice(t, g.URL, g.Token, want)
		if len(scopes) != 0 {
			t.Errorf("remote device-less connection granted %v, want none", scopes)
		}
	})

	c := startClient(t, g.URL, g.Token)
	st := c.waitState(connectTimeout, gateway.StatePairingRequired)
	if st.PairingRequestID == "" || !strings.Contains(st.ApproveCommand, st.PairingRequestID) ||
		!strings.Contains(st.Reason, st.PairingRequestID) || st.Ready {
		t.Fatalf("pairing status %+v", st)
	}
	if _, err := c.SessionsList(ctxT(t, 5*time.Second), gateway.SessionsListParams{}); err == nil {
		t.Error("a request succeeded before pairing")
	}

	out, err := g.CLI(ctxT(t, 2*time.Minute), "devices", "approve", st.PairingRequestID)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if !strings.Contains(out, "Approved") || !strings.Contains(out, c.DeviceID()) {
		t.Errorf("approve output: %s", out)
	}
	st = c.waitState(connectTimeout, gateway.StateConnected)
	if !slices.Equal(st.Scopes, want) {
		t.Errorf("scopes after approval %v, want %v", st.Scopes, want)
	}
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}

	// A new client with the same state dir reconnects with the stored device token.
	c2 := startClient(t, g.URL, g.Token, func(cfg *gateway.Config) { cfg.StateDir = c.cfg.StateDir })
	st = c2.waitState(connectTimeout, gateway.StateConnected)
	if st.AuthMethod != "device-token" || !slices.Equal(st.Scopes, want) {
		t.Errorf("reconnect: auth %q scopes %v, want device-token with %v", st.AuthMethod, st.Scopes, want)
	}
	key := sessionKey(t)
	msg := "hello over the device token [delay=20] [words=4]"
	runID := newRunID()
	if _, err := c2.ChatSend(ctxT(t, 30*time.Second), gateway.ChatSendParams{SessionKey: key, Message: msg, IdempotencyKey: runID}); err != nil {
		t.Fatalf("chat.send: %v", err)
	}
	evs := c2.waitTerminal(runTimeout, runID)
	final := evs[len(evs)-1]
	if text, _ := final.MessageText(); final.State != gateway.ChatStateFinal || text != fakemodel.Reply(msg) {
		t.Errorf("run ended %q with %q", final.State, text)
	}
	if !slices.ContainsFunc(evs, func(e *gateway.ChatEvent) bool { return e.State == gateway.ChatStateDelta }) {
		t.Error("no streamed delta")
	}

	// Revoking the device closes the live connection (4001) and is reported as revoked;
	// the client then asks to pair again.
	mark := c2.statusMark()
	if _, err := g.CLI(ctxT(t, 2*time.Minute), "devices", "revoke", "--device", c2.DeviceID(), "--role", "operator"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	st = c2.waitStateSince(connectTimeout, mark, "revoked", func(s gateway.Status) bool { return s.State == gateway.StateRevoked })
	if st.CloseCode != 4001 || !strings.Contains(st.Reason, "revoked") {
		t.Errorf("revoked status: close %d, reason %q", st.CloseCode, st.Reason)
	}
	st = c2.waitStateSince(connectTimeout, mark, "pairing required again", func(s gateway.Status) bool {
		return s.State == gateway.StatePairingRequired
	})
	if st.PairingRequestID == "" {
		t.Errorf("no new pairing request after revoke: %+v", st)
	}
	for _, s := range []string{c.logs.String(), c2.logs.String()} {
		if strings.Contains(s, g.Token) {
			t.Error("the gateway token appears in a client log")
		}
	}
}

// rawConnectWithoutDevice does a protocol-4 handshake without a device identity and returns
// the granted scopes.
func rawConnectWithoutDevice(t *testing.T, url, token string, scopes []string) []string {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(64 << 20)
	read := func() map[string]json.RawMessage {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var f map[string]json.RawMessage
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("frame %s: %v", b, err)
		}
		return f
	}
	if ch := read(); string(ch["event"]) != `"connect.challenge"` {
		t.Fatalf("first frame %v, want connect.challenge", ch)
	}
	req, _ := json.Marshal(map[string]any{"type": "req", "id": "raw-1", "method": "connect", "params": map[string]any{
		"minProtocol": 4, "maxProtocol": 4,
		"client": map[string]any{"id": "gateway-client", "displayName": "clawchat e2e raw", "version": "e2e",
			"platform": "linux", "mode": "backend"},
		"role": "operator", "scopes": scopes, "caps": []string{},
		"auth": map[string]any{"token": token},
	}})
	if err := ws.Write(ctx, websocket.MessageText, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	for {
		f := read()
		if string(f["type"]) != `"res"` {
			continue
		}
		var res struct {
			OK      bool            `json:"ok"`
			Error   json.RawMessage `json:"error"`
			Payload struct {
				Auth struct {
					Scopes []string `json:"scopes"`
				} `json:"auth"`
			} `json:"payload"`
		}
		b, _ := json.Marshal(f)
		json.Unmarshal(b, &res)
		if !res.OK {
			t.Fatalf("device-less connect refused: %s", res.Error)
		}
		ws.Close(websocket.StatusNormalClosure, "")
		return res.Payload.Auth.Scopes
	}
}
