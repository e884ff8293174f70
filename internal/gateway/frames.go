package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// Protocol is the Gateway wire protocol version this client speaks (min = max = 4).
const Protocol = 4

// Frame type discriminators.
const (
	frameReq   = "req"
	frameRes   = "res"
	frameEvent = "event"
)

// requestFrame is an outbound request. Closed object: omit empty optionals.
type requestFrame struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Method string `json:"method"`
	Params any    `json:"params,omitempty"`
}

// inFrame is any inbound frame, decoded leniently.
type inFrame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	OK      bool            `json:"ok,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Error   *errorShape     `json:"error,omitempty"`
	Event   string          `json:"event,omitempty"`
	Seq     *int64          `json:"seq,omitempty"`
}

// errMalformedFrame marks inbound data that is not a valid Gateway frame.
var errMalformedFrame = errors.New("gateway: malformed frame")

// decodeFrame parses one inbound text frame. It never panics; unknown fields are
// ignored. It rejects frames that are not JSON objects or lack the fields their type
// requires.
func decodeFrame(data []byte) (*inFrame, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, errMalformedFrame
	}
	var f inFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformedFrame, shortJSONErr(err))
	}
	switch f.Type {
	case frameRes:
		if f.ID == "" {
			return nil, fmt.Errorf("%w: response without id", errMalformedFrame)
		}
		if !f.OK && f.Error == nil {
			f.Error = &errorShape{Code: "UNKNOWN", Message: "error response without error shape"}
		}
	case frameEvent:
		if f.Event == "" {
			return nil, fmt.Errorf("%w: event without name", errMalformedFrame)
		}
		if f.Seq != nil && *f.Seq < 0 {
			return nil, fmt.Errorf("%w: negative seq", errMalformedFrame)
		}
	case frameReq:
		return nil, fmt.Errorf("%w: unexpected request frame", errMalformedFrame)
	default:
		return nil, fmt.Errorf("%w: unknown frame type", errMalformedFrame)
	}
	return &f, nil
}

// shortJSONErr keeps JSON errors free of payload content (which could be a message body).
func shortJSONErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("wrong type for field %q", te.Field)
	}
	return "invalid JSON"
}

// --- handshake ---

// challengePayload is connect.challenge's payload.
type challengePayload struct {
	Nonce string `json:"nonce"`
	TS    int64  `json:"ts"`
}

// ConnectClient is connect.params.client (closed object).
type ConnectClient struct {
	ID           string `json:"id"`
	DisplayName  string `json:"displayName,omitempty"`
	Version      string `json:"version"`
	Platform     string `json:"platform"`
	DeviceFamily string `json:"deviceFamily,omitempty"`
	Mode         string `json:"mode"`
	InstanceID   string `json:"instanceId,omitempty"`
}

// ConnectAuth is connect.params.auth (closed object). It holds secrets: never log it.
type ConnectAuth struct {
	Token       string `json:"token,omitempty"`
	DeviceToken string `json:"deviceToken,omitempty"`
	Password    string `json:"password,omitempty"`
}

// LogValue implements slog.LogValuer without the secrets.
func (a ConnectAuth) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("token", a.Token != ""), slog.Bool("device_token", a.DeviceToken != ""), slog.Bool("password", a.Password != ""))
}

// ConnectDevice is connect.params.device (closed object).
type ConnectDevice struct {
	ID        string `json:"id"`
	PublicKey string `json:"publicKey"`
	Signature string `json:"signature"`
	SignedAt  int64  `json:"signedAt"`
	Nonce     string `json:"nonce"`
}

// ConnectParams is connect.params (closed object). Exported for the fake gateway and
// conformance tests.
type ConnectParams struct {
	MinProtocol int            `json:"minProtocol"`
	MaxProtocol int            `json:"maxProtocol"`
	Client      ConnectClient  `json:"client"`
	Role        string         `json:"role,omitempty"`
	Scopes      []string       `json:"scopes,omitempty"`
	Caps        []string       `json:"caps,omitempty"`
	Auth        *ConnectAuth   `json:"auth,omitempty"`
	Device      *ConnectDevice `json:"device,omitempty"`
	Locale      string         `json:"locale,omitempty"`
	UserAgent   string         `json:"userAgent,omitempty"`
}

// HelloOK is the subset of the hello-ok payload the client uses (decoded leniently).
type HelloOK struct {
	Type     string `json:"type"`
	Protocol int    `json:"protocol"`
	Server   struct {
		Version string `json:"version"`
		BuildID string `json:"buildId,omitempty"`
		BootID  string `json:"bootId,omitempty"`
		ConnID  string `json:"connId"`
	} `json:"server"`
	Features struct {
		Methods      []string `json:"methods,omitempty"`
		Events       []string `json:"events,omitempty"`
		Capabilities []string `json:"capabilities,omitempty"`
	} `json:"features"`
	Snapshot struct {
		SessionDefaults *SessionDefaults `json:"sessionDefaults,omitempty"`
	} `json:"snapshot"`
	Auth struct {
		Method      string   `json:"method,omitempty"`
		Role        string   `json:"role,omitempty"`
		Scopes      []string `json:"scopes"`
		DeviceToken string   `json:"deviceToken,omitempty"`
		IssuedAtMs  int64    `json:"issuedAtMs,omitempty"`
	} `json:"auth"`
	Policy struct {
		MaxPayload       int64 `json:"maxPayload"`
		MaxBufferedBytes int64 `json:"maxBufferedBytes"`
		TickIntervalMs   int64 `json:"tickIntervalMs"`
		Attachments      *struct {
			MaxBytes      int64 `json:"maxBytes"`
			MaxImageBytes int64 `json:"maxImageBytes"`
		} `json:"attachments,omitempty"`
	} `json:"policy"`
}

// SessionDefaults is hello-ok.snapshot.sessionDefaults.
type SessionDefaults struct {
	DefaultAgentID string `json:"defaultAgentId,omitempty"`
	MainKey        string `json:"mainKey,omitempty"`
	MainSessionKey string `json:"mainSessionKey,omitempty"`
	Scope          string `json:"scope,omitempty"`
}

// shutdownPayload is the shutdown event's payload.
type shutdownPayload struct {
	Reason            string `json:"reason"`
	RestartExpectedMs int64  `json:"restartExpectedMs,omitempty"`
}
