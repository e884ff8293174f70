package bridge

import (
	"errors"
	"fmt"
	"strings"

	"github.com/clawchat/clawchat/internal/chat"
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

// classifyGatewayError maps gateway client errors to chat sentinels with messages safe to show
// (never the Gateway's own text, which can carry server paths).
func classifyGatewayError(err error) error {
	switch {
	case errors.Is(err, gateway.ErrNotConnected):
		return fmt.Errorf("the assistant is not reachable right now: %w", chat.ErrUnavailable)
	case errors.Is(err, gateway.ErrFrameTooLarge):
		return fmt.Errorf("message with attachments is too large for the assistant: %w", chat.ErrTooLarge)
	}
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		return nil
	}
	if strings.Contains(string(ge.Details), "chat-request-conflict") {
		return fmt.Errorf("this message id was already used for a different message: %w", chat.ErrConflict)
	}
	switch ge.Code {
	case gateway.CodeInvalidRequest:
		return fmt.Errorf("the assistant refused the request: %w", chat.ErrInvalid)
	case gateway.CodeForbidden:
		return fmt.Errorf("the assistant refused the request: %w", chat.ErrForbidden)
	}
	return fmt.Errorf("the assistant is not reachable right now: %w", chat.ErrUnavailable)
}
