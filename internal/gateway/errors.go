package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotConnected is returned (possibly wrapped) by Request when no connection is
// established, and by pending requests whose connection dropped. Test with errors.Is.
var ErrNotConnected = errors.New("gateway: not connected")

// ErrNoAnswer is returned (wrapped, together with ErrNotConnected or
// context.DeadlineExceeded) by Request when the request was written to the Gateway but no
// answer arrived: the connection dropped or the request timed out. The Gateway may or may
// not have acted on it; a caller that must know (chat.send) checks the Gateway's state or
// retries with the same idempotency key.
var ErrNoAnswer = errors.New("gateway: request written, no answer")

// ErrFrameTooLarge is returned by Request when the encoded request exceeds the
// Gateway's policy.maxPayload.
var ErrFrameTooLarge = errors.New("gateway: request frame exceeds gateway maxPayload")

// Gateway error codes (ErrorShape.code).
const (
	CodeInvalidRequest   = "INVALID_REQUEST"
	CodeForbidden        = "FORBIDDEN"
	CodeUnavailable      = "UNAVAILABLE"
	CodeNotPaired        = "NOT_PAIRED"
	CodeApprovalNotFound = "APPROVAL_NOT_FOUND"
)

// Gateway details codes (ErrorShape.details.code) the client acts on.
const (
	DetailsPairingRequired         = "PAIRING_REQUIRED"
	DetailsAuthTokenMismatch       = "AUTH_TOKEN_MISMATCH"
	DetailsAuthPasswordMismatch    = "AUTH_PASSWORD_MISMATCH"
	DetailsAuthDeviceTokenMismatch = "AUTH_DEVICE_TOKEN_MISMATCH"
	DetailsAuthScopeMismatch       = "AUTH_SCOPE_MISMATCH"
	DetailsAuthRateLimited         = "AUTH_RATE_LIMITED"
	DetailsMissingScope            = "MISSING_SCOPE"
	DetailsProtocolMismatch        = "PROTOCOL_MISMATCH"
	DetailsDeviceIdentityRequired  = "DEVICE_IDENTITY_REQUIRED"
)

