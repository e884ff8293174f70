package app

import (
	"context"
	"strings"
	"testing"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/metrics"
)

// TestPairingAudit: entering pairing_required is recorded once per request id (with the id, not
// a secret), and the first device-token connection after it is recorded as paired; ordinary
// reconnects are not recorded.
func TestPairingAudit(t *testing.T) {
	var got []chat.AuditEntry
	h := &gatewayHandler{metrics: metrics.New(), pairing: pairingAudit{audit: func(_ context.Context, e chat.AuditEntry) { got = append(got, e) }}}
	secretToken := "device-token-secret-value"
	for _, st := range []gateway.Status{
		{State: gateway.StateConnecting},
		{State: gateway.StatePairingRequired, PairingRequestID: "req-1", DeviceID: "dev-abc", Reason: "pairing required"},
		{State: gateway.StateConnecting},
		{State: gateway.StatePairingRequired, PairingRequestID: "req-1", DeviceID: "dev-abc"}, // retried: not again
		{State: gateway.StateConnected, AuthMethod: "device-token", DeviceID: "dev-abc", Scopes: []string{"operator.read"}, ConnID: secretToken},
		{State: gateway.StateDisconnected},
		{State: gateway.StateConnected, AuthMethod: "device-token", DeviceID: "dev-abc"}, // a reconnect: nothing
	} {
		h.HandleStatus(st)
	}
	var lines []string
	for _, e := range got {
		lines = append(lines, e.Action+" "+e.Target)
		if e.At.IsZero() || strings.Contains(e.Detail, secretToken) {
			t.Fatalf("bad entry %+v", e)
		}
	}
	want := "gateway.pairing_required req-1|gateway.paired dev-abc"
	if strings.Join(lines, "|") != want {
		t.Fatalf("audit = %v, want %s", lines, want)
	}
	if !strings.Contains(got[1].Detail, `"request":"req-1"`) || !strings.Contains(got[1].Detail, `"authMethod":"device-token"`) {
		t.Fatalf("paired detail %s", got[1].Detail)
	}
}
