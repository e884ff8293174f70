package gateway

import (
	"encoding/json"
	"slices"
	"time"
)

// State is the client's connection state.
type State string

// Connection states reported in Status.State.
const (
	// StateIdle: Run has not been called yet.
	StateIdle State = "idle"
	// StateConnecting: dialling or handshaking.
	StateConnecting State = "connecting"
	// StateConnected: hello-ok received and every requested scope granted. Ready.
	StateConnected State = "connected"
	// StateNotReady: hello-ok received but the granted scopes lack requested ones (e.g.
	// [] for a remote device-less connection). Requests still go out; most will fail
	// MISSING_SCOPE. Status.Reason says why.
	StateNotReady State = "not_ready"
	// StateDisconnected: the connection dropped or a connect attempt failed for a
	// transient reason; the client is waiting to reconnect.
	StateDisconnected State = "disconnected"
	// StatePairingRequired: the Gateway wants an operator to approve this device.
	// Status.PairingRequestID and Status.ApproveCommand say how. The client keeps retrying.
	StatePairingRequired State = "pairing_required"
	// StateAuthFailed: the Gateway refused the credentials (wrong token/password, rate
	// limited, device proof rejected). The client keeps retrying with backoff.
	StateAuthFailed State = "auth_failed"
	// StateRevoked: the Gateway closed the connection with 4001 (device removed, gateway
	// auth changed, access closed). The client keeps retrying; expect pairing next.
	StateRevoked State = "revoked"
	// StateIncompatible: the Gateway refused the connect because it speaks another protocol
	// version (PROTOCOL_MISMATCH, or the details.expectedProtocol-only form of protocol-3
	// Gateways before OpenClaw 2026.5.12). Status.GatewayProtocol is its version when it said
	// so, and Status.Reason says what to upgrade. The client retries slowly (IncompatibleRetryDelay).
	StateIncompatible State = "incompatible"
	// StateStopped: Run returned.
	StateStopped State = "stopped"
)

// Policy is hello-ok.policy.
type Policy struct {
	MaxPayload       int64
	MaxBufferedBytes int64
	TickInterval     time.Duration
	// AttachmentMaxBytes and AttachmentMaxImageBytes are policy.attachments (0 = unknown).
	AttachmentMaxBytes      int64
	AttachmentMaxImageBytes int64
}

// Status is a snapshot of the client's state. It holds no secrets.
type Status struct {
	State State
	// Reason explains non-ready states in words an operator can act on.
	Reason string
	// Ready is State == StateConnected.
	Ready bool
	// Scopes are the scopes the Gateway granted (hello-ok.auth.scopes).
	Scopes []string
	// AuthMethod is hello-ok.auth.method (token, password, device-token, …).
	AuthMethod string
	Policy     Policy
	// SessionDefaults is hello-ok.snapshot.sessionDefaults (zero when absent).
	SessionDefaults SessionDefaults
	// Features are hello-ok.features.methods/capabilities (hints only).
	Methods      []string
	Capabilities []string
	// PairingRequestID and ApproveCommand are set in StatePairingRequired.
	PairingRequestID string
	ApproveCommand   string
	// DeviceID is this client's device id (hex sha256 of its public key).
	DeviceID      string
	ServerVersion string
	ConnID        string
	BootID        string
	// GatewayProtocol is the protocol version the Gateway said it speaks when it refused ours
	// (StateIncompatible; 0 when unknown or not refused).
	GatewayProtocol int
	// CloseCode is the WebSocket close code of the last dropped connection (0 if none).
	CloseCode int
	// Attempt counts consecutive failed connection attempts (0 after a healthy one).
	Attempt int
	// RetryIn is the delay before the next attempt (in Disconnected/AuthFailed/...).
	RetryIn time.Duration
	// Since is when State last changed.
	Since time.Time
}

func (s Status) clone() Status {
	s.Scopes = slices.Clone(s.Scopes)
	s.Methods = slices.Clone(s.Methods)
	s.Capabilities = slices.Clone(s.Capabilities)
	return s
}

// Handler receives a Client's events and status changes. Both methods are called from a
// single goroutine, in order; they must not block for long (a slow handler stalls the
// socket read and the Gateway may drop events for this connection).
type Handler interface {
	// HandleEvent gets every event frame after hello-ok, in order (except per-run
	// duplicates of agent events, which are dropped).
	HandleEvent(Event)
	// HandleStatus gets every state change. A reconnect (StateConnected after a drop)
	// means events may have been lost: the consumer should resync.
	HandleStatus(Status)
}

// Event is one Gateway event.
type Event struct {
	// Name is the event name: "chat", "agent", "tick", "shutdown", "health",
	// "exec.approval.requested", …
	Name string
	// Seq is the per-connection envelope seq (0 when absent). It restarts after reconnect.
	Seq int64
	// Payload is the raw payload (may be nil). Decode with DecodeChatEvent /
	// DecodeAgentEvent.
	Payload json.RawMessage
	// Gap is non-nil when events were lost before this one; consumers resync.
	Gap *Gap
}

// GapKind says which sequence a Gap was detected in.
type GapKind string

const (
	// GapEnvelope: the per-connection envelope seq jumped (the Gateway dropped events
	// for this socket, e.g. slow consumer).
	GapEnvelope GapKind = "envelope"
	// GapRun: the per-run seq of agent events for RunID jumped forward. It is advisory:
	// the Gateway numbers more per-run events than it sends to any one connection (tool
	// events of runs started elsewhere; and, observed live on 2026.9.6, one skipped agent
	// seq even in this connection's own plain-text run while the envelope seq stayed
	// contiguous). Treat GapRun as "the run's live view may be incomplete: prefer the
	// final snapshot / chat.history", never as proof of loss. GapEnvelope is the reliable
	// loss signal.
	GapRun GapKind = "run"
)

// Gap describes lost events: Expected was the next seq wanted, Received the one seen.
type Gap struct {
	Kind     GapKind
	RunID    string // GapRun only
	Expected int64
	Received int64
}

// HandlerFuncs adapts two functions to Handler; nil functions are skipped.
type HandlerFuncs struct {
	Event  func(Event)
	Status func(Status)
}

// HandleEvent implements Handler.
func (h HandlerFuncs) HandleEvent(e Event) {
	if h.Event != nil {
		h.Event(e)
	}
}

// HandleStatus implements Handler.
func (h HandlerFuncs) HandleStatus(s Status) {
	if h.Status != nil {
		h.Status(s)
	}
}