// Error is an error answered by the Gateway (ErrorShape). Branch on Code and DetailsCode,
// never on Message. Error() never contains credentials: the client redacts its own
// secrets from Message and Details before returning an Error.
type Error struct {
	// Method is the request method that failed ("connect" for handshake failures).
	Method string
	// Code is ErrorShape.code, e.g. INVALID_REQUEST, FORBIDDEN, UNAVAILABLE, NOT_PAIRED.
	Code string
	// Message is the Gateway's human-readable message.
	Message string
	// DetailsCode is details.code when present, e.g. MISSING_SCOPE, PAIRING_REQUIRED.
	DetailsCode string
	// Retryable is ErrorShape.retryable.
	Retryable bool
	// RetryAfter is ErrorShape.retryAfterMs.
	RetryAfter time.Duration
	// Details is the raw details object (nil when absent).
	Details json.RawMessage
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("gateway: ")
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteString(": ")
	}
	b.WriteString(e.Code)
	if e.DetailsCode != "" {
		b.WriteString(" (")
		b.WriteString(e.DetailsCode)
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// detailString returns details[key] when it is a string.
func (e *Error) detailString(key string) string {
	if len(e.Details) == 0 {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(e.Details, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[key], &s) != nil {
		return ""
	}
	return s
}

// detailInt returns details[key] when it is an integer (0 otherwise).
func (e *Error) detailInt(key string) int {
	if len(e.Details) == 0 {
		return 0
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(e.Details, &m) != nil {
		return 0
	}
	var n int
	if json.Unmarshal(m[key], &n) != nil {
		return 0
	}
	return n
}

// IncompatibleRetryDelay is how long the client waits between connect attempts while the
// Gateway refuses its protocol version: an upgrade is needed first, so hammering it is useless.
const IncompatibleRetryDelay = 2 * time.Minute

// isProtocolMismatch recognises both forms of a protocol refusal: details.code
// PROTOCOL_MISMATCH (OpenClaw 2026.5.12 and later), and the older protocol-3 form, which has
// details.expectedProtocol but no details.code (observed on 2026.4.29; then close 1002).
func isProtocolMismatch(e *Error) bool {
	if e.DetailsCode == DetailsProtocolMismatch {
		return true
	}
	return e.DetailsCode == "" && e.detailInt("expectedProtocol") > 0
}

// ProtocolMismatchReason says what to upgrade when the Gateway speaks protocol gw (0 = it did
// not say) instead of clawchat's Protocol. The text holds only numbers and fixed words, so it
// is safe on /readyz.
func ProtocolMismatchReason(gw int) string {
	switch {
	case gw > 0 && gw < Protocol:
		return fmt.Sprintf("the Gateway speaks protocol %d; upgrade OpenClaw to 2026.5.12 or later", gw)
	case gw > Protocol:
		return fmt.Sprintf("the Gateway speaks protocol %d; upgrade clawchat (it speaks protocol %d)", gw, Protocol)
	default:
		return fmt.Sprintf("the Gateway refused protocol %d; use OpenClaw 2026.5.12 or later, or upgrade clawchat", Protocol)
	}
}

// PairingRequestID returns details.requestId of a PAIRING_REQUIRED error ("" otherwise).
func (e *Error) PairingRequestID() string {
	if e.DetailsCode != DetailsPairingRequired {
		return ""
	}
	return e.detailString("requestId")
}

// errorShape is the wire ErrorShape.
type errorShape struct {
	Code         string          `json:"code"`
	Message      string          `json:"message"`
	Details      json.RawMessage `json:"details,omitempty"`
	Retryable    bool            `json:"retryable,omitempty"`
	RetryAfterMs int64           `json:"retryAfterMs,omitempty"`
}

// toError converts a wire error into *Error, redacting the given secrets.
func (s *errorShape) toError(method string, redact func(string) string) *Error {
	e := &Error{
		Method:    method,
		Code:      s.Code,
		Message:   redact(s.Message),
		Retryable: s.Retryable,
	}
	if s.RetryAfterMs > 0 {
		e.RetryAfter = time.Duration(s.RetryAfterMs) * time.Millisecond
	}
	if len(s.Details) > 0 && string(s.Details) != "null" {
		e.Details = json.RawMessage(redact(string(s.Details)))
		var d struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(e.Details, &d) == nil {
			e.DetailsCode = d.Code
		}
	}
	if e.Code == "" {
		e.Code = "UNKNOWN"
	}
	return e
}

// ErrorShape builds the wire form of e (for the fake gateway and tests).
func (e *Error) ErrorShape() json.RawMessage {
	s := errorShape{Code: e.Code, Message: e.Message, Retryable: e.Retryable, RetryAfterMs: e.RetryAfter.Milliseconds()}
	switch {
	case len(e.Details) > 0:
		s.Details = e.Details
	case e.DetailsCode != "":
		s.Details, _ = json.Marshal(map[string]string{"code": e.DetailsCode})
	}
	b, _ := json.Marshal(s)
	return b
}

// closeError reports the WebSocket close code and reason that ended a connection.
type closeError struct {
	code   int
	reason string
}

func (e *closeError) Error() string {
	return fmt.Sprintf("gateway: connection closed (%d %s)", e.code, e.reason)
}

// inputDropped is how OpenClaw (2026.9.6) phrases its refusal of a pending input it will not
// process: sent again under its idempotency key after a crash cut it, or dropped from behind
// another turn. It never reached the model; the Gateway asks for a new turn.
const inputDropped = "Pending input ownership ended"

// InputDropped reports whether a Gateway error message (a chat event's errorMessage or a
// refusal of chat.send) says the Gateway dropped the message without processing it.
func InputDropped(message string) bool { return strings.Contains(message, inputDropped) }
