package bridge

import (
	"github.com/clawchat/clawchat/internal/gateway"
)

// gatewayAPI is the typed Gateway protocol (gateway.API) the bridge calls.
type gatewayAPI = gateway.API

// HandleEvent implements gateway.Handler: it translates chat and agent events for their owners and
// resyncs in-flight runs from history when events were lost (ev.Gap).
func (s *Service) HandleEvent(ev gateway.Event) {
	// Only a gap in the per-connection envelope seq means events were lost. Per-run agent seq
	// gaps are advisory: the real Gateway skips agent seqs in healthy runs (a seq is shared with
	// chat events it does not send as agent events), so reacting to them would fetch history
	// for nearly every run. Lost finals are still caught by the stale-run check in Run.
	if ev.Gap != nil && ev.Gap.Kind != gateway.GapRun {
		s.EventGap()
	}
	s.HandleGatewayEvent(ev.Name, ev.Payload)
}

// HandleStatus implements gateway.Handler: it maps the client's state to what users see
// (connected, reconnecting, down, pairing_required; never a reason or an address) and reconciles
// runs after a reconnect.
func (s *Service) HandleStatus(st gateway.Status) {
	s.SetGatewayState(clientState(st.State, s.hadConnection()))
}

func (s *Service) hadConnection() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastConn
}

func clientState(st gateway.State, hadConnection bool) string {
	switch st {
	case gateway.StateConnected:
		return StateConnected
	case gateway.StatePairingRequired:
		return StatePairingRequired
	case gateway.StateConnecting, gateway.StateDisconnected, gateway.StateNotReady, gateway.StateAuthFailed, gateway.StateRevoked:
		if hadConnection {
			return StateReconnecting
		}
		return StateDown
	default:
		return StateDown
	}
}

// LimitsFromStatus adapts a gateway client's Status to Config.GatewayLimits.
func LimitsFromStatus(status func() gateway.Status) func() Limits {
	return func() Limits {
		p := status().Policy
		return Limits{MaxAttachmentBytes: p.AttachmentMaxBytes, MaxImageBytes: p.AttachmentMaxImageBytes, MaxPayload: p.MaxPayload}
	}
}
